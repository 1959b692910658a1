"""Phase-congruency fusion metric Q_P (Zhao et al.) and Kovesi's phase congruency.

Ports of ``metricZhao.m`` and ``myphasecong3.m`` (Z. Liu's revision of P. Kovesi's
``phasecong3.m``: returns the orientation-summed phase congruency and the maximum and minimum
moments of the phase-congruency covariance) as used by the Liu et al. 2020 survey.

References: J. Zhao, R. Laganière, Z. Liu, "Performance assessment of combinative pixel-level
image fusion based on an absolute feature measurement", Int. J. Innovative Computing,
Information and Control 3 (6A) (2007) 1433-1447; P. Kovesi, "Image features from phase
congruency", Videre 1 (3) (1999).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from mffgui.metrics.common import check_inputs, filter2_sep, fspecial_gaussian_1d

_EPS = 0.0001
_WORKERS = -1  # FFT threads: all cores


@dataclass(frozen=True)
class PhaseCongruency:
    """Outputs of :func:`phase_congruency`, each ``(H, W)`` float64.

    Attributes
    ----------
    pc : ndarray
        Phase congruency summed over orientations, ``0..1``.
    max_moment : ndarray
        Maximum moment of the PC covariance (edge strength).
    min_moment : ndarray
        Minimum moment of the PC covariance (corner strength).
    """

    pc: np.ndarray
    max_moment: np.ndarray
    min_moment: np.ndarray


@dataclass(frozen=True)
class _Bank:
    log_gabor: tuple[np.ndarray, ...]  # per scale, (H, W)
    spread: tuple[np.ndarray, ...]  # per orientation, (H, W)
    em_n: tuple[float, ...]  # per orientation: sum of squared smallest-scale filter
    sum_an2: tuple[float, ...]  # per orientation: sum over pixels of sum_s ifft(filter_s)^2
    sum_aiaj: tuple[float, ...]  # per orientation: sum of cross products between scales


@lru_cache(maxsize=4)
@lru_cache(maxsize=2)
def _filter_bank(
    rows: int,
    cols: int,
    nscale: int,
    norient: int,
    min_wavelength: float,
    mult: float,
    sigma_on_f: float,
    d_theta_on_sigma: float,
) -> _Bank:
    """The log-Gabor bank and its noise statistics for an image size (cached: it depends on
    the size and parameters only, and every metric call scores three images of one size)."""
    bank = _make_filter_bank(
        rows, cols, nscale, norient, min_wavelength, mult, sigma_on_f, d_theta_on_sigma
    )
    for arr in (*bank.log_gabor, *bank.spread):
        arr.setflags(write=False)
    return bank


def _make_filter_bank(
    rows: int,
    cols: int,
    nscale: int,
    norient: int,
    min_wavelength: float,
    mult: float,
    sigma_on_f: float,
    d_theta_on_sigma: float,
) -> _Bank:
    theta_sigma = np.pi / norient / d_theta_on_sigma
    if cols % 2:
        xr = np.arange(-(cols - 1) / 2, (cols - 1) / 2 + 1) / (cols - 1)
    else:
        xr = np.arange(-cols / 2, cols / 2) / cols
    if rows % 2:
        yr = np.arange(-(rows - 1) / 2, (rows - 1) / 2 + 1) / (rows - 1)
    else:
        yr = np.arange(-rows / 2, rows / 2) / rows
    x, y = np.meshgrid(xr, yr)
    radius = np.sqrt(x * x + y * y)
    radius[rows // 2, cols // 2] = 1.0
    theta = np.arctan2(-y, x)
    radius = np.fft.ifftshift(radius)
    theta = np.fft.ifftshift(theta)
    sintheta, costheta = np.sin(theta), np.cos(theta)

    # lowpassfilter([rows, cols], .45, 15); note it uses fftshift, not ifftshift.
    lx = (np.arange(1, cols + 1) - (cols // 2 + 1)) / cols
    ly = (np.arange(1, rows + 1) - (rows // 2 + 1)) / rows
    lxx, lyy = np.meshgrid(lx, ly)
    lp = np.fft.fftshift(1.0 / (1.0 + (np.sqrt(lxx * lxx + lyy * lyy) / 0.45) ** 30))

    log_gabor = []
    for s in range(nscale):
        fo = 1.0 / (min_wavelength * mult**s)
        lg = np.exp(-(np.log(radius / fo) ** 2) / (2.0 * np.log(sigma_on_f) ** 2)) * lp
        lg[0, 0] = 0.0
        log_gabor.append(lg)

    spread, em_n, sum_an2, sum_aiaj = [], [], [], []
    scale = np.sqrt(rows * cols)
    for o in range(norient):
        angl = o * np.pi / norient
        ds = sintheta * np.cos(angl) - costheta * np.sin(angl)
        dc = costheta * np.cos(angl) + sintheta * np.sin(angl)
        dtheta = np.abs(np.arctan2(ds, dc))
        sp = np.exp(-(dtheta * dtheta) / (2.0 * theta_sigma**2))
        spread.append(sp)
        iffts = [np.real(np.fft.ifft2(lg * sp)) * scale for lg in log_gabor]
        em_n.append(float(np.sum((log_gabor[0] * sp) ** 2)))
        sum_an2.append(float(np.sum(np.sum([f * f for f in iffts], axis=0))))
        cross = np.zeros((rows, cols))
        for i in range(nscale - 1):
            for j in range(i + 1, nscale):
                cross += iffts[i] * iffts[j]
        sum_aiaj.append(float(np.sum(cross)))
    return _Bank(tuple(log_gabor), tuple(spread), tuple(em_n), tuple(sum_an2), tuple(sum_aiaj))


def phase_congruency(
    img: np.ndarray,
    nscale: int = 4,
    norient: int = 6,
    min_wavelength: float = 3.0,
    mult: float = 2.1,
    sigma_on_f: float = 0.55,
    d_theta_on_sigma: float = 1.2,
    k: float = 2.0,
    cut_off: float = 0.5,
    g: float = 10.0,
) -> PhaseCongruency:
    """Kovesi's phase congruency with Z. Liu's outputs (``myphasecong3.m``, default parameters).

    Parameters
    ----------
    img : ndarray, (H, W) float64
        Gray image (the metric uses ``0..255``).
    nscale, norient, min_wavelength, mult, sigma_on_f, d_theta_on_sigma, k, cut_off, g
        Log-Gabor filter bank and noise-compensation parameters, as in ``phasecong3.m``.

    Returns
    -------
    PhaseCongruency
    """
    im = np.asarray(img, dtype=np.float64)
    rows, cols = im.shape
    bank = _filter_bank(
        rows,
        cols,
        nscale,
        norient,
        float(min_wavelength),
        float(mult),
        float(sigma_on_f),
        float(d_theta_on_sigma),
    )
    imagefft = scipy.fft.fft2(im, workers=_WORKERS)
    log_gabor = np.stack(bank.log_gabor)
    total_energy = np.zeros((rows, cols))
    total_sum_an = np.zeros((rows, cols))
    covx2 = np.zeros((rows, cols))
    covy2 = np.zeros((rows, cols))
    covxy = np.zeros((rows, cols))
    for o in range(norient):
        angl = o * np.pi / norient
        eo = scipy.fft.ifft2(
            (imagefft * bank.spread[o]) * log_gabor, axes=(-2, -1), workers=_WORKERS
        )
        an = np.abs(eo)
        sum_an = an.sum(axis=0)
        max_an = an.max(axis=0)
        sum_eo = eo.sum(axis=0)
        x_energy = np.abs(sum_eo) + _EPS
        # With m = (sum E + i sum O) / XEnergy, E*mE + O*mO = Re(eo conj(m)) and
        # |E*mO - O*mE| = |Im(eo conj(m))|.
        z = eo * (np.conj(sum_eo) / x_energy)
        energy = (z.real - np.abs(z.imag)).sum(axis=0)
        median_e2n = float(np.median(an[0] * an[0]))
        mean_e2n = -median_e2n / np.log(0.5)
        noise_power = mean_e2n / bank.em_n[o]
        est_noise_energy2 = (
            2.0 * noise_power * bank.sum_an2[o] + 4.0 * noise_power * bank.sum_aiaj[o]
        )
        tau = np.sqrt(est_noise_energy2 / 2.0)
        est_noise_energy = tau * np.sqrt(np.pi / 2.0)
        est_noise_sigma = np.sqrt((2.0 - np.pi / 2.0) * tau * tau)
        t = (est_noise_energy + k * est_noise_sigma) / 1.7
        energy = np.maximum(energy - t, 0.0)
        width = sum_an / (max_an + _EPS) / nscale
        weight = 1.0 / (1.0 + np.exp((cut_off - width) * g))
        energy_o = weight * energy
        total_sum_an += sum_an
        total_energy += energy_o
        with np.errstate(divide="ignore", invalid="ignore"):
            pc_o = energy_o / sum_an
        covx = pc_o * np.cos(angl)
        covy = pc_o * np.sin(angl)
        covx2 += covx * covx
        covy2 += covy * covy
        covxy += covx * covy
    pc = total_energy / (total_sum_an + _EPS)
    covx2 /= norient / 2.0
    covy2 /= norient / 2.0
    covxy /= norient
    denom = np.sqrt(covxy * covxy + (covx2 - covy2) ** 2) + _EPS
    return PhaseCongruency(pc, (covy2 + covx2 + denom) / 2.0, (covy2 + covx2 - denom) / 2.0)


def _feature_score(
    feats: list[np.ndarray],
    feat_max: np.ndarray,
    feat_f: np.ndarray,
    masks: list[np.ndarray],
    mask_max: np.ndarray,
) -> float:
    """``correlation_coeffcient`` of ``metricZhao.m`` for N sources."""
    k = fspecial_gaussian_1d(11, 1.5)
    c = 0.0001
    mu_f = filter2_sep(feat_f, k)
    var_f = filter2_sep(feat_f * feat_f, k) - mu_f * mu_f
    result = None
    for feat, mask in [*zip(feats, masks, strict=True), (feat_max, mask_max)]:
        x = mask * feat
        mu = filter2_sep(x, k)
        var = filter2_sep(x * x, k) - mu * mu
        cov = filter2_sep(x * feat_f, k) - mu * mu_f
        res = np.where(mask, (cov + c) / (np.sqrt(np.abs(var * var_f)) + c), 0.0)
        result = res if result is None else np.maximum(result, res)
    assert result is not None  # the loop runs at least once (the max feature)
    area = float(np.sum(mask_max))
    return float(np.sum(result)) / area if area else 0.0


_PC_CACHE: dict[bytes, PhaseCongruency] = {}
_PC_CACHE_BYTES = 256 * 2**20
_PC_LOCK = threading.Lock()


def _phase_congruency_cached(img: np.ndarray) -> PhaseCongruency:
    """:func:`phase_congruency` with default parameters, memoised by image content.

    Scoring many fused images of one scene (benchmarks, compare views) recomputes the
    sources' phase congruency otherwise, which is two thirds of Q_P's cost.
    """
    a = np.ascontiguousarray(img, dtype=np.float64)
    key = hashlib.blake2b(a.tobytes(), digest_size=16).digest() + repr(a.shape).encode()
    with _PC_LOCK:
        hit = _PC_CACHE.get(key)
    if hit is not None:
        return hit
    res = phase_congruency(a)
    per_entry = 3 * a.nbytes
    with _PC_LOCK:
        while _PC_CACHE and (len(_PC_CACHE) + 1) * per_entry > _PC_CACHE_BYTES:
            _PC_CACHE.pop(next(iter(_PC_CACHE)))
        if per_entry <= _PC_CACHE_BYTES:
            _PC_CACHE[key] = res
    return res


def qp(sources: Sequence[np.ndarray], fused: np.ndarray, threshold: float = 0.1) -> float:
    """Q_P: Zhao et al.'s phase-congruency feature metric.

    Parameters
    ----------
    sources : sequence of ndarray, each (H, W) float64
        Gray source images in ``0..255``.
    fused : ndarray, (H, W) float64
    threshold : float
        Phase congruency above which a pixel is a feature (0.1 in the reference).

    Returns
    -------
    float
        Product of the scores for phase congruency, maximum and minimum moment; at most 1,
        higher is better.

    Notes
    -----
    Each feature map of the fused image is compared (local correlation, 11x11 Gaussian
    windows) with every source's map and with the "max" map taken from the source of largest
    phase congruency; the best comparison counts per pixel, averaged over the max map's
    feature pixels. For N sources the max map takes each pixel from the source with the
    largest phase congruency (the later source on ties, as the reference does for N = 2) and
    the per-pixel best runs over all N + 1 comparisons. If no pixel is a feature the score is
    0 (the reference divides by zero).
    """
    srcs = check_inputs(sources, fused)
    pcs = [_phase_congruency_cached(s) for s in srcs]
    pcf = phase_congruency(np.asarray(fused, dtype=np.float64))
    pc_max, big_m, small_m = pcs[0].pc, pcs[0].max_moment, pcs[0].min_moment
    for p in pcs[1:]:
        take = p.pc >= pc_max
        pc_max = np.where(take, p.pc, pc_max)
        big_m = np.where(take, p.max_moment, big_m)
        small_m = np.where(take, p.min_moment, small_m)
    masks = [p.pc > threshold for p in pcs]
    mask_max = pc_max > threshold
    r_pc = _feature_score([p.pc for p in pcs], pc_max, pcf.pc, masks, mask_max)
    r_big = _feature_score([p.max_moment for p in pcs], big_m, pcf.max_moment, masks, mask_max)
    r_small = _feature_score([p.min_moment for p in pcs], small_m, pcf.min_moment, masks, mask_max)
    return r_pc * r_big * r_small
