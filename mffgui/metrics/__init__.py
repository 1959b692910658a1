"""Objective fusion metrics, validated against the MATLAB reference code.

The source-based metrics are ports of the evaluation code of Y. Liu et al., "Multi-focus image
fusion: a survey of the state of the art", Information Fusion 64 (2020) (Z. Liu's toolbox with
Yu Liu's 2019 corrections); the fused-image statistics follow the VIFB benchmark code. All of
them work on the 8-bit gray image the reference sees (:func:`gray255`: MATLAB ``rgb2gray`` of the
8-bit image, rounded) and accept any number N >= 2 of sources (each metric documents its
generalisation; N = 2 is exactly the reference).

Use :func:`score` for a dict of values, :data:`METRICS` for names, directions and citations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mffgui.metrics.basic import (
    average_gradient,
    entropy,
    psnr,
    spatial_frequency,
    ssim,
    standard_deviation,
)
from mffgui.metrics.common import gray255, to_uint8
from mffgui.metrics.gradient import qabf
from mffgui.metrics.information import qmi, qncie
from mffgui.metrics.perceptual import qcb, qcv
from mffgui.metrics.phase import phase_congruency, qp
from mffgui.metrics.structural import qe, qy

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "MetricInfo",
    "average_gradient",
    "entropy",
    "gray255",
    "metric_names",
    "phase_congruency",
    "psnr",
    "qabf",
    "qcb",
    "qcv",
    "qe",
    "qmi",
    "qncie",
    "qp",
    "qy",
    "resolve_metrics",
    "score",
    "spatial_frequency",
    "ssim",
    "standard_deviation",
]


@dataclass(frozen=True)
class MetricInfo:
    """One registered metric.

    Attributes
    ----------
    name : str
        Short name used in tables and on the command line (``QG``, ``QMI``, ...).
    title : str
        Human-readable name.
    kind : {"fusion", "image", "reference"}
        ``fusion``: compares the fused image with the sources; ``image``: statistic of the
        fused image alone; ``reference``: needs a ground truth.
    higher_is_better : bool
        Direction of improvement (False only for Q_CV).
    func : callable
        ``fusion``: ``f(sources, fused)``; ``image``: ``f(fused)``;
        ``reference``: ``f(fused, ground_truth)`` - gray ``0..255`` float64 arrays, except
        PSNR, which gets the colour images.
    citation : str
        Where the definition comes from.
    """

    name: str
    title: str
    kind: str
    higher_is_better: bool
    func: Callable[..., float]
    citation: str

    @property
    def ranks(self) -> bool:
        """Whether a best value of this metric may be marked as the best result.

        False for the no-reference statistics (``kind == "image"``: EN, SF, AG, SD): they
        describe the result alone, and noise, ringing or halos raise them as much as detail
        does, so their highest value is no evidence of the best fusion.
        """
        return self.kind != "image"


_SURVEY = "Liu et al., Information Fusion 64 (2020), evaluation code"

METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo(
            "QMI",
            "Normalised mutual information (Hossny)",
            "fusion",
            True,
            qmi,
            f"Hossny et al., Electron. Lett. 2008; {_SURVEY}",
        ),
        MetricInfo(
            "QNCIE",
            "Nonlinear correlation information entropy",
            "fusion",
            True,
            qncie,
            f"Wang et al. 2008; {_SURVEY}",
        ),
        MetricInfo(
            "QG",
            "Gradient-based Q^AB/F (Xydeas-Petrovic)",
            "fusion",
            True,
            qabf,
            f"Xydeas & Petrovic, Electron. Lett. 2000; corrected code of {_SURVEY}",
        ),
        MetricInfo(
            "QP",
            "Phase congruency (Zhao)",
            "fusion",
            True,
            qp,
            f"Zhao et al., IJICIC 2007; {_SURVEY}",
        ),
        MetricInfo(
            "QE",
            "Edge-dependent fusion quality (Piella)",
            "fusion",
            True,
            qe,
            f"Piella & Heijmans, ICIP 2003; {_SURVEY}",
        ),
        MetricInfo(
            "QY",
            "SSIM-based (Yang)",
            "fusion",
            True,
            qy,
            f"Yang et al., Inf. Fusion 2008; {_SURVEY}",
        ),
        MetricInfo(
            "QCB",
            "Perceptual contrast (Chen-Blum)",
            "fusion",
            True,
            qcb,
            f"Chen & Blum, Image Vis. Comput. 2009; {_SURVEY}",
        ),
        MetricInfo(
            "QCV",
            "Perceptual regional distortion (Chen-Varshney)",
            "fusion",
            False,
            qcv,
            f"Chen & Varshney, Inf. Fusion 2007; {_SURVEY}",
        ),
        MetricInfo("EN", "Entropy", "image", True, entropy, "VIFB (Zhang et al., CVPRW 2020)"),
        MetricInfo(
            "SF",
            "Spatial frequency",
            "image",
            True,
            spatial_frequency,
            "Eskicioglu & Fisher 1995; VIFB",
        ),
        MetricInfo(
            "AG", "Average gradient", "image", True, average_gradient, "Cui et al. 2015; VIFB"
        ),
        MetricInfo("SD", "Standard deviation", "image", True, standard_deviation, "VIFB"),
        MetricInfo(
            "PSNR", "PSNR vs ground truth (dB)", "reference", True, psnr, "colour, 8-bit levels"
        ),
        MetricInfo(
            "SSIM",
            "SSIM vs ground truth",
            "reference",
            True,
            ssim,
            "Wang et al., IEEE TIP 2004 (ssim_index.m defaults, gray)",
        ),
    ]
}
"""Every metric by name, in table order."""

_ALIASES = {"QABF": "QG", "Q_ABF": "QG", "QAB/F": "QG"}

DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)
"""All metrics; reference metrics are skipped when there is no ground truth."""


def metric_names() -> list[str]:
    """Names of every metric, in table order."""
    return list(METRICS)


def resolve_metrics(names: Iterable[str] | None) -> list[str]:
    """Canonical metric names for user input (case-insensitive; ``Qabf`` means ``QG``).

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if names is None:
        return list(DEFAULT_METRICS)
    out: list[str] = []
    for raw in names:
        key = raw.strip().upper()
        key = _ALIASES.get(key, key)
        if key not in METRICS:
            known = ", ".join(METRICS)
            raise ValueError(f"unknown metric {raw!r}; available: {known}")
        if key not in out:
            out.append(key)
    return out


