"""Focus measures: per-pixel sharpness of one gray frame, larger = more in focus.

Every function takes an ``(H, W)`` float32 luma frame in ``[0, 1]`` and returns an ``(H, W)``
float32 non-negative map; none of them change the input.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from mffgui.core.filters import box_mean, gaussian, gaussian_ksize

FocusKind = Literal["sml", "eol"]

_REC709 = np.array([[0.2125, 0.7154, 0.0721]], dtype=np.float32)


def luma(img: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` or ``(H, W)`` float32 image -> ``(H, W)`` Rec. 709 luma.

    Same weights as :func:`mffgui.types.to_gray`, computed in one OpenCV pass.
    """
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        return img
    if img.shape[2] == 1:
        return img[:, :, 0]
    return cv2.transform(img, _REC709)


_KX = np.array([[-1.0, 2.0, -1.0]], dtype=np.float32)
_KY = _KX.T.copy()


def modified_laplacian(gray: np.ndarray, step: int = 1) -> np.ndarray:
    """Modified Laplacian ``|2I - I(x-s) - I(x+s)| + |2I - I(y-s) - I(y+s)|``.

    S. K. Nayar, Y. Nakagawa, "Shape from focus", IEEE TPAMI 16(8), 1994.

    Parameters
    ----------
    gray : ndarray, (H, W) float32
    step : int
        Pixel spacing ``s`` of the second differences.

    Returns
    -------
    ndarray, (H, W) float32
    """
    g = np.asarray(gray, dtype=np.float32)
    kx, ky = _KX, _KY
    if step > 1:
        kx = np.zeros((1, 2 * step + 1), np.float32)
        kx[0, 0], kx[0, step], kx[0, -1] = -1.0, 2.0, -1.0
        ky = kx.T.copy()
    dx = cv2.filter2D(g, -1, kx, borderType=cv2.BORDER_REFLECT)
    dy = cv2.filter2D(g, -1, ky, borderType=cv2.BORDER_REFLECT)
    np.abs(dx, out=dx)
    np.abs(dy, out=dy)
    return cv2.add(dx, dy)


def sum_modified_laplacian(gray: np.ndarray, radius: int = 4, step: int = 1) -> np.ndarray:
    """Sum-modified-Laplacian (SML) averaged over a ``(2r+1)^2`` window (Nayar & Nakagawa 1994).

    Parameters
    ----------
    gray : ndarray, (H, W) float32
    radius : int
        Window radius ``r``.
    step : int
        Spacing of the second differences.

    Returns
    -------
    ndarray, (H, W) float32
        Window mean of the modified Laplacian (the sum divided by the window area).
    """
    return box_mean(modified_laplacian(gray, step), radius)


def energy_of_laplacian(gray: np.ndarray, radius: int = 4) -> np.ndarray:
    """Energy of the Laplacian: window mean of the squared 3x3 Laplacian.

    W. Huang, Z. Jing, "Evaluation of focus measures in multi-focus image fusion",
    Pattern Recognition Letters 28(4), 2007.

    Returns
    -------
    ndarray, (H, W) float32
    """
    lap = cv2.Laplacian(
        np.asarray(gray, dtype=np.float32), cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT
    )
    return box_mean(lap * lap, radius)


def focus_measure(
    gray: np.ndarray, kind: FocusKind = "sml", radius: int = 4, presmooth: float = 0.0
) -> np.ndarray:
    """A named focus measure, optionally after a light Gaussian pre-smoothing against noise.

    Parameters
    ----------
    gray : ndarray, (H, W) float32
    kind : {"sml", "eol"}
        Sum-modified-Laplacian or energy of Laplacian.
    radius : int
        Window radius.
    presmooth : float
        Gaussian sigma applied first (0 = none); suppresses sensor noise and JPEG blocking.

    Returns
    -------
    ndarray, (H, W) float32, non-negative
    """
    if kind == "sml" and presmooth > 0:
        ml = _smoothed_modified_laplacian(gray, presmooth)
        return box_mean(ml, radius) if radius > 0 else ml
    g = gaussian(gray, presmooth) if presmooth > 0 else np.asarray(gray, dtype=np.float32)
    if kind == "sml":
        return sum_modified_laplacian(g, radius)
    if kind == "eol":
        return energy_of_laplacian(g, radius)
    raise ValueError(f"unknown focus measure {kind!r}")


def _smoothed_modified_laplacian(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Modified Laplacian of the Gaussian-smoothed frame, with the smoothing folded into two
    separable passes (one per direction) instead of a blur followed by two filters."""
    g = np.asarray(gray, dtype=np.float32)
    k = gaussian_ksize(sigma)
    gk = cv2.getGaussianKernel(k, sigma).astype(np.float32)[:, 0]
    d2k = np.convolve(gk, _KX[0]).astype(np.float32)
    dx = cv2.sepFilter2D(g, cv2.CV_32F, d2k, np.pad(gk, 1), borderType=cv2.BORDER_REFLECT)
    dy = cv2.sepFilter2D(g, cv2.CV_32F, np.pad(gk, 1), d2k, borderType=cv2.BORDER_REFLECT)
    np.abs(dx, out=dx)
    np.abs(dy, out=dy)
    return cv2.add(dx, dy)


def laplacian_saliency(gray: np.ndarray, radius: int = 5, sigma: float = 5.0) -> np.ndarray:
    """Saliency of GFF: Gaussian low-pass of the absolute 3x3 Laplacian.

    S. Li, X. Kang, J. Hu, "Image fusion with guided filtering", IEEE TIP 22(7), 2013, eq. (3)-(4):
    ``S = |I * L| * g_{r_g, sigma_g}`` with a ``(2 r_g + 1)^2`` Gaussian window.

    Returns
    -------
    ndarray, (H, W) float32, non-negative
    """
    lap = cv2.Laplacian(
        np.asarray(gray, dtype=np.float32), cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT
    )
    return gaussian(np.abs(lap), sigma, ksize=2 * int(radius) + 1)
