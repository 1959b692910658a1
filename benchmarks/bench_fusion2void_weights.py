"""Quality of Fusion2Void weights on the 20 Lytro pairs, against the Laplacian-pyramid method.

For every pair ``lytro_NN`` the ``fusion2void`` method (given weights, whole image) and the
project's ``laplacian`` method (default parameters) fuse A and B. The table shows

* ``Qabf``: Q^{AB/F} of the 8-bit fused image (``mffgui.metrics`` port of the corrected
  ``metricXydeas.m``, MATLAB ``rgb2gray``), for both methods;
* ``shift``: colour shift in 1/255 units: the largest over the three channels of
  ``|mean(fused - source)|`` over the pixels where that source is clearly the sharper one
  (sum-modified-Laplacian, radius 4, at least 2x the other source's and above the source's
  median), pooled over both sources. A method that copies focused pixels has ~0 here;
* ``s``: wall time of the Fusion2Void fusion.

Usage::

    python benchmarks/bench_fusion2void_weights.py                  # bundled weights
    python benchmarks/bench_fusion2void_weights.py --weights run.best.pt --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))


def focused_regions(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(H, W)`` masks where A (resp. B) is clearly the sharper source."""
    from mffgui.core.focus import focus_measure
    from mffgui.types import to_gray

    fa = focus_measure(to_gray(a), "sml", radius=4)
    fb = focus_measure(to_gray(b), "sml", radius=4)
    ra = (fa > 2 * fb) & (fa > np.median(fa))
    rb = (fb > 2 * fa) & (fb > np.median(fb))
    return ra, rb


def colour_shift(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Largest per-channel ``|mean(fused - source)|`` over the focused regions, in 1/255."""
    ra, rb = focused_regions(a, b)
    diff = np.concatenate([(fused - a)[ra], (fused - b)[rb]], axis=0)
    if diff.size == 0:
        return float("nan")
    return float(np.abs(diff.mean(axis=0)).max() * 255.0)


def main(argv: list[str] | None = None) -> int:
    """Print the per-pair table and the means."""
    import torch

    from mffgui.methods import get_method
    from mffgui.methods.fusion2void import Fusion2VoidParams, resolve_weights
    from mffgui.models.weights import load_checkpoint
    from mffgui.training.datasets import read_rgb_float
    from mffgui.training.gacn import qabf_metric
    from mffgui.types import Stack

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", help="checkpoint (default: bundled)")
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "lytro")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--no-laplacian", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    ap.add_argument("--json", type=Path, help="also write the means here (for weights.json)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = resolve_weights(args.weights)
    ck = load_checkpoint(weights, "fusion2void")
    f2v = get_method("fusion2void")
    lap = None if args.no_laplacian else get_method("laplacian")
    lap_params = None if lap is None else lap.info.params()
    params = Fusion2VoidParams(weights=str(weights), device=args.device, tile=0)
    rows = []
    t_all = time.perf_counter()
    for k in range(1, args.pairs + 1):
        name = f"lytro_{k:02d}"
        a = read_rgb_float(args.data / name / f"{name}_A.jpg")
        b = read_rgb_float(args.data / name / f"{name}_B.jpg")
        stack = Stack.from_arrays([a, b])
        t0 = time.perf_counter()
        res = f2v.fuse(stack, params)
        dt = time.perf_counter() - t0
        q = qabf_metric(a, b, res.fused)
        sh = colour_shift(res.fused, a, b)
        if lap is not None:
            lf = lap.fuse(stack, lap_params).fused
            ql, shl = qabf_metric(a, b, lf), colour_shift(lf, a, b)
        else:
            ql = shl = float("nan")
        rows.append((name, q, ql, sh, shl, dt))
        print(
            f"{name}: Qabf {q:.4f} (laplacian {ql:.4f}), shift {sh:.3f}/255, {dt:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - t_all
    meta = ck.meta
    print(
        f"weights: {weights} (sha256 {ck.sha256[:16]}…, model_args {ck.model_args}, "
        f"epochs {meta.get('epochs')}, steps {meta.get('global_step')})"
    )
    print()
    print(
        "| pair | Qabf Fusion2Void | Qabf Laplacian | shift F2V (1/255) | "
        "shift Laplacian (1/255) | F2V s |"
    )
    print("|---|---|---|---|---|---|")
    for name, q, ql, sh, shl, dt in rows:
        print(f"| {name} | {q:.4f} | {ql:.4f} | {sh:.3f} | {shl:.3f} | {dt:.1f} |")
    arr = np.array([r[1:] for r in rows], dtype=np.float64)
    m = arr.mean(axis=0)
    print(
        f"| **mean** | **{m[0]:.4f}** | **{m[1]:.4f}** | **{m[2]:.3f}** | **{m[3]:.3f}** | "
        f"**{m[4]:.1f}** |"
    )
    print()
    print(
        f"Fusion2Void better than Laplacian on {int((arr[:, 0] > arr[:, 1]).sum())} of "
        f"{len(rows)} pairs; max shift {arr[:, 2].max():.3f}/255; wall time {wall:.1f} s on "
        f"{torch.get_num_threads()} thread(s)"
    )
    if args.json:
        import json

        summary = {
            "lytro_20_pairs": {
                "pairs": len(rows),
                "qabf_mean": round(float(m[0]), 4),
                "qabf_laplacian_mean": round(float(m[1]), 4),
                "colour_shift_mean_255": round(float(m[2]), 3),
                "colour_shift_max_255": round(float(arr[:, 2].max()), 3),
                "pairs_better_than_laplacian": int((arr[:, 0] > arr[:, 1]).sum()),
                "command": "python benchmarks/bench_fusion2void_weights.py "
                + " ".join(sys.argv[1:] if argv is None else argv),
            }
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
