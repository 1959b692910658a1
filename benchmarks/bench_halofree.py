"""Issue 17 checks of ``halofree`` on the real stacks: noise, Q^{AB/F}, speed, 1:1 crops.

Both stacks come from ``../shared/data/stacks`` (override with ``--data``) and are aligned with
the ``similarity`` model first (aligned frames are kept in memory as 8-bit, so fusion timings
exclude decoding and warping):

* ``focusstack-pcb`` (7 frames): Gaussian noise of sigma 5/255 (seed 5) is added to every
  frame; the *flat region* is the 15 % of pixels with the lowest local high-pass energy of the
  clean mean frame (high-pass = gray minus its Gaussian blur, sigma 2; energy = its square
  averaged over a 15x15 window). The table gives the high-pass standard deviation there of one
  noisy frame and of each method's fusion of the noisy stack, and Q^{AB/F} (``liu2020``, all 7
  frames as sources) of each method's fusion of the clean stack.
* ``gacn-v4-chip-microscope`` (65 frames): seconds of ``method.fuse`` on the aligned stack
  (wall and CPU), median of ``--repeat`` rounds that run the methods alternately, and the
  median over the rounds of each method's time over the first method's in the same round.

``--crops DIR`` writes 1:1 crops (each method's result side by side, labelled) of the pcb
silkscreen and of the V-4 chip.

Usage::

    python benchmarks/bench_halofree.py [--methods depthmap,halofree] [--crops DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared")) / "data"
PCB_CROP = (660, 780, 480, 220)  # x, y, w, h in the aligned pcb frames: MOSI D11 silkscreen
V4_CROP = (560, 60, 380, 320)  # in the aligned V-4 frames: leads over the dark board


def aligned(files: list[Path]) -> np.ndarray:
    """``(N, H, W, 3)`` uint8: ``files`` aligned with the similarity model, cropped."""
    from mffgui.core.align import align_stack
    from mffgui.io import read_stack

    stack, _ = align_stack(read_stack(files), "similarity")
    return np.stack(
        [np.rint(np.clip(stack.frame(i), 0, 1) * 255).astype(np.uint8) for i in range(len(stack))]
    )


def parse_method(spec: str) -> tuple[str, str, dict[str, object]]:
    """``"label=name:key=value:..."`` or ``"name"`` -> (label, method name, parameters)."""
    head = spec.split(":")[0]
    label, rest = head, spec
    if "=" in head:
        label = head.split("=")[0]
        rest = spec[len(label) + 1 :]
    name, *pairs = rest.split(":")
    params: dict[str, object] = {}
    for pair in pairs:
        key, value = pair.split("=")
        params[key] = float(value) if "." in value else int(value)
    return label, name, params


def fuse(spec: str, frames: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """``(H, W, 3)`` float32 fusion of ``frames`` by ``spec`` and its wall seconds."""
    from mffgui.methods import get_method
    from mffgui.types import Stack

    _, name, params = parse_method(spec)
    m = get_method(name)
    t = time.perf_counter()
    res = m.fuse(Stack.from_arrays(frames), m.info.params.from_mapping(params))
    return res.fused, time.perf_counter() - t


def highpass(img: np.ndarray) -> np.ndarray:
    """Gray minus its Gaussian blur (sigma 2); ``(H, W)`` float32 in 0..255 units."""
    from mffgui.core.focus import luma

    g = luma(img.astype(np.float32)) * np.float32(255.0)
    return g - cv2.GaussianBlur(g, (0, 0), 2.0)


def crop_strip(images: list[tuple[str, np.ndarray]], box: tuple[int, int, int, int]) -> np.ndarray:
    """Labelled 1:1 crops side by side (4 px white gaps), ``(h, W, 3)`` uint8 RGB."""
    x, y, w, h = box
    tiles = []
    for label, img in images:
        tile = np.rint(np.clip(img[y : y + h, x : x + w], 0, 1) * 255).astype(np.uint8).copy()
        for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(
                tile, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, thick, cv2.LINE_AA
            )
        tiles.append(tile)
        tiles.append(np.full((h, 4, 3), 255, np.uint8))
    return np.concatenate(tiles[:-1], axis=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--methods",
        default="depthmap,halofree before=halofree:band_levels=0:refine_radius=0,halofree",
        help="comma-separated; 'label=name:key=value' sets parameters",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--crops", type=Path, default=None)
    ap.add_argument("--pcb-crop", default=",".join(map(str, PCB_CROP)))
    ap.add_argument("--v4-crop", default=",".join(map(str, V4_CROP)))
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args(argv)

    from mffgui import metrics as M

    specs = [s for s in args.methods.split(",") if s]
    labels = [parse_method(s)[0] for s in specs]
    stacks = args.data / "stacks"
    pcb8 = aligned(sorted((stacks / "focusstack-pcb").glob("*.jpg")))
    clean = [f.astype(np.float32) / np.float32(255.0) for f in pcb8]
    rng = np.random.default_rng(5)
    noisy = [np.clip(f + rng.normal(0, 5 / 255, f.shape), 0, 1).astype(np.float32) for f in clean]
    mean = np.mean(clean, axis=0)
    energy = cv2.boxFilter(highpass(mean) ** 2, -1, (15, 15))
    flat = energy <= np.quantile(energy, 0.15)
    single = float(highpass(noisy[0])[flat].std())
    print(
        f"pcb: {len(clean)} frames {clean[0].shape[1]}x{clean[0].shape[0]} aligned; "
        f"single noisy frame flat high-pass std {single:.3f}/255"
    )
    print("| method | flat high-pass std (noisy) | × single frame | Q^{AB/F} clean |")
    print("|---|---:|---:|---:|")
    srcs = [M.gray255(f) for f in clean]
    crops_pcb = []
    for spec, label in zip(specs, labels, strict=True):
        fn, _ = fuse(spec, noisy)
        std = float(highpass(fn)[flat].std())
        fc, _ = fuse(spec, clean)
        qg = M.qabf(srcs, M.gray255(np.rint(np.clip(fc, 0, 1) * 255) / 255.0))
        crops_pcb.append((label, fc))
        print(f"| {label} | {std:.3f} | {std / single:.2f} | {qg:.4f} |", flush=True)
    if args.crops:
        args.crops.mkdir(parents=True, exist_ok=True)
        box = tuple(int(v) for v in args.pcb_crop.split(","))
        strip = crop_strip(crops_pcb, box)  # type: ignore[arg-type]
        cv2.imwrite(str(args.crops / "halofree-pcb-silkscreen.png"), strip[:, :, ::-1])
    del clean, noisy, crops_pcb

    v48 = aligned(sorted((stacks / "gacn-v4-chip-microscope").glob("V*.jpg")))
    v4 = [f.astype(np.float32) / np.float32(255.0) for f in v48]
    del v48
    print(f"\nV-4: {len(v4)} frames {v4[0].shape[1]}x{v4[0].shape[0]} aligned, in memory")
    print("| method | fuse s (median) | CPU s (median) | × first method (median of rounds) |")
    print("|---|---:|---:|---:|")
    # Rounds alternate the methods (one run of each per round) and the ratio is taken per
    # round: on a shared machine the speed drifts by tens of percent within minutes, which a
    # method-after-method order turns into a bias.
    rounds = 1 if args.skip_speed else args.repeat
    walls: list[list[float]] = [[] for _ in specs]
    cpus: list[list[float]] = [[] for _ in specs]
    results: list[np.ndarray | None] = [None for _ in specs]
    for _ in range(rounds):
        for k, spec in enumerate(specs):
            c0 = time.process_time()
            results[k], dt = fuse(spec, v4)
            cpus[k].append(time.process_time() - c0)
            walls[k].append(dt)
    crops_v4 = [(label, results[k]) for k, label in enumerate(labels)]
    for k, label in enumerate(labels):
        ratio = statistics.median(w / f for w, f in zip(walls[k], walls[0], strict=True))
        print(
            f"| {label} | {statistics.median(walls[k]):.2f} | {statistics.median(cpus[k]):.2f} "
            f"| {ratio:.2f} |",
            flush=True,
        )
    if args.crops:
        box = tuple(int(v) for v in args.v4_crop.split(","))
        strip = crop_strip(crops_v4, box)  # type: ignore[arg-type]
        cv2.imwrite(str(args.crops / "halofree-v4.png"), strip[:, :, ::-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
