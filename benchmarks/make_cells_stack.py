"""A synthetic 2-channel fluorescence z-stack for docs/screenshot-microscopy.png.

Nuclei (DAPI) and filaments (GFP) on a curved surface, 9 planes 2 µm apart, rendered out of
focus by :func:`mffgui.core.synthetic.render_focus_stack`, written as a 16-bit OME-TIFF
``(Z, C, Y, X)`` using a 12-bit camera's range, with pixel sizes and channel names.

Usage: ``python benchmarks/make_cells_stack.py OUT.ome.tif``
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import tifffile

from mffgui.core.synthetic import render_focus_stack


def sharp_cells(h: int, w: int, seed: int = 7) -> np.ndarray:
    """``(h, w, 3)`` float32: nuclei in channel 0, filaments in channel 1, channel 2 empty."""
    rng = np.random.default_rng(seed)
    nuclei = np.zeros((h, w), np.float32)
    for _ in range(60):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        r = rng.uniform(8, 18)
        axes = (int(r), int(r * rng.uniform(0.6, 1)))
        angle, level = float(rng.uniform(0, 180)), float(rng.uniform(0.5, 1))
        cv2.ellipse(nuclei, centre, axes, angle, 0, 360, level, -1)
    fibres = np.zeros((h, w), np.float32)
    for _ in range(90):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        a, length = rng.uniform(0, np.pi), rng.uniform(60, 260)
        end = (int(x0 + length * np.cos(a)), int(y0 + length * np.sin(a)))
        cv2.line(fibres, (int(x0), int(y0)), end, float(rng.uniform(0.4, 1)), 1, cv2.LINE_AA)
    nuclei = cv2.GaussianBlur(nuclei, (0, 0), 1.2) * 0.8 + 0.03
    fibres = np.clip(cv2.GaussianBlur(fibres, (0, 0), 0.7), 0, 1) * 0.9 + 0.02
    return np.stack([nuclei, fibres, np.zeros_like(fibres)], axis=2).astype(np.float32)


def main(out: str, h: int = 540, w: int = 720, n: int = 9) -> None:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.clip(0.5 + 0.45 * np.sin(xx / w * 3.0) * np.cos(yy / h * 2.0), 0, 1)
    frames = render_focus_stack(sharp_cells(h, w), depth, n, max_sigma=5.0)
    data = np.rint(np.clip(frames[..., :2], 0, 1) * 4000).astype(np.uint16)
    metadata = {
        "axes": "ZCYX",
        "PhysicalSizeX": 0.325,
        "PhysicalSizeY": 0.325,
        "PhysicalSizeZ": 2.0,
        "Channel": {"Name": ["DAPI", "GFP"]},
    }
    zcyx = np.moveaxis(data, 3, 1)
    tifffile.imwrite(out, zcyx, ome=True, photometric="minisblack", metadata=metadata)
    print(f"wrote {out} {zcyx.shape}")


if __name__ == "__main__":
    main(sys.argv[1])
