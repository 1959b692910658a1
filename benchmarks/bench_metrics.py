"""Time of every objective fusion metric on one 520x520 Lytro pair (the goal: all well under 2 s).

Scores ``lytro_01`` of ``../shared/data`` with the CNN result of ``results/CNN`` (override with
``--data``); without the shared data a synthetic 520x520 pair is used. Each metric runs
``--repeat`` times on fresh inputs; the table shows the median wall time and the median process
CPU time (the CPU time is the better figure on a loaded machine). ``score()`` of all metrics is
timed twice: the first call computes the sources' phase congruency, later calls of the same
scene reuse it (what ``mffgui bench`` does for the second and later methods of a scene).

Usage::

    python benchmarks/bench_metrics.py [--repeat 5] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared")) / "data"


def _inputs(data: Path) -> tuple[list[np.ndarray], np.ndarray, str]:
    from PIL import Image

    scene = data / "lytro" / "lytro_01"
    results = sorted((data / "results" / "CNN").glob("lytro_01.*"))
    if scene.is_dir() and results:
        srcs = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(scene.glob("*_[AB].*"))]
        return srcs, np.asarray(Image.open(results[0]).convert("RGB")), "lytro_01 + CNN result"
    rng = np.random.default_rng(0)
    import cv2

    base = cv2.GaussianBlur(rng.random((520, 520, 3)).astype(np.float32), (0, 0), 1.5)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    blur = cv2.GaussianBlur(base, (0, 0), 3)
    a, b = base.copy(), base.copy()
    a[:, 260:] = blur[:, 260:]
    b[:, :260] = blur[:, :260]
    return [a, b], base, "synthetic 520x520 pair"


def _time(fn, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()

    from mffgui import metrics as M
    from mffgui.metrics import phase

    srcs, fused, what = _inputs(args.data)
    gs = [M.gray255(s) for s in srcs]
    gf = M.gray255(fused)
    M.qp(gs, gf)  # warm caches (filter bank) so the first row is not penalised
    print(
        f"# bench_metrics: {what}, {fused.shape[1]}x{fused.shape[0]}, "
        f"{platform.machine()} {os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f}, "
        f"median of {args.repeat}"
    )
    print(f"{'metric':<10}{'wall ms':>10}{'cpu ms':>10}")
    for name, info in M.METRICS.items():
        if info.kind == "fusion":

            def call(f=info.func):
                phase._PC_CACHE.clear()
                f(gs, gf)
        elif info.kind == "image":

            def call(f=info.func):
                f(gf)
        else:
            continue
        wall, cpu = _time(call, args.repeat)
        print(f"{name:<10}{wall * 1e3:>10.1f}{cpu * 1e3:>10.1f}")

    def cold():
        phase._PC_CACHE.clear()
        M.score(fused, srcs)

    wall, cpu = _time(cold, args.repeat)
    print(f"{'score()':<10}{wall * 1e3:>10.1f}{cpu * 1e3:>10.1f}   all 12 metrics, cold")
    wall, cpu = _time(lambda: M.score(fused, srcs), args.repeat)
    print(
        f"{'score()':<10}{wall * 1e3:>10.1f}{cpu * 1e3:>10.1f}   same scene again (cached "
        "source phase congruency)"
    )


if __name__ == "__main__":
    main()
