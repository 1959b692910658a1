"""Human-perception-inspired fusion metrics: Q_CB (Chen and Blum) and Q_CV (Chen and Varshney).

Ports of ``metricChenBlum.m`` and ``metricChen.m`` of Z. Liu's metric toolbox as used by the
Liu et al. 2020 survey. Both stretch every image to ``0..255`` first (``normalize1``) and filter
in the frequency domain with a contrast sensitivity function on MATLAB's ``freqspace`` grid.

References: Y. Chen, R. S. Blum, "A new automated quality assessment algorithm for image
fusion", Image and Vision Computing 27 (2009) 1421-1432; H. Chen, P. K. Varshney, "A human
perception inspired quality metric for image fusion based on regional information",
Information Fusion 8 (2007) 193-207.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from mffgui.metrics.common import (
    blkproc_pad,
    check_inputs,
    filter2_3x3,
    filter2_sep,
    freqspace,
    gaussian_1d,
    normalize1,
)

_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
_SOBEL_Y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)


def _csf_filter(img: np.ndarray, csf_shifted: np.ndarray) -> np.ndarray:
    """``ifft2(ifftshift(fftshift(fft2(img)) .* csf))``; the CSF is symmetric so the result is
    real and a half-spectrum transform gives it."""
    h, w = img.shape
    half = csf_shifted[:, : w // 2 + 1]
    return np.fft.irfft2(np.fft.rfft2(img) * half, s=(h, w))


@lru_cache(maxsize=8)
def _chen_blum_csf(rows: int, cols: int) -> np.ndarray:
    u, v = freqspace(rows, cols)
    u = (cols / 30.0) * u
    v = (rows / 30.0) * v
    r = np.sqrt(u * u + v * v)
    f0, f1, a = 15.3870, 1.3456, 0.7622
    sd = np.exp(-((r / f0) ** 2)) - a * np.exp(-((r / f1) ** 2))
    return np.fft.ifftshift(sd)


def _gauss31(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    # gaussian2d(): exp(-(x^2+y^2) / 2s^2) / (2 pi s^2) on -15..15, not normalised to sum 1.
    g = gaussian_1d(31, sigma)
    return g / (2.0 * np.pi * sigma * sigma), g


def _contrast_power(img: np.ndarray) -> np.ndarray:
    kx1, ky1 = _gauss31(2.0)
    kx2, ky2 = _gauss31(4.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.abs(filter2_sep(img, kx1, ky1) / filter2_sep(img, kx2, ky2) - 1.0)
        # k = h = 1, p = 3, q = 2, Z = 1e-4
        return c**3 / (c**2 + 0.0001)


def qcb(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_CB: Chen-Blum contrast-preservation metric.

    Parameters
    ----------
    sources : sequence of ndarray, each (H, W) float64
        Gray source images (each is stretched to ``0..255`` as the reference does).
    fused : ndarray, (H, W) float64

    Returns
    -------
    float
        ``0..1``, higher is better.

    Notes
    -----
    Per pixel, the contrast preservation ``Q_iF = min(C_i, C_F) / max(C_i, C_F)`` of the
    CSF-filtered local contrasts is weighted by the saliency ``C_i^2 / sum_j C_j^2``; the metric
    is the mean over pixels. This is the reference for N = 2 and the paper's form for any N.
    Where a contrast is exactly zero the reference divides 0 by 0 (NaN); here that pixel's
    preservation is taken as 0 (1 when both are 0), so one flat pixel cannot void the score.
    """
    srcs = check_inputs(sources, fused)
    h, w = np.asarray(fused).shape
    csf = _chen_blum_csf(h, w)
    cf = _contrast_power(_csf_filter(normalize1(fused), csf))
    cs = [_contrast_power(_csf_filter(normalize1(s), csf)) for s in srcs]
    sal = [c * c for c in cs]
    total = np.sum(sal, axis=0)
    q = np.zeros_like(cf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for c, s in zip(cs, sal, strict=True):
            pres = np.where(c < cf, c / cf, cf / c)
            pres = np.where((c == 0) & (cf == 0), 1.0, np.nan_to_num(pres, nan=0.0))
            q += np.nan_to_num(s / total, nan=1.0 / len(cs)) * pres
    return float(np.mean(q))


@lru_cache(maxsize=8)
def _mannos_sakrison_csf(rows: int, cols: int) -> np.ndarray:
    u, v = freqspace(rows, cols)
    u = (cols / 8.0) * u
    v = (rows / 8.0) * v
    r = np.sqrt(u * u + v * v)
    theta_m = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    return np.fft.ifftshift(theta_m)


def qcv(
    sources: Sequence[np.ndarray], fused: np.ndarray, window: int = 16, alpha: float = 5.0
) -> float:
    """Q_CV: Chen-Varshney regional perceptual distortion (lower is better).

    Parameters
    ----------
    sources : sequence of ndarray, each (H, W) float64
        Gray source images (each is stretched to ``0..255`` as the reference does).
    fused : ndarray, (H, W) float64
    window : int
        Side of the square regions (16 in the reference).
    alpha : float
        Exponent of the edge-strength saliency (5 in the reference).

    Returns
    -------
    float
        ``>= 0``; 0 means no perceptible difference. Lower is better.

    Notes
    -----
    ``Q_CV = sum_r sum_i l_i(r) D_i(r) / sum_r sum_i l_i(r)`` over regions ``r``, with the
    saliency ``l_i(r) = sum |Sobel S_i|^alpha`` and ``D_i(r)`` the mean squared
    Mannos-Sakrison-filtered difference ``S_i - F``. This is the reference for N = 2 and the
    paper's form for any N. Like MATLAB ``blkproc``, partial edge regions are zero-padded, so
    their mean divides by ``window**2``.
    """
    srcs = check_inputs(sources, fused)
    f = normalize1(fused)
    h, w = f.shape
    csf = _mannos_sakrison_csf(h, w)
    num = 0.0
    den = 0.0
    for s in srcs:
        sn = normalize1(s)
        gx = filter2_3x3(sn, _SOBEL_X)
        gy = filter2_3x3(sn, _SOBEL_Y)
        grad = np.sqrt(gx * gx + gy * gy)
        lam = np.sum(blkproc_pad(grad**alpha, window), axis=(2, 3))
        d = _csf_filter(sn - f, csf)
        dist = np.sum(blkproc_pad(d * d, window), axis=(2, 3)) / float(window * window)
        num += float(np.sum(lam * dist))
        den += float(np.sum(lam))
    return num / den
