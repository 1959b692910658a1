"""Structural-similarity fusion metrics: Q_E (Piella and Heijmans) and Q_Y (Yang et al.).

Ports of ``metricPeilla.m`` (``sw = 3``, edge-dependent index) and ``metricYang.m`` as corrected by
Yu Liu (Oct 2019) in the Liu et al. 2020 survey code, with Z. Wang's ``ssim_index.m``.

Both reference values are sensitive to floating-point rounding in flat windows: local variances
computed as ``E[x^2] - E[x]^2`` are round-off there, and Yang's tiny constants (``2e-16``) turn that
round-off into arbitrary SSIM values (even far outside ``[-1, 1]``). Here windows whose pixels are
all equal get the exact-arithmetic moments (variance and covariance 0), so the result is
deterministic; it agrees with the published MATLAB values to about 1e-4 (1e-3 for images with
large flat areas) and exactly (1e-13) where no flat window occurs.

References: G. Piella, H. Heijmans, "A new quality metric for image fusion", ICIP 2003;
C. Yang, J. Zhang, X. Wang, X. Liu, "A novel similarity based quality metric for image fusion",
Information Fusion 9 (2008) 156-160.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from mffgui.metrics.common import check_inputs, filter2_3x3, filter2_sep, fspecial_gaussian_1d

_BOX8 = np.full(8, 1.0 / 8.0)
_PIELLA_C = (1e-6 * 255.0) ** 2
_YANG_C = 2e-16
_PREWITT_X = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64)
_PREWITT_Y = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float64)


@dataclass
class _Moments:
    """Local mean and variance of one image under a window ('valid' size).

    ``flat`` marks windows whose pixels are all equal; there the mean is that level and the
    variance (and any covariance) exactly 0, as exact arithmetic gives, instead of the
    ``E[x^2] - E[x]^2`` round-off that tiny SSIM constants would blow up.
    """

    img: np.ndarray
    mu: np.ndarray
    var: np.ndarray
    flat: np.ndarray


def _flat_windows(img: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(flat, level)`` of every 'valid' ``n x n`` window."""
    kernel = np.ones((n, n), np.uint8)
    hi = cv2.dilate(img, kernel, borderType=cv2.BORDER_REPLICATE)
    lo = cv2.erode(img, kernel, borderType=cv2.BORDER_REPLICATE)
    r = n // 2
    h, w = img.shape[0] - n + 1, img.shape[1] - n + 1
    return (hi == lo)[r : r + h, r : r + w], lo[r : r + h, r : r + w]


def _moments(img: np.ndarray, k: np.ndarray) -> _Moments:
    img = np.ascontiguousarray(img, dtype=np.float64)
    mu = filter2_sep(img, k, shape="valid")
    var = filter2_sep(img * img, k, shape="valid") - mu * mu
    flat, level = _flat_windows(img, len(k))
    mu = np.where(flat, level, mu)
    var = np.where(flat, 0.0, var)
    return _Moments(img, mu, var, flat)


