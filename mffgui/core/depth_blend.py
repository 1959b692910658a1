"""Depth-map stacking's second half: a cleaned index map to a softly blended fused image.

Shared by every method that chooses one frame per pixel from a focus measure (the classical
``depthmap`` with the sum-modified-Laplacian, GACN's ``activity`` stack strategy with the
network's learned focus measure): low-confidence pixels take their neighbours' depth, a median
filter removes isolated errors, and each output pixel is copied from the frame its depth names,
mixing the two frames on either side of a Gaussian-smoothed depth only near depth changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from mffgui.core.decision import (
    LazyMaps,
    fill_low_confidence,
    median_labels,
    relative_threshold,
)

FrameReader = Callable[[Iterable[int]], Iterator[tuple[int, np.ndarray]]]
"""``frames(indices)`` yields ``(i, frame)`` with frames ``(H, W, C)`` float32."""


def clean_index(
    index: np.ndarray,
    best: np.ndarray,
    contrast_threshold: float,
    fill_sigma: float,
    smoothing: int,
) -> np.ndarray:
    """Fill low-confidence pixels from their neighbours and median-filter the index map.

    Parameters
    ----------
    index : ndarray, (H, W) uint16
        Arg-max frame of the focus measure.
    best : ndarray, (H, W) float32
        The maximum focus value.
    contrast_threshold : float
        Pixels whose best focus is below this fraction of the 99th-percentile focus are
        interpolated (0 = off).
    fill_sigma : float
        Gaussian radius of that interpolation, px.
    smoothing : int
        Median filter size (1 = off).

    Returns
    -------
    ndarray, (H, W) uint16
    """
    if contrast_threshold > 0:
        confident = best > relative_threshold(best, contrast_threshold)
        index = fill_low_confidence(index, confident, fill_sigma)
    return median_labels(index, smoothing)


def blend_by_depth(
    depth: np.ndarray, n: int, channels: int, frames: FrameReader, step: Callable[[], None]
) -> tuple[np.ndarray, int]:
    """Each pixel from the frames on either side of its fractional depth.

    Pixel ``p`` with depth ``d`` gets ``(1 - frac) · frame[floor d] + frac · frame[floor d + 1]``;
    where the depth is an integer (away from depth changes) it is an exact copy. Frames no pixel
    uses are not read.

    Parameters
    ----------
    depth : ndarray, (H, W) float32
        Fractional frame index in ``[0, n - 1]``.
    n, channels : int
    frames : callable
        ``frames(indices)`` yields ``(i, frame)``, frames ``(H, W, channels)`` float32.
    step : callable
        Called once per frame of the stack (progress and cancel).

    Returns
    -------
    fused : ndarray, (H, W, channels) float32
    frames_used : int
    """
    shape = depth.shape
    lo = np.floor(depth).astype(np.int32)
    frac = depth - lo
    # Pixels sorted by their lower frame: frame i writes one contiguous run of the sorted
    # buffer (weight 1 - frac) and adds to the previous run where frac > 0.
    lo_flat = lo.ravel()
    order = np.argsort(lo_flat, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(lo_flat, minlength=n))])
    frac_sorted = frac.ravel()[order]
    mixed = frac_sorted > 0

    def lower(i: int) -> slice:
        return slice(bounds[i], bounds[i + 1]) if i < n else slice(0, 0)

    needed = [
        i for i in range(n) if bounds[i + 1] > bounds[i] or (i > 0 and mixed[lower(i - 1)].any())
    ]
    acc_sorted = np.zeros((order.size, channels), np.float32)
    done = 0
    for i, img in frames(needed):
        flat = img.reshape(-1, channels)
        run_i = lower(i)
        acc_sorted[run_i] += (1.0 - frac_sorted[run_i])[:, None] * flat[order[run_i]]
        if i > 0:
            prev = lower(i - 1)
            sel = np.flatnonzero(mixed[prev]) + prev.start
            acc_sorted[sel] += frac_sorted[sel][:, None] * flat[order[sel]]
        for _ in range(done, i + 1):
            step()
        done = i + 1
    for _ in range(done, n):
        step()
    acc = np.empty_like(acc_sorted)
    acc[order] = acc_sorted
    return acc.reshape(*shape, channels), len(needed)


def depth_weights(depth: np.ndarray, n: int, eager: bool) -> np.ndarray | LazyMaps:
    """Per-frame weights ``max(0, 1 - |depth - i|)``: ``(n, H, W)`` float32 or a lazy view."""

    def weight(i: int) -> np.ndarray:
        return np.maximum(np.float32(1.0) - np.abs(depth - np.float32(i)), np.float32(0.0))

    if eager:
        return np.stack([weight(i) for i in range(n)])
    return LazyMaps(n, depth.shape, weight)
