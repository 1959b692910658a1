"""MATLAB conventions shared by the metric ports: gray conversion, rounding, filtering.

The reference code (Liu et al. 2020 survey, Z. Liu's metric toolbox, VIFB) runs in MATLAB on
``double`` gray images in ``0..255``. These helpers reproduce the MATLAB built-ins the metrics
rely on, so the ports can follow the reference line by line:

* ``rgb2gray`` on ``uint8`` (weighted sum, rounded half away from zero);
* ``round`` (half away from zero, unlike :func:`numpy.round`);
* ``filter2(h, x, 'same'|'valid')`` (correlation, zero padding);
* ``fspecial('gaussian', n, sigma)``, ``freqspace``, ``blkproc`` with zero padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# MATLAB rgb2gray: the first row of inv([1 .956 .621; 1 -.272 -.647; 1 -1.106 1.703]).
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: half away from zero (``numpy.round`` rounds half to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Any image array -> ``uint8`` with the same shape, as an 8-bit file would store it.

    ``uint8`` passes through; ``uint16`` is scaled by 255/65535; floats are taken as ``[0, 1]``,
    clipped and rounded (so scoring an in-memory result equals scoring its 8-bit PNG).
    """
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return matlab_round(a.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if a.dtype.kind in "iub":
        return np.clip(a, 0, 255).astype(np.uint8)
    f = np.clip(np.nan_to_num(a.astype(np.float64), nan=0.0), 0.0, 1.0)
    return matlab_round(f * 255.0).astype(np.uint8)


def gray255(img: np.ndarray) -> np.ndarray:
    """Image -> ``(H, W)`` float64 gray in ``0..255`` exactly as the reference code sees it.

    Parameters
    ----------
    img : ndarray
        ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``; ``uint8``, ``uint16`` or float in ``[0, 1]``.

    Returns
    -------
    ndarray, (H, W) float64
        Integer-valued gray levels: colour goes through MATLAB ``rgb2gray`` on the 8-bit image
        (rounded to ``uint8``), as ``evaluate_color.m`` of the Liu et al. survey does.
    """
    u8 = to_uint8(img)
    if u8.ndim == 3 and u8.shape[2] == 1:
        u8 = u8[:, :, 0]
    if u8.ndim == 2:
        return u8.astype(np.float64)
    if u8.ndim != 3 or u8.shape[2] != 3:
        raise ValueError(f"expected (H, W) or (H, W, 3) image, got shape {u8.shape}")
    g = u8.astype(np.float64) @ RGB2GRAY
    return np.clip(matlab_round(g), 0, 255)


def normalize1(data: np.ndarray) -> np.ndarray:
    """Toolbox ``normalize1``: stretch to ``0..255`` and round (an all-zero image stays)."""
    d = np.asarray(data, dtype=np.float64)
    hi, lo = d.max(), d.min()
    if hi == 0 and lo == 0:
        return d
    if hi == lo:
        # MATLAB divides 0/0 here and returns NaN everywhere; a constant image carries no
        # information, so keep it constant (level 0) instead of poisoning the metric.
        return np.zeros_like(d)
    return matlab_round((d - lo) / (hi - lo) * 255.0)


def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """Unnormalised 1-D Gaussian taps ``exp(-x^2 / 2 sigma^2)`` for ``x = -(size-1)/2 ..``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    return np.exp(-(x * x) / (2.0 * sigma * sigma))


def fspecial_gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """1-D factor of ``fspecial('gaussian', size, sigma)`` (the 2-D kernel is its outer product).

    ``fspecial`` normalises the 2-D kernel to sum 1, which equals the outer product of the
    1-D taps normalised to sum 1.
    """
    g = gaussian_1d(size, sigma)
    return g / g.sum()


def filter2_sep(
    x: np.ndarray, kx: np.ndarray, ky: np.ndarray | None = None, shape: str = "same"
) -> np.ndarray:
    """MATLAB ``filter2(ky' * kx, x, shape)`` for a separable kernel, zero padding.

    Parameters
    ----------
    x : ndarray, (H, W) float64
    kx, ky : ndarray, (k,) float64
        Row (horizontal) and column (vertical) taps; ``ky`` defaults to ``kx``.
    shape : {"same", "valid"}
        ``"same"``: output ``(H, W)``; ``"valid"``: ``(H - k + 1, W - k + 1)``.

    Returns
    -------
    ndarray, float64
    """
    ky = kx if ky is None else ky
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = cv2.sepFilter2D(x, cv2.CV_64F, kx, ky, borderType=cv2.BORDER_CONSTANT)
    if shape == "same":
        if len(kx) % 2 == 0 or len(ky) % 2 == 0:
            raise ValueError("'same' needs odd kernel sizes")
        return out
    if shape != "valid":
        raise ValueError(f"unknown shape {shape!r}")
    # OpenCV anchors a k-tap kernel at k // 2, so 'valid' output j sits at j + k // 2.
    oy, ox = len(ky) // 2, len(kx) // 2
    h, w = x.shape[0] - len(ky) + 1, x.shape[1] - len(kx) + 1
    return out[oy : oy + h, ox : ox + w]


def filter2_3x3(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(kernel, x, 'same')`` for a small integer kernel (exact on integers)."""
    k = np.asarray(kernel, dtype=np.float64)
    return cv2.filter2D(
        np.ascontiguousarray(x, dtype=np.float64), cv2.CV_64F, k, borderType=cv2.BORDER_CONSTANT
    )


def freqspace(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``[u, v] = freqspace([rows, cols], 'meshgrid')``: ``(rows, cols)`` grids."""
    f1 = (np.arange(cols) - cols // 2) * (2.0 / cols)
    f2 = (np.arange(rows) - rows // 2) * (2.0 / rows)
    u, v = np.meshgrid(f1, f2)
    return u, v


def blkproc_pad(x: np.ndarray, block: int) -> np.ndarray:
    """``x`` zero-padded to whole blocks and reshaped to ``(By, Bx, block, block)``.

    MATLAB ``blkproc`` pads a partial edge block with zeros before calling the block function,
    so block means over an edge block divide by ``block**2``.
    """
    h, w = x.shape
    ph, pw = (-h) % block, (-w) % block
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw)))
    hb, wb = x.shape[0] // block, x.shape[1] // block
    return x.reshape(hb, block, wb, block).swapaxes(1, 2)


def check_inputs(sources: Sequence[np.ndarray], fused: np.ndarray) -> list[np.ndarray]:
    """Validate gray ``0..255`` float images for a metric; returns the sources as a list.

    Raises
    ------
    ValueError
        Fewer than two sources, or shapes that differ.
    """
    srcs = [np.asarray(s, dtype=np.float64) for s in sources]
    if len(srcs) < 2:
        raise ValueError("a fusion metric needs at least two source images")
    f = np.asarray(fused)
    for s in srcs:
        if s.shape != f.shape or s.ndim != 2:
            raise ValueError(
                f"sources and fused image must be same-size 2-D gray arrays "
                f"(got {s.shape} and {f.shape})"
            )
    return srcs
