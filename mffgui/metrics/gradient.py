"""Gradient-based fusion metric Q^{AB/F} (Xydeas and Petrović), the ``QG`` of the survey.

Port of ``metricXydeas.m`` as corrected by Yu Liu (Oct 2019) in the evaluation code of
Y. Liu et al., "Multi-focus image fusion: a survey of the state of the art", Information Fusion
64 (2020), and, as ``variant="vifb"``, of ``metricsQabf.m`` of the VIFB benchmark
(X. Zhang et al., CVPRW 2020), which handles zero horizontal gradients and equal gradient
strengths differently.

Reference: C. S. Xydeas, V. Petrović, "Objective image fusion performance measure",
Electronics Letters 36 (4) (2000) 308-309.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from mffgui.metrics.common import check_inputs, filter2_3x3

_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
_SOBEL_Y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)
_EPS = 0.00001

# Sigmoid parameters of the corrected code ("modified according to Fig. 1").
_TG, _KG, _DG = 0.9994, -15.0, 0.5
_TA, _KA, _DA = 0.9879, -22.0, 0.8


def _sobel(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return filter2_3x3(img, _SOBEL_X), filter2_3x3(img, _SOBEL_Y)


def _edge_preservation(g_ratio: np.ndarray, a_dist: np.ndarray) -> np.ndarray:
    qg = _TG / (1.0 + np.exp(_KG * (g_ratio - _DG)))
    qa = _TA / (1.0 + np.exp(_KA * (a_dist - _DA)))
    return qg * qa


def qabf(
    sources: Sequence[np.ndarray],
    fused: np.ndarray,
    variant: Literal["liu2020", "vifb"] = "liu2020",
) -> float:
    """Q^{AB/F}: how well the fused image keeps the sources' edges (0..1, higher is better).

    Parameters
    ----------
    sources : sequence of ndarray, each (H, W) float64
        Gray source images in ``0..255`` (see :func:`mffgui.metrics.gray255`).
    fused : ndarray, (H, W) float64
        Gray fused image in ``0..255``.
    variant : {"liu2020", "vifb"}
        ``"liu2020"``: corrected ``metricXydeas.m`` of the Liu et al. survey (the default, and
        what the survey tables call ``QG``). ``"vifb"``: ``metricsQabf.m`` of VIFB.

    Returns
    -------
    float

    Notes
    -----
    For N sources the per-source edge preservation maps ``Q_iF`` are combined with the source
    gradient strengths ``g_i`` as weights, ``sum_i sum_px Q_iF g_i / sum_i sum_px g_i``, which
    is the reference formula for N = 2. With ``"liu2020"`` the sources are processed in order
    and the tiny ``1e-5`` guards the reference adds to zero gradients carry over between
    sources exactly as in the MATLAB code.
    """
    srcs = check_inputs(sources, fused)
    if variant == "vifb":
        return _qabf_vifb(srcs, np.asarray(fused, dtype=np.float64))
    if variant != "liu2020":
        raise ValueError(f"unknown Qabf variant {variant!r}")
    fx, fy = _sobel(fused)
    fg = np.sqrt(fx * fx + fy * fy)
    fx = fx + (fx == 0) * _EPS
    fa = np.arctan(fy / fx)
    num = 0.0
    den = 0.0
    for src in srcs:
        sx, sy = _sobel(src)
        sg = np.sqrt(sx * sx + sy * sy)
        sx = sx + (sx == 0) * _EPS
        sa = np.arctan(sy / sx)
        bimap = sg > fg
        sg = sg + (sg == 0) * _EPS
        ratio_fs = fg / sg
        fg = fg + (fg == 0) * _EPS
        ratio_sf = sg / fg
        g = np.where(bimap, ratio_fs, ratio_sf)
        a = 1.0 - np.abs(sa - fa) * (2.0 / np.pi)
        q = _edge_preservation(g, a)
        num += float(np.sum(q * sg))
        den += float(np.sum(sg))
    return num / den


def _vifb_angle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, np.pi / 2, np.arctan(y / np.where(x == 0, 1.0, x)))


def _qabf_vifb(srcs: list[np.ndarray], fused: np.ndarray) -> float:
    # VIFB uses conv2, which flips the kernels: its x component is the negated correlation,
    # its y component (symmetric flip of a vertical kernel) is unchanged.
    fx, fy = _sobel(fused)
    fx = -fx
    fg = np.sqrt(fx * fx + fy * fy)
    fa = _vifb_angle(fx, fy)
    num = 0.0
    den = 0.0
    for src in srcs:
        sx, sy = _sobel(src)
        sx = -sx
        sg = np.sqrt(sx * sx + sy * sy)
        sa = _vifb_angle(sx, sy)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(
                sg > fg,
                fg / np.where(sg > fg, sg, 1.0),
                np.where(sg == fg, fg, sg / np.where(fg == 0, 1.0, fg)),
            )
        a = 1.0 - np.abs(sa - fa) / (np.pi / 2)
        num += float(np.sum(_edge_preservation(g, a) * sg))
        den += float(np.sum(sg))
    return num / den