def score(
    fused: np.ndarray,
    sources: Sequence[np.ndarray],
    ground_truth: np.ndarray | None = None,
    metrics: Iterable[str] | None = None,
) -> dict[str, float]:
    """Score one fused image.

    Parameters
    ----------
    fused : ndarray
        ``(H, W)`` or ``(H, W, C)``; ``uint8``, ``uint16`` or float in ``[0, 1]`` (floats are
        quantised to 8 bits first, so an in-memory result scores like its saved 8-bit file).
    sources : sequence of ndarray
        The N >= 2 source images, same size and conventions as ``fused``.
    ground_truth : ndarray, optional
        All-in-focus reference; enables PSNR and SSIM.
    metrics : iterable of str, optional
        Names from :data:`METRICS` (default: all). Reference metrics without a ground truth
        are left out of the result.

    Returns
    -------
    dict
        Metric name -> value, in the order asked.

    Raises
    ------
    ValueError
        Unknown metric names, fewer than two sources, or images of different sizes.
    """
    names = resolve_metrics(metrics)
    f8 = _as_u8(fused)
    shape = f8.shape[:2]
    src8 = [_as_u8(s) for s in sources]
    if len(src8) < 2:
        raise ValueError("scoring needs at least two source images")
    for s in src8:
        if s.shape[:2] != shape:
            raise ValueError(
                f"source size {s.shape[1]}x{s.shape[0]} differs from the fused "
                f"image's {shape[1]}x{shape[0]}"
            )
    fg = gray255(f8)
    sg = [gray255(s) for s in src8]
    gt8 = None if ground_truth is None else _as_u8(ground_truth)
    if gt8 is not None and gt8.shape[:2] != shape:
        raise ValueError("ground truth size differs from the fused image's")
    out: dict[str, float] = {}
    for name in names:
        info = METRICS[name]
        if info.kind == "fusion":
            out[name] = float(info.func(sg, fg))
        elif info.kind == "image":
            out[name] = float(info.func(fg))
        elif gt8 is not None:
            if name == "PSNR":
                a, b = _same_channels(f8, gt8)
                out[name] = psnr(a.astype(np.float64), b.astype(np.float64))
            else:
                out[name] = float(info.func(fg, gray255(gt8)))
    return out


def _as_u8(img: np.ndarray) -> np.ndarray:
    a = to_uint8(np.asarray(img))
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return a


def _same_channels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.ndim == b.ndim:
        return a, b
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2), b
    return a, np.repeat(b[:, :, None], 3, axis=2)
