"""From focus maps to decisions: streaming argmax, label consistency filters, soft weights.

Index maps are ``(H, W)`` uint16 source indices; per-source maps are ``(H, W)`` float32.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from mffgui.core.filters import gaussian, gaussian_ksize
from mffgui.types import MapStack

EAGER_MAPS_BYTES = 64 * 2**20
"""Per-source maps (weights, focus) up to this size are kept as arrays; larger ones are lazy."""


class ArgmaxTracker:
    """Running per-pixel maximum and argmax over scores seen one frame at a time.

    Ties keep the earlier source, so the result equals ``np.argmax`` over the stacked scores.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` of the score maps.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.best: np.ndarray | None = None
        self.index = np.zeros(shape, dtype=np.uint16)

    def update(self, n: int, score: np.ndarray) -> np.ndarray:
        """Fold in the ``(H, W)`` float32 ``score`` of source ``n``; returns the ``(H, W)``
        bool map of the pixels where it is the new best (all of them for the first source)."""
        if self.best is None:
            self.best = np.array(score, dtype=np.float32, copy=True)
            self.index[...] = n
            return np.ones(self.index.shape, bool)
        better = np.greater(score, self.best)
        np.maximum(self.best, score, out=self.best)
        np.copyto(self.index, np.uint16(n), where=better)
        return better


def mode_filter(labels: np.ndarray, size: int = 3) -> np.ndarray:
    """Majority (mode) filter of a label map over a ``size x size`` window.

    The consistency verification of H. Li, B. S. Manjunath, S. K. Mitra, "Multisensor image
    fusion using the wavelet transform", Graphical Models and Image Processing 57(3), 1995:
    a pixel takes the label most of its neighbours have; ties keep the pixel's own label.

    Parameters
    ----------
    labels : ndarray, (H, W) uint16
    size : int
        Odd window size (1 returns a copy).

    Returns
    -------
    ndarray, (H, W) uint16
    """
    labels = np.asarray(labels)
    if size <= 1:
        return labels.copy()
    present = np.flatnonzero(np.bincount(labels.ravel()))
    if len(present) < 2:
        return labels.copy()
    best = np.full(labels.shape, -1.0, dtype=np.float32)
    own = np.zeros(labels.shape, dtype=np.float32)
    arg = np.zeros_like(labels)
    for n in present:
        onehot = (labels == n).astype(np.float32)
        count = cv2.boxFilter(
            onehot, -1, (size, size), normalize=False, borderType=cv2.BORDER_REFLECT
        )
        better = count > best
        np.copyto(best, count, where=better)
        arg[better] = n
        np.copyto(own, count, where=onehot > 0)
    return np.where(own >= best, labels, arg).astype(labels.dtype)


def median_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """Median filter of an index map (depth order makes the median meaningful).

    Parameters
    ----------
    labels : ndarray, (H, W) uint16
    size : int
        Odd window size (``<= 1`` returns a copy).

    Returns
    -------
    ndarray, (H, W) uint16
    """
    if size <= 1:
        return labels.copy()
    size = size | 1
    if int(labels.max(initial=0)) <= 255:
        return cv2.medianBlur(labels.astype(np.uint8), size).astype(np.uint16)
    if size <= 5:
        return cv2.medianBlur(labels, size)
    from scipy.ndimage import median_filter

    return median_filter(labels, size=size, mode="reflect")


def smooth_large(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing with a large ``sigma``, computed on a downsampled copy for speed.

    Parameters
    ----------
    x : ndarray, (H, W) float32
    sigma : float
        Standard deviation in full-resolution pixels.

    Returns
    -------
    ndarray, (H, W) float32
    """
    h, w = x.shape
    factor = 1
    while sigma / (factor * 2) >= 2.0 and min(h, w) // (factor * 2) >= 8:
        factor *= 2
    if factor == 1:
        return gaussian(x, sigma)
    small = cv2.resize(x, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = gaussian(small, sigma / factor)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def fill_low_confidence(index: np.ndarray, confident: np.ndarray, sigma: float) -> np.ndarray:
    """Replace unreliable depth labels by a confidence-weighted average of reliable neighbours.

    In flat, textureless areas every source is equally (un)sharp, so the argmax is noise; the
    depth there is interpolated from nearby confident pixels (as Zerene's contrast threshold
    does), widening the neighbourhood up to three times where none is near.

    Parameters
    ----------
    index : ndarray, (H, W) uint16
        Argmax index map.
    confident : ndarray, (H, W) bool
        Pixels whose decision is trusted.
    sigma : float
        Interpolation radius (Gaussian sigma) in pixels.

    Returns
    -------
    ndarray, (H, W) uint16
    """
    out = index.copy()
    todo = ~confident
    if not todo.any() or not confident.any():
        return out
    m = confident.astype(np.float32)
    depth = index.astype(np.float32) * m
    for attempt in range(4):
        den = smooth_large(m, sigma)
        num = smooth_large(depth, sigma)
        # Early rounds need a fair share of confident neighbours; the last takes any.
        ok = todo & (den > (1e-3 if attempt < 3 else 1e-12))
        out[ok] = np.rint(num[ok] / den[ok]).astype(np.uint16)
        todo &= ~ok
        if not todo.any():
            break
        sigma *= 4
    return out


def blend_radius(sigma: float) -> int:
    """Kernel radius of the Gaussian used by :func:`smooth_depth` for ``sigma``."""
    return (gaussian_ksize(sigma) - 1) // 2 if sigma > 0 else 0


def transition_band(index: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose ``(2r+1)^2`` neighbourhood holds more than one label.

    Returns
    -------
    ndarray, (H, W) bool
    """
    if radius <= 0:
        return np.zeros(index.shape, dtype=bool)
    k = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    hi = cv2.dilate(index, k, borderType=cv2.BORDER_REFLECT)
    lo = cv2.erode(index, k, borderType=cv2.BORDER_REFLECT)
    return hi != lo


def smooth_depth(index: np.ndarray, sigma: float) -> np.ndarray:
    """Fractional depth for soft blending: the index map, Gaussian-smoothed near depth changes.

    Only pixels within the kernel radius of a label change (:func:`transition_band`) are
    smoothed; everywhere else the depth is the integer label exactly, so a blend driven by it
    copies source pixels bit for bit there.

    Parameters
    ----------
    index : ndarray, (H, W) uint16
    sigma : float
        Gaussian sigma in pixels (0 = no smoothing).

    Returns
    -------
    ndarray, (H, W) float32 in ``[index.min(), index.max()]``
    """
    depth = index.astype(np.float32)
    r = blend_radius(sigma)
    band = transition_band(index, r)
    if band.any():
        smooth = gaussian(depth, sigma, ksize=2 * r + 1)
        depth[band] = smooth[band]
        np.clip(depth, float(index.min()), float(index.max()), out=depth)
    return depth


class LazyMaps(Sequence[np.ndarray]):
    """``N`` per-source ``(H, W)`` float32 maps computed on demand, so memory does not grow with N.

    Behaves like the ``(N, H, W)`` arrays of :class:`~mffgui.types.FusionResult`: ``maps[i]``,
    ``len(maps)``, ``maps.shape`` and ``np.asarray(maps)`` (which materialises all of them).
    The most recently used maps are cached.

    Parameters
    ----------
    n : int
        Number of maps.
    shape : (int, int)
        ``(H, W)``.
    compute : callable
        ``compute(i) -> (H, W) float32``.
    cache : int
        How many computed maps to keep.
    """

    def __init__(
        self, n: int, shape: tuple[int, int], compute: Callable[[int], np.ndarray], cache: int = 2
    ) -> None:
        self.n = n
        self.map_shape = (int(shape[0]), int(shape[1]))
        self._compute = compute
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache

    def __len__(self) -> int:
        return self.n

    def _get(self, i: int) -> np.ndarray:
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        m = np.asarray(self._compute(i), dtype=np.float32)
        self._cache[i] = m
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return m

    def __getitem__(self, i):
        if isinstance(i, slice):
            idx = range(self.n)[i]
            out = np.empty((len(idx), *self.map_shape), dtype=np.float32)
            for k, j in enumerate(idx):
                out[k] = self._get(j)
            return out
        return self._get(int(i))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, H, W)``."""
        return (self.n, *self.map_shape)

    @property
    def on_disk(self) -> bool:
        """Never memory-mapped; maps are recomputed (parity with :class:`MapStack`)."""
        return False


def spill_maps(n: int, shape: tuple[int, int]) -> MapStack:
    """``n`` writable float32 maps ``(H, W)``: in RAM up to :data:`EAGER_MAPS_BYTES`, else in
    a temporary file, so resident memory does not grow with ``n`` (see :class:`MapStack`).

    For methods that produce per-frame maps they cannot recompute cheaply (network methods).
    """
    return MapStack(n, shape, memory_limit=EAGER_MAPS_BYTES, disk_dtype=np.float32)


def maps_fit_in_memory(n: int, shape: tuple[int, int]) -> bool:
    """Whether ``n`` float32 maps of ``shape`` fit :data:`EAGER_MAPS_BYTES`."""
    return n * shape[0] * shape[1] * 4 <= EAGER_MAPS_BYTES


def relative_threshold(best: np.ndarray, fraction: float, quantile: float = 0.99) -> float:
    """``fraction`` of a high quantile of ``best`` (subsampled), a scale-free contrast threshold."""
    step = max(1, int(math.sqrt(best.size / 250_000)))
    sample = best[::step, ::step].ravel()
    if sample.size == 0:
        return 0.0
    return float(fraction * np.quantile(sample, quantile))
