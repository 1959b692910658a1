"""Edge-preserving and smoothing filters on float32 images (OpenCV-backed, vectorised).

All functions take and return ``float32`` arrays; 2-D maps are ``(H, W)``, images ``(H, W, C)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_BORDER = cv2.BORDER_REFLECT


def box_mean(img: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1) x (2r+1)`` window (reflected borders).

    Parameters
    ----------
    img : ndarray, (H, W) or (H, W, C) float32
    radius : int
        Window radius ``r`` (0 returns a copy).

    Returns
    -------
    ndarray, same shape, float32
    """
    img = np.asarray(img, dtype=np.float32)
    if radius <= 0:
        return img.copy()
    k = 2 * int(radius) + 1
    out = cv2.boxFilter(img, -1, (k, k), normalize=True, borderType=_BORDER)
    return out.reshape(img.shape)


def gaussian_ksize(sigma: float, truncate: float = 3.0) -> int:
    """Odd kernel size covering ``truncate`` standard deviations on each side."""
    return 2 * max(1, math.ceil(truncate * float(sigma))) + 1


def gaussian(img: np.ndarray, sigma: float, ksize: int | None = None) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` (reflected borders).

    Parameters
    ----------
    img : ndarray, (H, W) or (H, W, C) float32
    sigma : float
        Standard deviation in pixels (``<= 0`` returns a copy).
    ksize : int, optional
        Odd kernel size; default :func:`gaussian_ksize` (3 sigma).
    """
    img = np.asarray(img, dtype=np.float32)
    if sigma <= 0:
        return img.copy()
    k = ksize if ksize is not None else gaussian_ksize(sigma)
    out = cv2.GaussianBlur(
        img, (k, k), sigmaX=float(sigma), sigmaY=float(sigma), borderType=_BORDER
    )
    return out.reshape(img.shape)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Guided filter of K. He, J. Sun, X. Tang, "Guided image filtering", IEEE TPAMI 35(6), 2013.

    ``q = mean(a) * I + mean(b)`` with per-window linear coefficients ``(a, b)`` fitted from the
    guide ``I`` to the input ``p``. A 3-channel guide uses the colour version of the filter
    (per-pixel 3x3 covariance, inverted in closed form).

    Parameters
    ----------
    guide : ndarray, (H, W), (H, W, 1) or (H, W, 3) float32
        Guidance image ``I``, values in ``[0, 1]``.
    src : ndarray, (H, W) float32
        Filtering input ``p``.
    radius : int
        Window radius ``r``.
    eps : float
        Regularisation ``epsilon`` (on the scale of ``[0, 1]`` intensities).

    Returns
    -------
    ndarray, (H, W) float32
    """
    p = np.asarray(src, dtype=np.float32)
    g = np.asarray(guide, dtype=np.float32)
    if g.ndim == 3 and g.shape[2] == 1:
        g = g[:, :, 0]
    if g.ndim == 2:
        return _guided_gray(g, p, radius, eps)
    return _guided_color(g, p, radius, eps)


def _guided_gray(i: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    mean_i = box_mean(i, r)
    mean_p = box_mean(p, r)
    var_i = box_mean(i * i, r) - mean_i * mean_i
    cov_ip = box_mean(i * p, r) - mean_i * mean_p
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box_mean(a, r) * i + box_mean(b, r)


def _guided_color(i: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    mean_i = box_mean(i, r)  # (H, W, 3)
    mean_p = box_mean(p, r)
    cov_ip = box_mean(i * p[:, :, None], r) - mean_i * mean_p[:, :, None]
    e = np.float32(eps)

    def cov(a: int, b: int) -> np.ndarray:
        return box_mean(i[:, :, a] * i[:, :, b], r) - mean_i[:, :, a] * mean_i[:, :, b]

    rr, rg, rb = cov(0, 0) + e, cov(0, 1), cov(0, 2)
    gg, gb, bb = cov(1, 1) + e, cov(1, 2), cov(2, 2) + e
    # Inverse of the symmetric 3x3 matrix by cofactors.
    inv_rr = gg * bb - gb * gb
    inv_rg = gb * rb - rg * bb
    inv_rb = rg * gb - gg * rb
    inv_gg = rr * bb - rb * rb
    inv_gb = rb * rg - rr * gb
    inv_bb = rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    c0, c1, c2 = cov_ip[:, :, 0], cov_ip[:, :, 1], cov_ip[:, :, 2]
    a0 = (inv_rr * c0 + inv_rg * c1 + inv_rb * c2) / det
    a1 = (inv_rg * c0 + inv_gg * c1 + inv_gb * c2) / det
    a2 = (inv_rb * c0 + inv_gb * c1 + inv_bb * c2) / det
    b = mean_p - a0 * mean_i[:, :, 0] - a1 * mean_i[:, :, 1] - a2 * mean_i[:, :, 2]
    a = box_mean(np.dstack([a0, a1, a2]), r)
    return (
        a[:, :, 0] * i[:, :, 0] + a[:, :, 1] * i[:, :, 1] + a[:, :, 2] * i[:, :, 2] + box_mean(b, r)
    )
