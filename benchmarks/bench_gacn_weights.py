"""Quality of GACN weights on the 20 Lytro pairs against the official GACN weights.

For every pair ``lytro_NN`` the candidate weights fuse A and B exactly as the official code
does (gray input = Rec. 709 luma in [0, 1]; fused = bgf·A + (1 − bgf)·B on RGB, clipped and
rounded to 8 bits). The table shows

* ``Qabf``: Q^{AB/F} of the candidate's fused image (``mffgui.metrics`` port of the corrected
  ``metricXydeas.m``, MATLAB ``rgb2gray`` of the 8-bit images);
* ``Qabf off.``: the same metric on the official weights' fused image
  (``../shared/weights/gacn-official/reference/lytro_NN_fused.png``; with ``--run-official``
  the official ``GACN.pkl`` is run instead);
* ``agree raw`` / ``agree bgf``: percentage of pixels where the candidate's raw / boundary
  guided decision map and the official one are on the same side of 0.5.

Usage::

    python benchmarks/bench_gacn_weights.py                      # bundled weights
    python benchmarks/bench_gacn_weights.py --weights run.best.pt --threads 2
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


def _read16(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return img.astype(np.float32) / 65535.0


def _model(path: Path):
    from mffgui.models.gacn import load_gacn
    from mffgui.models.weights import load_checkpoint

    return load_gacn(load_checkpoint(path, "gacn"))


def main(argv: list[str] | None = None) -> int:
    """Print the per-pair table and the means."""
    import torch

    from mffgui.models.weights import bundled_weights, sha256_file
    from mffgui.training.datasets import read_rgb_float
    from mffgui.training.gacn import fuse_pair_arrays, qabf_metric

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, help="candidate weights (default: bundled)")
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "lytro")
    ap.add_argument("--official", type=Path, default=SHARED / "weights" / "gacn-official")
    ap.add_argument(
        "--run-official",
        action="store_true",
        help="run GACN.pkl instead of reading the reference outputs",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=20)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = args.weights or bundled_weights("gacn")
    if weights is None or not Path(weights).is_file():
        raise SystemExit("no candidate weights (give --weights FILE)")
    model = _model(Path(weights))
    ref_dir = args.official / "reference"
    official = _model(args.official / "GACN.pkl") if args.run_official else None
    dev = torch.device("cpu")
    rows = []
    t0 = time.perf_counter()
    for k in range(1, args.pairs + 1):
        name = f"lytro_{k:02d}"
        a = read_rgb_float(args.data / name / f"{name}_A.jpg")
        b = read_rgb_float(args.data / name / f"{name}_B.jpg")
        with torch.inference_mode():
            fused, raw, bgf = fuse_pair_arrays(model, a, b, dev)
            if official is not None:
                off_fused, off_raw, off_bgf = fuse_pair_arrays(official, a, b, dev)
            else:
                off_fused = read_rgb_float(ref_dir / f"{name}_fused.png")
                off_raw = _read16(ref_dir / f"{name}_decision.png")
                off_bgf = _read16(ref_dir / f"{name}_decision_bgf.png")
        rows.append(
            (
                name,
                qabf_metric(a, b, fused),
                qabf_metric(a, b, off_fused),
                100.0 * float(np.mean((raw > 0.5) == (off_raw > 0.5))),
                100.0 * float(np.mean((bgf > 0.5) == (off_bgf > 0.5))),
            )
        )
        print(
            f"{name}: Qabf {rows[-1][1]:.4f} vs {rows[-1][2]:.4f}, agree raw {rows[-1][3]:.2f} %",
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - t0
    print(f"candidate: {weights} (sha256 {sha256_file(weights)[:16]}…)")
    print(
        "official: "
        + ("GACN.pkl, run here" if official is not None else f"reference outputs in {ref_dir}")
    )
    print()
    print("| pair | Qabf | Qabf official | Δ % | agree raw % | agree bgf % |")
    print("|---|---|---|---|---|---|")
    for name, q, qo, ar, ab in rows:
        print(f"| {name} | {q:.4f} | {qo:.4f} | {100 * (q - qo) / qo:+.2f} | {ar:.2f} | {ab:.2f} |")
    q = np.array([r[1] for r in rows])
    qo = np.array([r[2] for r in rows])
    ar = np.array([r[3] for r in rows])
    ab = np.array([r[4] for r in rows])
    print(
        f"| **mean** | **{q.mean():.4f}** | **{qo.mean():.4f}** | "
        f"**{100 * (q.mean() - qo.mean()) / qo.mean():+.2f}** | **{ar.mean():.2f}** | "
        f"**{ab.mean():.2f}** |"
    )
    print()
    print(
        f"min agreement raw {ar.min():.2f} % ({rows[int(ar.argmin())][0]}); wall time "
        f"{wall:.1f} s on {torch.get_num_threads()} threads"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
