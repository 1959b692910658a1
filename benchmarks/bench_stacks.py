"""Ground-truth focus-stack benchmark: every method against the all-in-focus image.

Scenes are sharp colour photographs from ``train-sharp/color`` (BSDS500 photos, not Lytro),
resized to 600x400 (portrait ones turned to landscape first). Each gets a seeded
:func:`mffgui.core.synthetic.ground_truth_stack`: a piecewise-smooth depth map with occlusion
boundaries, layered occlusion-aware defocus, Gaussian noise and JPEG; the foreground objects
show the next scene's photograph upside down, so their outlines are image edges as real
occlusion boundaries are. For N = 5, 10 and 20
frames every method fuses the stack; the table gives means over the scenes of

* PSNR (dB, 8-bit RGB) and SSIM (8-bit gray) against the ground truth,
* "off > 20": the share of pixels whose largest channel error exceeds 20/255,
* seconds per frame of ``method.fuse`` (stack in memory, no decoding).

"nearest frame" is a reference, not a method: each pixel copied from the frame whose focal
plane is nearest its true depth (needs the ground-truth depth).

Usage::

    python benchmarks/bench_stacks.py                         # classical methods, 12 scenes
    python benchmarks/bench_stacks.py --scenes 4 --frames 10 --methods depthmap,halofree
    python benchmarks/bench_stacks.py --networks               # also the network methods
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared")) / "data"
SIZE = (600, 400)


def load_scenes(data: Path, count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` train-sharp colour images, evenly spaced in name order, as (600x400) RGB."""
    files = sorted((data / "train-sharp" / "color").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no train-sharp colour images under {data}")
    picks = [files[int(k * len(files) / count)] for k in range(count)]
    out = []
    for f in picks:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr.shape[0] > bgr.shape[1]:
            bgr = cv2.rotate(bgr, cv2.ROTATE_90_CLOCKWISE)
        bgr = cv2.resize(
            bgr, SIZE, interpolation=cv2.INTER_AREA if bgr.shape[1] > SIZE[0] else cv2.INTER_CUBIC
        )
        out.append((f.stem, np.clip(bgr[:, :, ::-1].astype(np.float32) / 255.0, 0, 1)))
    return out


def scores(fused: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """PSNR (dB, 8-bit RGB), SSIM (8-bit gray) and share of pixels off by > 20/255."""
    from mffgui.metrics import gray255, psnr, ssim

    f8 = np.rint(np.clip(fused, 0, 1) * 255.0)
    t8 = np.rint(np.clip(truth, 0, 1) * 255.0)
    off = float((np.abs(f8 - t8).max(axis=2) > 20).mean())
    return psnr(f8, t8), ssim(gray255(f8 / 255.0), gray255(t8 / 255.0)), off


def method_and_params(spec: str) -> tuple[object, object]:
    """``"name"`` or ``"name[key=value;key=value]"`` -> (method, its params with those set),
    validated as ``mffgui fuse --method name --set key=value`` does."""
    from mffgui.cli.common import build_params, parse_sets

    name, _, rest = spec.partition("[")
    return build_params(name, parse_sets([v for v in rest.rstrip("]").split(";") if v]), None, None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--scenes", type=int, default=12, help="number of scenes (default 12)")
    ap.add_argument("--frames", default="5,10,20", help="stack depths (default 5,10,20)")
    ap.add_argument(
        "--methods",
        default="",
        help="comma-separated, each NAME or NAME[key=value;...] (default: every classical method)",
    )
    ap.add_argument("--networks", action="store_true", help="also every network method")
    args = ap.parse_args(argv)

    from mffgui.core.synthetic import ground_truth_stack
    from mffgui.methods import list_methods
    from mffgui.types import Stack

    infos = list_methods()
    names = (
        [m for m in args.methods.split(",") if m]
        if args.methods
        else [i.name for i in infos if i.kind == "classical" or args.networks]
    )
    depths = [int(v) for v in args.frames.split(",")]
    scenes = load_scenes(args.data, args.scenes)
    print(
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{len(scenes)} scenes {SIZE[0]}x{SIZE[1]}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n",
        flush=True,
    )
    rows: dict[tuple[int, str], list[tuple[float, float, float, float]]] = {}
    t_all = time.perf_counter()
    for k, (name, sharp) in enumerate(scenes):
        for n in depths:
            other = scenes[(k + 1) % len(scenes)][1][::-1]  # upside down: unrelated content
            gt = ground_truth_stack(sharp, n, seed=k, occluders=other)
            near = gt.nearest_frame()
            ref = np.take_along_axis(gt.frames, near[None, :, :, None], 0)[0]
            rows.setdefault((n, "nearest frame"), []).append((*scores(ref, gt.sharp), 0.0))
            stack = Stack.from_arrays(list(gt.frames))
            for m in names:
                method, params = method_and_params(m)
                t = time.perf_counter()
                res = method.fuse(stack, params)
                dt = (time.perf_counter() - t) / n
                rows.setdefault((n, m), []).append((*scores(res.fused, gt.sharp), dt))
        print(f"  scene {k + 1}/{len(scenes)} ({name}) done", file=sys.stderr, flush=True)
    print("| N | method | PSNR dB ↑ | SSIM ↑ | off > 20/255 ↓ | s/frame |")
    print("|---:|---|---:|---:|---:|---:|")
    for (n, m), vals in rows.items():
        v = np.mean(np.array(vals), axis=0)
        sec = "—" if m == "nearest frame" else f"{v[3]:.4f}"
        print(f"| {n} | {m} | {v[0]:.2f} | {v[1]:.4f} | {100 * v[2]:.2f} % | {sec} |")
    print(
        f"\nTotal {time.perf_counter() - t_all:.0f} s; load average after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
