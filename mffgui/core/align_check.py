"""Independent checks of how well two frames are aligned (used by tests and benchmarks).

These use tile-wise phase correlation and gradient correlation, not the ECC machinery that
estimates the alignment, so they can disagree with it.
"""

from __future__ import annotations

import cv2
import numpy as np

from mffgui.types import to_gray


def local_shifts(
    a: np.ndarray, b: np.ndarray, grid: int = 3, tile: int = 256, max_size: int | None = None
) -> np.ndarray:
    """Residual displacement of ``b`` against ``a`` in a grid of tiles, by phase correlation.

    Parameters
    ----------
    a, b : ndarray, (H, W) or (H, W, C) float
        Two frames of the same size.
    grid : int
        Tiles per side (``grid * grid`` tiles, spread from corner to corner).
    tile : int
        Tile side in pixels (clipped to the image).
    max_size : int, optional
        Downscale both so the longest side is at most this (shifts are reported in pixels of
        the input size).

    Returns
    -------
    ndarray, (grid * grid, 3) float64
        ``(dx, dy, response)`` per tile: the shift is zero for perfectly aligned frames (a
        scale or rotation error shows as shifts that differ between tiles); ``response`` is
        the phase-correlation peak height in ``[0, 1]`` (low: the tile has too little shared
        detail for its shift to mean anything).
    """
    ga, gb = to_gray(np.asarray(a, np.float32)), to_gray(np.asarray(b, np.float32))
    f = 1.0
    if max_size is not None and max(ga.shape) > max_size:
        f = max_size / max(ga.shape)
        ga = cv2.resize(ga, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        gb = cv2.resize(gb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    h, w = ga.shape
    t = min(tile, h, w)
    win = cv2.createHanningWindow((t, t), cv2.CV_32F)
    out = []
    for y in np.linspace(0, h - t, grid).round().astype(int):
        for x in np.linspace(0, w - t, grid).round().astype(int):
            ta = np.ascontiguousarray(ga[y : y + t, x : x + t])
            tb = np.ascontiguousarray(gb[y : y + t, x : x + t])
            (dx, dy), resp = cv2.phaseCorrelate(ta.copy(), tb.copy(), win)
            out.append((dx / f, dy / f, resp))
    return np.asarray(out, dtype=np.float64)


def gradient_ncc(
    a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, sigma: float = 2.0
) -> float:
    """Normalised cross-correlation of the gradient magnitudes of two frames.

    Gradients are taken after a Gaussian blur of ``sigma`` pixels so frames focused at
    different depths still share structure; misalignment lowers the value.

    Parameters
    ----------
    a, b : ndarray, (H, W) or (H, W, C) float
    mask : ndarray, (H, W) bool, optional
        Pixels to compare (default: all).

    Returns
    -------
    float in ``[-1, 1]``.
    """

    def grad(img: np.ndarray) -> np.ndarray:
        g = cv2.GaussianBlur(to_gray(np.asarray(img, np.float32)), (0, 0), sigma)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
        return np.sqrt(gx * gx + gy * gy)

    ga, gb = grad(a), grad(b)
    if mask is not None:
        ga, gb = ga[mask], gb[mask]
    ga = ga.ravel() - ga.mean()
    gb = gb.ravel() - gb.mean()
    den = float(np.sqrt((ga * ga).sum() * (gb * gb).sum()))
    return float((ga * gb).sum() / den) if den > 0 else 0.0
