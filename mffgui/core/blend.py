"""Image pyramids and weighted blending of stacks.

Pyramid levels are float32 arrays, ``(h, w)`` for gray and ``(h, w, 3)`` for colour, finest first;
the last entry of a Laplacian pyramid is the low-pass base.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def max_pyramid_levels(shape: tuple[int, int], min_size: int = 8) -> int:
    """Detail levels that keep the base at least ``min_size`` pixels on its short side."""
    short = min(shape)
    if short < 2 * min_size:
        return 0
    return max(0, math.floor(math.log2(short / min_size)))


def _squeeze(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float32)
    return img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img


def gaussian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels + 1`` images, each ``cv2.pyrDown`` of the previous (Burt & Adelson 1983).

    Parameters
    ----------
    img : ndarray, (H, W), (H, W, 1) or (H, W, 3) float32
    levels : int
        Number of reductions.

    Returns
    -------
    list of ndarray
        Finest first; a ``(H, W, 1)`` input gives 2-D levels.
    """
    out = [_squeeze(img)]
    for _ in range(levels):
        out.append(cv2.pyrDown(out[-1]))
    return out


def _expand(img: np.ndarray, like: np.ndarray) -> np.ndarray:
    return cv2.pyrUp(img, dstsize=(like.shape[1], like.shape[0]))


def laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid: ``levels`` band-pass images and the low-pass base (Burt & Adelson 1983).

    P. J. Burt, E. H. Adelson, "The Laplacian pyramid as a compact image code",
    IEEE Trans. Communications 31(4), 1983.

    Returns
    -------
    list of ndarray
        ``levels + 1`` float32 arrays, finest first; :func:`collapse` inverts it exactly up to
        float rounding.
    """
    g = gaussian_pyramid(img, levels)
    return [g[k] - _expand(g[k + 1], g[k]) for k in range(levels)] + [g[-1]]


def collapse(pyr: list[np.ndarray]) -> np.ndarray:
    """Rebuild the image from a Laplacian pyramid (inverse of :func:`laplacian_pyramid`)."""
    img = pyr[-1]
    for band in reversed(pyr[:-1]):
        img = _expand(img, band) + band
    return img


def upsample_to(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an ``(h, w)`` map to ``shape = (H, W)`` (a convex combination, so
    maps that sum to 1 still do)."""
    if img.shape[:2] == tuple(shape):
        return img
    return cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
