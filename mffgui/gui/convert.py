"""The one numpy <-> QImage bridge of the app (on qimage2ndarray) and its colour maps.

Every widget that shows pixels goes through :func:`to_qimage`; every colour-mapped view uses a
LUT made here. Colour arrays are RGB ``uint8``; images follow the core convention
(``(H, W, C)`` float32 in ``[0, 1]``).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_DRIVER", "PySide6")  # qimage2ndarray defaults to PyQt5

import numpy as np
import qimage2ndarray
from PySide6.QtGui import QImage

# Polynomial fit of matplotlib's viridis (t in [0, 1] -> RGB in [0, 1]), 6th degree, by Matt
# Zucker (public domain, shadertoy.com/view/WlfXRN); within 2 % of the published table.
_VIRIDIS_COEFFS = np.array(
    [
        [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
        [0.1050930431085774, 1.404613529898575, 1.384590162594685],
        [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
        [-4.634230498983486, -5.799100973351585, -19.33244095627987],
        [6.228269936347081, 14.17993336680509, 56.69055260068105],
        [4.776384997670288, -13.74514537774601, -65.35303263337234],
        [-5.435455855934631, 4.645852612178535, 26.3124352495832],
    ]
)

# ColorBrewer RdBu end points and neutral centre (blue = low, red = high).
_DIVERGING_ANCHORS = np.array([[33, 102, 172], [247, 247, 247], [178, 24, 43]], dtype=np.float64)

OUTLINE_COLOR = (255, 45, 149)
"""RGB of the outline drawn around the regions a source was chosen for."""


def viridis_lut(n: int = 256) -> np.ndarray:
    """The viridis colour map sampled at ``n`` points.

    Returns
    -------
    ndarray, (n, 3) uint8
        RGB colours from dark purple (0) to yellow (1); luminance increases monotonically.
    """
    t = np.linspace(0.0, 1.0, n)[:, None]
    rgb = np.zeros((n, 3))
    for k in range(len(_VIRIDIS_COEFFS) - 1, -1, -1):
        rgb = rgb * t + _VIRIDIS_COEFFS[k]
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def diverging_lut(n: int = 256) -> np.ndarray:
    """A blue-white-red diverging map (ColorBrewer RdBu ends), ``(n, 3)`` uint8."""
    t = np.linspace(0.0, 2.0, n)
    lo = np.minimum(t.astype(int), 1)
    f = (t - lo)[:, None]
    rgb = _DIVERGING_ANCHORS[lo] * (1 - f) + _DIVERGING_ANCHORS[lo + 1] * f
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def gray_lut(n: int = 256) -> np.ndarray:
    """Black to white, ``(n, 3)`` uint8."""
    g = np.rint(np.linspace(0, 255, n)).astype(np.uint8)
    return np.repeat(g[:, None], 3, axis=1)


LUTS = {"gray": gray_lut, "diverging": diverging_lut, "viridis": viridis_lut}
"""Colour maps by name: each ``(n) -> (n, 3) uint8``."""


def index_colors(n: int) -> np.ndarray:
    """Colours of frames ``0 .. n-1`` in the depth map: viridis at ``i / (n - 1)``, (n, 3) uint8."""
    lut = viridis_lut(256)
    pos = np.rint(np.linspace(0, 255, max(n, 1))).astype(int) if n > 1 else np.array([0])
    return lut[pos]


def _lut_u8(index: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 indices -> ``(H, W, 3)`` uint8 colours of a 256-entry ``lut``."""
    import cv2  # lazily: the window shows before OpenCV loads

    table = np.ascontiguousarray(lut.reshape(256, 1, 3))
    return cv2.LUT(cv2.merge([index, index, index]), table)


def to_index_u8(values: np.ndarray) -> np.ndarray:
    """Float map in ``[0, 1]`` -> uint8 ``round(v * 255)``, same shape (clipped; NaN -> 0)."""
    import cv2

    v = np.asarray(values, dtype=np.float32)
    if v.ndim == 2 or (v.ndim == 3 and v.shape[2] <= 4):
        # OpenCV scales, rounds and saturates in one pass without holding the GIL, so the
        # GUI thread is not held up; fmax maps NaN and negatives to 0 (|v| would mirror them).
        out8 = cv2.convertScaleAbs(np.fmax(v, np.float32(0.0)), alpha=255.0)
        return out8.reshape(v.shape)
    out = np.empty(v.shape, np.float32)
    np.multiply(v, 255.0, out=out)
    np.clip(out, 0.0, 255.0, out=out)
    np.nan_to_num(out, copy=False)
    return np.rint(out, out=out).astype(np.uint8)


