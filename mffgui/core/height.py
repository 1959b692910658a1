"""Height maps: a fusion's depth (index) map turned into height in µm, refined between frames.

The depth map says which frame was sharpest at each pixel. Frame ``k`` lies at height
``k * z_step`` (frame 0 at 0). Between frames the height is interpolated from the focus
measure: around the chosen frame ``k`` the focus values ``f(k-1), f(k), f(k+1)`` are fitted
with a parabola whose vertex gives the sub-frame offset
``d = (f(k-1) - f(k+1)) / (2 (f(k-1) - 2 f(k) + f(k+1)))``, clipped to ``[-0.5, 0.5]``
(the classical shape-from-focus peak interpolation). When a neighbour of the chosen frame has
the higher focus (the method's clean-up moved the pixel by a frame), the fit is centred on that
neighbour. Where there is no peak inside the stack (first or last frame, flat focus) the
chosen frame is kept unrefined.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["fractional_index", "height_map", "height_preview"]


def fractional_index(
    index_map: np.ndarray, focus_maps: Sequence[np.ndarray] | np.ndarray | None
) -> np.ndarray:
    """Depth map refined between frames by a parabolic fit of the focus measure.

    Parameters
    ----------
    index_map : ndarray, (H, W) integer
        Chosen frame per pixel, values ``0..N-1``.
    focus_maps : sequence of ndarray, (N, H, W) float, or None
        Focus measure per frame (a lazy sequence is read one map at a time). ``None``: no
        refinement.

    Returns
    -------
    ndarray, (H, W) float32
        ``k + d`` with ``|d| <= 0.5``, ``k`` the chosen frame or its better neighbour.
    """
    idx = np.asarray(index_map).astype(np.int64)
    frac = idx.astype(np.float32)
    if focus_maps is None or len(focus_maps) < 3:
        return frac
    n = len(focus_maps)
    # Focus at offsets -2..+2 from the chosen frame (-inf outside the stack), read streaming.
    near = np.full((5, *idx.shape), -np.inf, np.float32)
    for i in range(n):
        offsets = i - idx
        used = np.abs(offsets) <= 2
        if not used.any():
            continue
        fm = np.asarray(focus_maps[i], dtype=np.float32)
        for o in range(-2, 3):
            sel = offsets == o
            near[o + 2][sel] = fm[sel]
    # The peak may sit on a neighbour of the chosen frame (a cleaned depth map moves some
    # pixels by one frame): fit around the best of k-1, k, k+1.
    shift = np.argmax(near[1:4], axis=0) - 1
    rows, cols = np.indices(idx.shape)
    f_minus = near[shift + 1, rows, cols]
    f_zero = near[shift + 2, rows, cols]
    f_plus = near[shift + 3, rows, cols]
    centre = idx + shift
    denom = f_minus - 2.0 * f_zero + f_plus
    peak = np.isfinite(denom) & (denom < 0) & (f_zero >= f_minus) & (f_zero >= f_plus)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(peak, 0.5 * (f_minus - f_plus) / np.where(peak, denom, -1.0), 0.0)
    refined = np.where(peak, centre + np.clip(d, -0.5, 0.5), frac)
    return refined.astype(np.float32)


def height_map(
    index_map: np.ndarray,
    focus_maps: Sequence[np.ndarray] | np.ndarray | None,
    z_step: float,
    *,
    refine: bool = True,
) -> np.ndarray:
    """Height in µm per pixel from a depth map and the z-step.

    Parameters
    ----------
    index_map : ndarray, (H, W) integer
        Chosen frame per pixel.
    focus_maps : sequence of ndarray, (N, H, W) float, or None
        Per-frame focus measure for sub-frame interpolation (see :func:`fractional_index`).
    z_step : float
        Distance between frames in µm (any unit; the result is in the same unit).
    refine : bool
        Interpolate between frames (default); ``False`` gives whole frames.

    Returns
    -------
    ndarray, (H, W) float32
        ``fractional_index * z_step``.
    """
    frac = fractional_index(index_map, focus_maps if refine else None)
    return (frac * np.float32(z_step)).astype(np.float32)


def height_preview(height: np.ndarray) -> np.ndarray:
    """A colour picture of a height map: viridis from its minimum (dark) to maximum (yellow).

    Parameters
    ----------
    height : ndarray, (H, W) float

    Returns
    -------
    ndarray, (H, W, 3) float32 RGB in ``[0, 1]``
    """
    h = np.asarray(height, dtype=np.float32)
    finite = np.isfinite(h)
    lo, hi = (float(h[finite].min()), float(h[finite].max())) if finite.any() else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    level = np.rint(np.clip((np.where(finite, h, lo) - lo) / span, 0, 1) * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(level, cv2.COLORMAP_VIRIDIS)
    return bgr[:, :, ::-1].astype(np.float32) / np.float32(255.0)
