"""Wall time and peak memory of the classical fusion methods on the shared test stacks.

Every (method, case) runs in its own subprocess so its peak resident memory (``ru_maxrss``) is
its own; the table also shows the baseline (interpreter + numpy + OpenCV + mffgui imported) so
the memory the fusion itself needs can be read off.

Cases (from ``../shared/data``, override with ``--data``):

* ``lytro``  -- the 20 Lytro pairs (520x520 RGB JPEG), fused one after the other;
* ``chip65`` -- the 65-frame 1600x1200 ``gacn-v4-chip-microscope`` JPEG stack;
* ``chip20`` -- its first 20 frames (memory must not grow with the number of frames);
* ``read``   -- only decoding the 65 chip frames once (what a file-based pass costs).

Usage::

    python benchmarks/bench_classical.py                      # everything
    python benchmarks/bench_classical.py --cases chip65 --methods depthmap
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared")) / "data"
CASES = ("lytro", "chip20", "chip65", "read")
METHODS = ("halofree", "depthmap", "laplacian", "gff")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _load_stack(paths: list[Path]):
    """A lazy stack of ``paths`` via mffgui.io.read_stack (or OpenCV if io is unavailable)."""
    try:
        from mffgui.io import read_stack
    except ImportError:
        read_stack = None
    if read_stack is not None:
        from mffgui.errors import MffError

        stack = read_stack(paths, sort=False, cache_bytes=0)
        try:
            stack.frame(len(stack) - 1)
            return stack, "mffgui.io.read_stack (no cache)"
        except MffError as err:  # report it and still measure the methods
            print(f"read_stack failed ({err}); falling back to cv2.imread", file=sys.stderr)
    import cv2

    from mffgui.types import ImageMeta, Stack, as_float_image

    def load(p: Path):
        return as_float_image(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB))

    first = load(paths[0])
    metas = [
        ImageMeta(path=p, width=first.shape[1], height=first.shape[0], channels=3, format="JPEG")
        for p in paths
    ]
    return Stack([(lambda p=p: load(p)) for p in paths], metas), "cv2.imread (fallback)"


def _case_stacks(case: str, data: Path) -> list[list[Path]]:
    if case == "lytro":
        return [
            sorted((data / "lytro" / f"lytro_{k:02d}").glob("*_[AB].jpg")) for k in range(1, 21)
        ]
    chip = sorted((data / "stacks" / "gacn-v4-chip-microscope").glob("V*.jpg"))
    return [chip[:20]] if case == "chip20" else [chip]


def worker(method_name: str, case: str, data: Path) -> dict:
    """Run one case in this process and return its measurements."""
    import numpy as np

    import mffgui.methods as methods

    baseline = _rss_mib()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru0.ru_utime + ru0.ru_stime
    stacks = _case_stacks(case, data)
    t0 = time.perf_counter()
    read_s = fuse_s = 0.0
    reader = ""
    frames = 0
    size = ""
    for paths in stacks:
        stack, reader = _load_stack(paths)
        frames += len(stack)
        size = f"{stack.shape[1]}x{stack.shape[0]}"
        if method_name == "read":
            t = time.perf_counter()
            for i in range(len(stack)):
                np.asarray(stack.frame(i)).sum(dtype=np.float64)
            read_s += time.perf_counter() - t
            continue
        method = methods.get_method(method_name)
        t = time.perf_counter()
        res = method.fuse(stack, method.info.params())
        fuse_s += time.perf_counter() - t
        read_s += res.meta["timings"]["read"]
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "method": method_name,
        "case": case,
        "stacks": len(stacks),
        "frames": frames,
        "size": size,
        "wall_s": wall,
        "fuse_s": fuse_s,
        "read_s": read_s,
        "cpu_s": ru.ru_utime + ru.ru_stime - cpu0,
        "peak_mib": _rss_mib(),
        "baseline_mib": baseline,
        "reader": reader,
    }


def _run_case(method: str, case: str, data: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, case, "--data", str(data)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{method}/{case} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.data)))
        return 0
    if not (args.data / "stacks" / "gacn-v4-chip-microscope").is_dir():
        print(f"shared data not found under {args.data}", file=sys.stderr)
        return 1

    print(
        f"Machine: {os.cpu_count()} CPUs ({_cpu()}), {platform.machine()}, "
        f"Python {platform.python_version()}; load average before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    print(
        "| case | method | stacks x frames | size | wall s | fuse s | of which read s "
        "| CPU s | peak RSS MiB | baseline MiB |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for case in args.cases.split(","):
        todo = ["read"] if case == "read" else args.methods.split(",")
        for method in todo:
            r = _run_case(method, case, args.data)
            print(
                f"| {case} | {method} | {r['stacks']} x {r['frames'] // r['stacks']} "
                f"| {r['size']} | {r['wall_s']:.2f} | {r['fuse_s']:.2f} | {r['read_s']:.2f} "
                f"| {r['cpu_s']:.2f} "
                f"| {r['peak_mib']:.0f} | {r['baseline_mib']:.0f} |",
                flush=True,
            )
    print(
        f"\nReader: {r['reader']}. Load average after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