def apply_lut(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Colour-map a float map.

    Parameters
    ----------
    values : ndarray, (H, W) float or uint8
        Values in ``[0, 1]`` (clipped), or uint8 ``0..255`` already quantised.
    lut : ndarray, (n, 3) uint8

    Returns
    -------
    ndarray, (H, W, 3) uint8
    """
    idx = values if values.dtype == np.uint8 else to_index_u8(values)
    if len(lut) != 256:
        lut = lut[np.rint(np.linspace(0, len(lut) - 1, 256)).astype(np.intp)]
    return _lut_u8(idx, lut)


def colorize_index(index_map: np.ndarray, n: int) -> np.ndarray:
    """``(H, W)`` integer map of frames ``< n`` -> ``(H, W, 3)`` uint8 via :func:`index_colors`."""
    colors = index_colors(n)
    if n <= 256:
        table = np.zeros((256, 3), np.uint8)
        table[:n] = colors
        idx = np.minimum(index_map, n - 1).astype(np.uint8)
        return _lut_u8(idx, table)
    return colors[np.clip(index_map.astype(np.intp), 0, n - 1)]


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float ``[0, 1]`` image (any shape) -> uint8 with rounding; ``(H, W, 1)`` -> ``(H, W)``."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype == np.uint8:
        return a
    return to_index_u8(a)


CHANNEL_COLORS = {
    "magenta": (1.0, 0.0, 1.0),
    "green": (0.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "red": (1.0, 0.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
}
"""Colours of a multi-channel composite (RGB in ``[0, 1]``)."""


def channel_colors(n: int) -> list[str]:
    """Names of the composite colours of ``n`` channels, napari's defaults for a channel axis:
    magenta and green for two channels, else cyan, yellow, magenta, red, green, blue in turn."""
    if n == 2:
        return ["magenta", "green"]
    cycle = ["cyan", "yellow", "magenta", "red", "green", "blue"]
    return [cycle[k % len(cycle)] for k in range(n)]


def composite(channels: np.ndarray, colors: list[str] | None = None) -> np.ndarray:
    """A multi-channel image as one colour picture: each channel contrast-stretched on its own
    (0.1/99.9 percentiles) and added in its colour, as Fiji's and napari's composites show it.

    Parameters
    ----------
    channels : ndarray, (H, W, C) float
        Values in ``[0, 1]``; channels are independent (fluorescence), not RGB.
    colors : list of str, optional
        Keys of :data:`CHANNEL_COLORS`, one per channel (default :func:`channel_colors`).

    Returns
    -------
    ndarray, (H, W, 3) float32 RGB in ``[0, 1]``
    """
    a = np.asarray(channels, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    c = a.shape[2]
    names = colors if colors is not None else channel_colors(c)
    out = np.zeros((*a.shape[:2], 3), np.float32)
    step = max(1, int(np.sqrt(a.shape[0] * a.shape[1] / 250_000)))
    for k in range(c):
        plane = a[:, :, k]
        lo, hi = (float(v) for v in np.percentile(plane[::step, ::step], [0.1, 99.9]))
        stretched = np.clip((plane - lo) / (hi - lo), 0.0, 1.0) if hi > lo else plane
        out += stretched[:, :, None] * np.asarray(CHANNEL_COLORS[names[k]], np.float32)
    return np.clip(out, 0.0, 1.0, out=out)


def display_levels(img: np.ndarray, min_fraction: float = 0.5) -> tuple[float, float] | None:
    """Levels that stretch a dim image (e.g. 16-bit microscopy using a tenth of the range).

    Returns
    -------
    (float, float) or None
        ``(lo, hi)`` 0.1/99.9 percentiles when the image spans less than ``min_fraction`` of
        ``[0, 1]``, else ``None`` (show as is).
    """
    a = np.asarray(img, dtype=np.float32)
    step = max(1, int(np.sqrt(a.shape[0] * a.shape[1] / 250_000)))
    sample = a[::step, ::step]
    lo, hi = (float(v) for v in np.percentile(sample, [0.1, 99.9]))
    if hi - lo >= min_fraction or hi <= lo:
        return None
    return lo, hi


def apply_levels(img: np.ndarray, levels: tuple[float, float] | None) -> np.ndarray:
    """Map ``[lo, hi]`` to ``[0, 1]`` (clipped); ``None`` returns ``img`` unchanged."""
    if levels is None:
        return img
    lo, hi = levels
    return np.clip((np.asarray(img, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)


def to_qimage(img: np.ndarray) -> QImage:
    """numpy image -> QImage (a copy that owns its pixels).

    Parameters
    ----------
    img : ndarray
        ``(H, W)`` / ``(H, W, 1)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; float in
        ``[0, 1]`` or uint8.

    Returns
    -------
    QImage
        Format_Grayscale8 for gray, RGB32 for RGB, ARGB32_Premultiplied for RGBA.
    """
    import cv2  # lazily: the window shows before OpenCV loads

    a = to_uint8(img)
    h, w = a.shape[:2]
    if a.ndim == 2:
        q = QImage(w, h, QImage.Format.Format_Grayscale8)
        qimage2ndarray.raw_view(q)[...] = a
        return q
    if a.shape[2] not in (3, 4):
        raise ValueError(f"cannot show an image of shape {a.shape}")
    rgba = a.shape[2] == 4
    # Premultiplied alpha is what the raster engine paints with: converting here (possibly on
    # a worker thread) spares the GUI thread a conversion of every overlay layer.
    fmt = QImage.Format.Format_ARGB32_Premultiplied if rgba else QImage.Format.Format_RGB32
    q = QImage(w, h, fmt)
    # (A)RGB32 is stored as B, G, R, A bytes on little-endian machines: one contiguous copy.
    if rgba:
        premul = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGBA2mRGBA)
        bgra = cv2.cvtColor(premul, cv2.COLOR_RGBA2BGRA)
    else:
        bgra = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2BGRA)
    if sys.byteorder == "little":
        qimage2ndarray.byte_view(q)[...] = bgra
    else:
        qimage2ndarray.byte_view(q)[...] = bgra[:, :, ::-1]
    return q


def from_qimage(qimg: QImage) -> np.ndarray:
    """QImage -> ``(H, W, 3)`` uint8 RGB copy (alpha dropped)."""
    if qimg.format() == QImage.Format.Format_Grayscale8:
        g = np.array(qimage2ndarray.raw_view(qimg))
        return np.repeat(g[:, :, None], 3, axis=2)
    if qimg.format() not in (QImage.Format.Format_RGB32, QImage.Format.Format_ARGB32):
        qimg = qimg.convertToFormat(QImage.Format.Format_ARGB32)  # un-premultiplies
    return np.array(qimage2ndarray.rgb_view(qimg))


def thumbnail(img: np.ndarray, size: int = 96) -> np.ndarray:
    """Downscaled uint8 copy of an image whose longer side is at most ``size`` pixels.

    Dim images (see :func:`display_levels`) are stretched so they are recognisable.
    """
    import cv2  # lazily: the window shows before OpenCV loads

    a = np.asarray(img, dtype=np.float32)
    h, w = a.shape[:2]
    scale = min(1.0, size / max(h, w))
    if scale < 1.0:
        a = cv2.resize(
            a, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        if a.ndim == 2 and np.asarray(img).ndim == 3:
            a = a[:, :, None]
    return to_uint8(apply_levels(a, display_levels(a)))


def outline_rgba(
    mask: np.ndarray, color: tuple[int, int, int] = OUTLINE_COLOR, width: int | None = None
) -> np.ndarray:
    """An RGBA layer that draws the boundary of ``mask``.

    Parameters
    ----------
    mask : ndarray, (H, W) bool
    color : (int, int, int)
        RGB of the line.
    width : int, optional
        Line width in image pixels; default scales with the image so it stays visible at fit.

    Returns
    -------
    ndarray, (H, W, 4) uint8
        Transparent except on the boundary pixels.
    """
    import cv2  # lazily: the window shows before OpenCV loads

    m = np.asarray(mask, dtype=np.uint8)
    h, w = m.shape
    if width is None:
        width = max(1, round(max(h, w) / 500))
    kernel = (
        np.ones((2 * width + 1, 2 * width + 1), np.uint8)
        if width > 1
        else np.ones((3, 3), np.uint8)
    )
    edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, kernel) > 0
    edge &= m > 0
    out = np.zeros((h, w, 4), np.uint8)
    out[edge, :3] = color
    out[edge, 3] = 255
    return out


def heat_rgba(values: np.ndarray, lut: np.ndarray | None = None, gamma: float = 0.5) -> np.ndarray:
    """A colour layer whose opacity follows the values (for the focus overlay).

    Parameters
    ----------
    values : ndarray, (H, W) float in [0, 1]
    lut : ndarray, (n, 3) uint8, optional
        Default viridis.
    gamma : float
        Exponent applied first; focus measures are heavy-tailed (most pixels near 0), and
        0.5 makes moderately focused regions visible.

    Returns
    -------
    ndarray, (H, W, 4) uint8
        Colour from ``lut``; alpha = ``value ** gamma``, so unfocused areas stay see-through.
    """
    import cv2  # lazily: the window shows before OpenCV loads

    idx = to_index_u8(values)
    curve = np.rint(255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)
    alpha = cv2.LUT(idx, curve)
    rgb = _lut_u8(alpha, lut if lut is not None else viridis_lut())
    return np.dstack([rgb, alpha])
