"""Batch throughput on Dask: N workers vs 1 worker (and the serial path), scheduler overhead.

Generates ``--stacks`` stacks of ``--frames`` x ``--size`` 8-bit PNGs in a temporary folder
(``--distinct`` different scenes, copied to fill the rest), fuses them with ``BatchRunner`` on an
embedded ``LocalCluster`` of 1 and of ``--workers`` processes, and prints a Markdown table:
throughput (stacks/s), the ratio to 1 worker, and the scheduler overhead per stack, i.e.
``(wall - sum(task seconds) / workers) / stacks``: what the engine adds on top of the tasks
themselves (submission, scheduling, result transfer, waiting on the last task). Cluster start-up
is reported separately.

    python benchmarks/bench_batch.py                       # 40 stacks of 5 x 1 MP, 2 vs 1
    python benchmarks/bench_batch.py --stacks 8 --size 256 # quick
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from mffgui.batch import BatchJob, BatchRunner
from mffgui.io.sample import write_sample_stack


def make_stacks(root: Path, n: int, frames: int, size: int, distinct: int) -> list[Path]:
    """``n`` stack folders; the first ``distinct`` rendered, the others copies of them."""
    dirs = []
    for i in range(n):
        d = root / f"s{i + 1:03d}"
        if i < distinct:
            write_sample_stack(d, n_frames=frames, size=(size, size), seed=i)
        else:
            shutil.copytree(dirs[i % distinct], d)
        dirs.append(d)
    return dirs


def run(
    dirs: list[Path], out: Path, job: BatchJob, workers: int | None, dask: bool
) -> dict[str, float]:
    """One batch; wall time of the run (cluster already up), start-up, task seconds."""
    t0 = time.perf_counter()
    with BatchRunner(job, out, use_dask=dask, workers=workers, dashboard=False) as runner:
        runner.start()
        t1 = time.perf_counter()
        results = runner.run(dirs)
        t2 = time.perf_counter()
    bad = [r for r in results if r.status != "done"]
    if bad:
        raise SystemExit(f"{len(bad)} stack(s) failed: {bad[0].error}")
    n = workers if dask else 1
    busy = sum(r.seconds for r in results)
    wall = t2 - t1
    return {
        "startup": t1 - t0,
        "wall": wall,
        "rate": len(dirs) / wall,
        "task": busy / len(dirs),
        "overhead_ms": 1000 * max(0.0, wall - busy / n) / len(dirs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=40)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--size", type=int, default=1000, help="frame side in pixels (1000 = 1 MP)")
    ap.add_argument("--distinct", type=int, default=4, help="different scenes rendered")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--method", default="depthmap")
    ap.add_argument("--serial", action="store_true", help="also time the serial path")
    args = ap.parse_args()
    job = BatchJob(method=args.method)
    with tempfile.TemporaryDirectory(prefix="mffgui-bench-batch-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        dirs = make_stacks(root / "in", args.stacks, args.frames, args.size, args.distinct)
        print(
            f"generated {len(dirs)} stacks of {args.frames} x {args.size}x{args.size} in "
            f"{time.perf_counter() - t:.1f} s; method {args.method}; "
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        )
        rows = []
        if args.serial:
            rows.append(("serial (--no-dask)", run(dirs, root / "o0", job, None, False)))
        rows.append(("1 worker", run(dirs, root / "o1", job, 1, True)))
        rows.append((f"{args.workers} workers", run(dirs, root / "o2", job, args.workers, True)))
        base = next(r for name, r in rows if name == "1 worker")["rate"]
        print(
            "\n| engine | start-up s | wall s | stacks/s | vs 1 worker | s/task | "
            "overhead ms/stack |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, r in rows:
            print(
                f"| {name} | {r['startup']:.1f} | {r['wall']:.1f} | {r['rate']:.2f} | "
                f"{r['rate'] / base:.2f}x | {r['task']:.2f} | {r['overhead_ms']:.0f} |"
            )
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
