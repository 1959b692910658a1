"""Information-theory metrics: Q_MI (Hossny), Q_NCIE (Wang) and the entropy EN.

Ports of ``metricMI.m`` (with ``mutual_info.m``), ``metricWang.m`` (with ``NCC.m``) and
``normalize1.m`` of Z. Liu's metric toolbox as used by the Liu et al. 2020 survey. Every image is
first stretched to ``0..255`` and rounded (``normalize1``); histograms have 256 bins.

References: M. Hossny, S. Nahavandi, D. Creighton, "Comments on 'Information measure for
performance of image fusion'", Electronics Letters 44 (18) (2008) 1066-1067; Q. Wang, Y. Shen,
J. Jin, "Performance evaluation of image fusion techniques", in Image Fusion: Algorithms and
Applications (2008) 469-492.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mffgui.metrics.common import check_inputs, normalize1

_BINS = 256


def _plogp(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-np.sum(nz * np.log2(nz)))


def _joint_entropies(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """``(H(a), H(b), H(a, b))`` in bits of two integer images in ``0..255``."""
    idx = a.astype(np.int64).ravel() * _BINS + b.astype(np.int64).ravel()
    h = np.bincount(idx, minlength=_BINS * _BINS).astype(np.float64)
    h /= h.sum()
    h2 = h.reshape(_BINS, _BINS)
    return _plogp(h2.sum(axis=1)), _plogp(h2.sum(axis=0)), _plogp(h)


def qmi(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_MI: normalised mutual information between the sources and the fused image.

    Parameters
    ----------
    sources : sequence of ndarray, each (H, W) float64
        Gray source images (any range; each is stretched to ``0..255`` as the reference does).
    fused : ndarray, (H, W) float64

    Returns
    -------
    float
        ``0..2`` for two sources, higher is better.

    Notes
    -----
    Hossny's form is ``2 [MI(A,F) / (H(A) + H(F)) + MI(B,F) / (H(B) + H(F))]``. For N sources
    the sum is scaled by ``2 / N`` so that the range stays ``0..2`` and N = 2 is unchanged:
    ``Q_MI = (2 / N) sum_i 2 MI(S_i, F) / (H(S_i) + H(F))``.
    """
    srcs = check_inputs(sources, fused)
    f = normalize1(fused)
    total = 0.0
    for s in srcs:
        hs, hf, hsf = _joint_entropies(normalize1(s), f)
        mi = hs + hf - hsf
        total += mi / (hs + hf) if hs + hf > 0 else 0.0
    return 2.0 * total * (2.0 / len(srcs))


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    ha, hb, hab = _joint_entropies(a, b)
    return (ha + hb - hab) / np.log2(_BINS)


def qncie(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_NCIE: nonlinear correlation information entropy of sources and fused image.

    Parameters
    ----------
    sources : sequence of ndarray, each (H, W) float64
    fused : ndarray, (H, W) float64

    Returns
    -------
    float
        ``0..1``, higher is better.

    Notes
    -----
    The nonlinear correlation matrix ``R`` holds the normalised mutual information
    (``NCC``, base-256 logarithms) of every pair of the K = N + 1 images (sources, then fused)
    with ones on the diagonal; ``Q_NCIE = 1 + sum_k (l_k / K) log_256(l_k / K)`` over the
    eigenvalues ``l_k`` of ``R``. The reference code is the case N = 2; the definition is
    Wang's for any K.
    """
    srcs = check_inputs(sources, fused)
    imgs = [normalize1(s) for s in srcs] + [normalize1(fused)]
    k = len(imgs)
    r = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            r[i, j] = r[j, i] = _ncc(imgs[i], imgs[j])
    ev = np.linalg.eigvalsh(r)
    ev = ev[ev > 0]
    hr = -float(np.sum(ev / k * np.log2(ev / k))) / np.log2(_BINS)
    return 1.0 - hr


def entropy(fused: np.ndarray) -> float:
    """EN: Shannon entropy (bits) of the gray levels of an image, 256 bins of width 1.

    Parameters
    ----------
    fused : ndarray, (H, W) float64
        Gray image in ``0..255`` (levels are floored, as VIFB's ``metricsEntropy.m`` does).

    Returns
    -------
    float
        ``0..8``; higher means more information (and also more noise).
    """
    f = np.clip(np.floor(np.asarray(fused, dtype=np.float64)), 0, _BINS - 1).astype(np.int64)
    h = np.bincount(f.ravel(), minlength=_BINS).astype(np.float64)
    return _plogp(h / f.size)
