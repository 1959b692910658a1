"""No-reference statistics of the fused image (EN, SF, AG, SD) and PSNR against a ground truth.

Definitions follow the VIFB benchmark code (``metricsEntropy.m``, ``metricsSpatial_frequency.m``,
``metricsAvg_gradient.m``, ``metricsVariance.m`` - which is the standard deviation) on the gray
``0..255`` image. They describe the fused image alone, so they reward sharpness, contrast and
also noise or ringing; read them together with the source-based metrics.
"""

from __future__ import annotations

import numpy as np

from mffgui.metrics.information import entropy
from mffgui.metrics.structural import ssim

__all__ = ["average_gradient", "entropy", "psnr", "spatial_frequency", "ssim", "standard_deviation"]


def spatial_frequency(fused: np.ndarray) -> float:
    """SF: ``sqrt(RF^2 + CF^2)`` of row and column first differences (Eskicioglu and Fisher).

    Parameters
    ----------
    fused : ndarray, (H, W) float64
        Gray image in ``0..255``.

    Returns
    -------
    float
        Both squared-difference sums are divided by ``H * W`` (VIFB's convention).
    """
    f = np.asarray(fused, dtype=np.float64)
    rf = float(np.sum(np.diff(f, axis=1) ** 2)) / f.size
    cf = float(np.sum(np.diff(f, axis=0) ** 2)) / f.size
    return float(np.sqrt(rf + cf))


def average_gradient(fused: np.ndarray) -> float:
    """AG: mean of ``sqrt((gx^2 + gy^2) / 2)`` with MATLAB ``gradient`` differences.

    Parameters
    ----------
    fused : ndarray, (H, W) float64
        Gray image in ``0..255``, at least 2x2.

    Returns
    -------
    float
        The sum over all pixels divided by ``(H - 1) * (W - 1)`` (VIFB's convention); central
        differences inside, one-sided ones on the border.
    """
    f = np.asarray(fused, dtype=np.float64)
    if min(f.shape) < 2:
        raise ValueError("average gradient needs an image of at least 2x2 pixels")
    gy, gx = np.gradient(f)
    s = np.sqrt((gx * gx + gy * gy) / 2.0)
    return float(np.sum(s)) / ((f.shape[0] - 1) * (f.shape[1] - 1))


def standard_deviation(fused: np.ndarray) -> float:
    """SD: population standard deviation of the gray levels (VIFB's "Variance").

    Parameters
    ----------
    fused : ndarray, (H, W) float64

    Returns
    -------
    float
    """
    f = np.asarray(fused, dtype=np.float64)
    return float(np.sqrt(np.mean((f - f.mean()) ** 2)))


def psnr(img: np.ndarray, ref: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of ``img`` against the ground truth ``ref`` (same shape, same scale).

    Parameters
    ----------
    img, ref : ndarray, (H, W) or (H, W, C) float64
        Images in ``0..peak``; colour images are compared over all channels.
    peak : float
        Peak signal value (255 for 8-bit levels).

    Returns
    -------
    float
        ``10 log10(peak^2 / MSE)``; ``inf`` for identical images.
    """
    a = np.asarray(img, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"PSNR needs same-size images, got {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak * peak / mse))
