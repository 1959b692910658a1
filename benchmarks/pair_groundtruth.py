"""PSNR of halofree variants against the ground truth of the nyud-synthetic pairs.

Scores like ``mffgui bench --metrics PSNR`` (8-bit result, ``mffgui.metrics.score``); prints per
variant the mean over the scenes with a finite PSNR, how many are exact (infinite) and the
median. Usage: ``PYTHONPATH=. python benchmarks/pair_groundtruth.py "" "pair_blend_sigma=1"``
(``""`` = the defaults; ``key=value:key=value`` otherwise).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mffgui.cli.bench import _read_u8, find_scenes
from mffgui.methods import get_method
from mffgui.metrics import gray255, score
from mffgui.metrics.common import to_uint8
from mffgui.pipeline import fuse_stack, read_input
from mffgui.types import Stack


def main(variants: list[str], dataset: Path = Path("../shared/data/nyud-synthetic")) -> None:
    scenes, _ = find_scenes(dataset)
    data = []
    for sc in scenes:
        st = read_input(sc.discovery)
        frames = [np.asarray(st.frame(i), np.float32) for i in range(len(st))]
        assert sc.ground_truth is not None
        data.append((frames, _read_u8(sc.ground_truth)))
    m = get_method("halofree")
    for v in variants:
        p = m.info.params.from_mapping(dict(x.split("=") for x in v.split(":") if x))
        ps = []
        for frames, gt in data:
            fused = to_uint8(fuse_stack(Stack.from_arrays(frames), m, p).fused)
            srcs = [gray255(x).astype(np.uint8) for x in frames]
            ps.append(score(fused, srcs, gt, ["PSNR"])["PSNR"])
        a = np.array(ps)
        fin = np.isfinite(a)
        print(
            f"{v or 'defaults'}: mean (finite) {a[fin].mean():.2f} dB, {int((~fin).sum())} exact, "
            f"median {float(np.median(a)):.2f} dB",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:] or [""])
