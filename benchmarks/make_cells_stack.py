"""A synthetic 2-channel fluorescence z-stack for docs/screenshot-microscopy.png.

Nuclei (DAPI) and filaments (GFP) on a curved surface, 9 planes 2 µm apart, rendered out of
focus by :func:`mffgui.core.synthetic.render_focus_stack`, written as a 12-bit-range 16-bit
OME-TIFF ``(Z, C, Y, X)`` with pixel sizes and channel names.

Usage: ``python benchmarks/make_cells_stack.py OUT.ome.tif``
"""

import sys

import cv2
import numpy as np
import tifffile

from mffgui.core.synthetic import render_focus_stack

rng = np.random.default_rng(7)
h, w, n = 540, 720, 9
nuclei = np.zeros((h, w), np.float32)
for _ in range(60):
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(8, 18)
    cv2.ellipse(
        nuclei,
        (int(cx), int(cy)),
        (int(r), int(r * rng.uniform(0.6, 1))),
        float(rng.uniform(0, 180)),
        0,
        360,
        float(rng.uniform(0.5, 1)),
        -1,
    )
nuclei = cv2.GaussianBlur(nuclei, (0, 0), 1.2)
fib = np.zeros((h, w), np.float32)
for _ in range(90):
    x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
    a = rng.uniform(0, np.pi)
    L = rng.uniform(60, 260)
    cv2.line(
        fib,
        (int(x0), int(y0)),
        (int(x0 + L * np.cos(a)), int(y0 + L * np.sin(a))),
        float(rng.uniform(0.4, 1)),
        1,
        cv2.LINE_AA,
    )
fib = cv2.GaussianBlur(fib, (0, 0), 0.7)
sharp = np.stack([nuclei * 0.8 + 0.03, np.clip(fib, 0, 1) * 0.9 + 0.02, np.zeros_like(fib)], axis=2)
yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
depth = np.clip(0.5 + 0.45 * np.sin(xx / w * 3.0) * np.cos(yy / h * 2.0), 0, 1)
frames = render_focus_stack(sharp.astype(np.float32), depth, n, max_sigma=5.0)
data = np.rint(np.clip(frames[..., :2], 0, 1) * 4000).astype(np.uint16)  # 12-bit camera range
data = np.moveaxis(data, 3, 1)  # (Z, C, Y, X)
tifffile.imwrite(
    sys.argv[1],
    data,
    ome=True,
    photometric="minisblack",
    metadata={
        "axes": "ZCYX",
        "PhysicalSizeX": 0.325,
        "PhysicalSizeY": 0.325,
        "PhysicalSizeZ": 2.0,
        "Channel": {"Name": ["DAPI", "GFP"]},
    },
)
print("wrote", sys.argv[1], data.shape)