def _ssim_map(a: _Moments, b: _Moments, k: np.ndarray, c1: float, c2: float) -> np.ndarray:
    cov = filter2_sep(a.img * b.img, k, shape="valid") - a.mu * b.mu
    cov = np.where(a.flat | b.flat, 0.0, cov)
    num = (2.0 * a.mu * b.mu + c1) * (2.0 * cov + c2)
    den = (a.mu * a.mu + b.mu * b.mu + c1) * (a.var + b.var + c2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _saliency_weights(vars_: list[np.ndarray]) -> list[np.ndarray]:
    # The reference adds 0.5 to every variance where all of them are zero (no division by 0).
    total = np.sum(vars_, axis=0)
    flat = (total == 0) * 0.5
    return [v + flat for v in vars_]


def _saliency_weighted(
    ms: list[_Moments], maps: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The saliency-weighted mean of per-source maps, as both Q_W and Q_Y form it.

    Parameters
    ----------
    ms : list of _Moments
        The N sources' local moments; their variances ``s_i`` are the saliencies.
    maps : list of ndarray, each (h, w) float64
        One map per source ('valid' window size), e.g. ``SSIM(S_i, F)``.

    Returns
    -------
    mean : ndarray, (h, w) float64
        ``sum_i (s_i / sum_j s_j) * maps[i]``.
    saliency : list of ndarray, each (h, w) float64
        The ``s_i`` (0.5 added where every variance is 0).
    """
    sal = _saliency_weights([m.var for m in ms])
    total = np.sum(sal, axis=0)
    mean = np.zeros_like(total)
    for s, q in zip(sal, maps, strict=True):
        mean += (s / total) * q
    return mean, sal


def _piella_q(srcs: list[np.ndarray], fused: np.ndarray) -> float:
    """Weighted fusion quality index Q_W (``sw = 2``) with an 8x8 box window."""
    ms = [_moments(s, _BOX8) for s in srcs]
    mf = _moments(fused, _BOX8)
    q, sal = _saliency_weighted(ms, [_ssim_map(mf, m, _BOX8, _PIELLA_C, _PIELLA_C) for m in ms])
    cw = np.max(sal, axis=0)
    return float(np.sum(cw / cw.sum() * q))


def _prewitt_strength(img: np.ndarray) -> np.ndarray:
    x = filter2_3x3(img, _PREWITT_X)
    y = filter2_3x3(img, _PREWITT_Y)
    return np.sqrt(x * x + y * y)


_SHARED_DOC = """Parameters
    ----------
    sources : sequence of ndarray, each (H, W) float64
        Gray source images in ``0..255``.
    fused : ndarray, (H, W) float64
        Gray fused image in ``0..255``.

    Returns
    -------
    float
        At most 1, higher is better."""

_F = TypeVar("_F", bound=Callable[..., float])


def _shared_doc(fn: _F) -> _F:
    """Put the Parameters and Returns that Q_E and Q_Y share into ``fn``'s docstring."""
    fn.__doc__ = (fn.__doc__ or "").replace("{inputs_and_value}", _SHARED_DOC)
    return fn


@_shared_doc
def qe(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_E: Piella's edge-dependent fusion quality index (``metricPeilla(..., 3)``).

    {inputs_and_value}

    Notes
    -----
    ``Q_E = Q_W(S, F) * Q_W(|grad S|, |grad F|)``, where the weighted index ``Q_W`` uses 8x8
    windows, UIQI (SSIM with K = 1e-6), the local variances ``s_i`` as saliency and
    ``max_i s_i`` as window weight. For N sources the saliency weights are ``s_i / sum_j s_j``
    and the window weight is ``max_i s_i``, which is the reference for N = 2.
    """
    srcs = check_inputs(sources, fused)
    f = np.asarray(fused, dtype=np.float64)
    q = _piella_q(srcs, f)
    qw = _piella_q([_prewitt_strength(s) for s in srcs], _prewitt_strength(f))
    return q * qw


@_shared_doc
def qy(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_Y: Yang et al.'s SSIM-based fusion metric.

    {inputs_and_value}

    Notes
    -----
    In 7x7 Gaussian windows (sigma 1.5) where the sources are similar
    (``SSIM(A, B) >= 0.75``) the score is the variance-weighted mean of ``SSIM(A, F)`` and
    ``SSIM(B, F)``; elsewhere it is their maximum. For N sources a window counts as similar
    when every pair of sources has ``SSIM >= 0.75``; the weights are ``s_i / sum_j s_j`` and
    the fallback is ``max_i SSIM(S_i, F)``. This is the reference for N = 2 (O(N^2) filtering).
    """
    srcs = check_inputs(sources, fused)
    k = fspecial_gaussian_1d(7, 1.5)
    ms = [_moments(s, k) for s in srcs]
    mf = _moments(np.asarray(fused, dtype=np.float64), k)
    similar = None
    for i in range(len(ms)):
        for j in range(i + 1, len(ms)):
            ok = _ssim_map(ms[i], ms[j], k, _YANG_C, _YANG_C) >= 0.75
            similar = ok if similar is None else similar & ok
    assert similar is not None
    sims = [_ssim_map(m, mf, k, _YANG_C, _YANG_C) for m in ms]
    weighted, _ = _saliency_weighted(ms, sims)
    best = functools.reduce(np.fmax, sims)  # MATLAB max skips NaN
    q = np.where(similar, weighted, best)
    return float(np.mean(q))


def ssim(img: np.ndarray, ref: np.ndarray) -> float:
    """SSIM of Wang et al. (2004) between two gray ``0..255`` images (``ssim_index.m`` defaults).

    Parameters
    ----------
    img, ref : ndarray, (H, W) float64
        Gray images in ``0..255``, at least 11x11.

    Returns
    -------
    float
        Mean SSIM over 11x11 Gaussian windows (sigma 1.5), K = (0.01, 0.03), L = 255,
        ``'valid'`` windows only. 1 for identical images.
    """
    a = np.asarray(img, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"SSIM needs two same-size 2-D images, got {a.shape} and {b.shape}")
    if min(a.shape) < 11:
        raise ValueError("SSIM needs images of at least 11x11 pixels")
    k = fspecial_gaussian_1d(11, 1.5)
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    return float(np.mean(_ssim_map(_moments(a, k), _moments(b, k), k, c1, c2)))
