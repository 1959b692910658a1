"""The bundled sample stack: ``python -m mffgui.io.sample --out DIR``.

Renders a synthetic focus stack with :mod:`mffgui.core.synthetic` (arrays only) and writes it
as 8-bit PNGs plus a README through :func:`mffgui.io.writers.write_image`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mffgui.core.synthetic import depth_scene, render_focus_stack, sharp_scene
from mffgui.io.writers import write_image

__all__ = ["main", "write_sample_stack"]

_SAMPLE_README = """# Sample focus stack

A synthetic focus stack bundled with mffgui so the app and the CLI have something to fuse out of
the box. It was made entirely by code (no photographs):

```
python -m mffgui.io.sample --out resources/samples/sample-stack \\
    --frames {n} --size {w}x{h} --max-sigma {ms} --seed {seed}
```

`mffgui.core.synthetic.sharp_scene` draws a procedural scene (multi-scale value-noise texture,
stripes, a checkerboard, rings, edges and small marks); `depth_scene` gives it a smooth depth
(a tilted plane with raised discs and a block); `render_focus_stack` renders {n} frames focused at
evenly spaced depths from near to far, blurring each pixel with a Gaussian of sigma
`max_sigma * |depth - focal plane|`. Frames are 8-bit RGB PNG, `frame_01.png` (near) to
`frame_{n:02d}.png` (far).

Try it: `mffgui fuse resources/samples/sample-stack -o fused.png`.
"""


def write_sample_stack(
    out: Path,
    n_frames: int = 5,
    size: tuple[int, int] = (640, 480),
    max_sigma: float = 4.0,
    seed: int = 0,
) -> list[Path]:
    """Render the sample stack into ``out`` as 8-bit PNGs plus a README; returns the frames."""
    w, h = size
    out.mkdir(parents=True, exist_ok=True)
    sharp = sharp_scene(h, w, seed)
    frames = render_focus_stack(sharp, depth_scene(h, w, seed), n_frames, max_sigma, seed)
    paths = []
    for k, f in enumerate(frames):
        paths.append(write_image(out / f"frame_{k + 1:02d}.png", f, bit_depth=8))
    (out / "README.md").write_text(
        _SAMPLE_README.format(n=n_frames, w=w, h=h, ms=max_sigma, seed=seed), encoding="utf-8"
    )
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m mffgui.io.sample --out DIR``: write a synthetic sample stack."""
    ap = argparse.ArgumentParser(
        prog="python -m mffgui.io.sample",
        description="Render a synthetic focus stack as 8-bit PNGs.",
    )
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--frames", type=int, default=5, help="number of frames (default 5)")
    ap.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    ap.add_argument("--max-sigma", type=float, default=4.0, help="blur at full defocus (px)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size must look like 640x480, not {args.size!r}")
    paths = write_sample_stack(args.out, args.frames, (w, h), args.max_sigma, args.seed)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} frames ({total / 1e6:.2f} MB) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
