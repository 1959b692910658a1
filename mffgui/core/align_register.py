"""Pairwise registration of two focus-stack frames: coarse robust start, ECC pyramid refinement.

Internally every warp follows OpenCV's ECC convention: a ``(3, 3)`` matrix ``W`` mapping
*template* pixel coordinates to *moving* pixel coordinates (``moving(W x) ≈ template(x)``),
expressed at full resolution (see :func:`~mffgui.core.align_geometry.rescale_transform`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mffgui.core.align_geometry import normalise, project_to_model, rescale_transform

_ECC_MOTION = {
    "translation": cv2.MOTION_TRANSLATION,
    # ECC has no similarity model: fit affine and project onto similarity after every level.
    "similarity": cv2.MOTION_AFFINE,
    "affine": cv2.MOTION_AFFINE,
    "homography": cv2.MOTION_HOMOGRAPHY,
}

COARSE_SIZE = 256
"""Longest side, in pixels, of the coarsest pyramid level."""


def normalise_contrast(gray: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """Percentile stretch of a gray image to ``[0, 1]`` so narrow-range data aligns too.

    Parameters
    ----------
    gray : ndarray, (H, W) float32
    lo_pct, hi_pct : float
        Percentiles mapped to 0 and 1.

    Returns
    -------
    ndarray, (H, W) float32 in ``[0, 1]`` (all zeros for a constant image).
    """
    sample = gray[:: max(1, gray.shape[0] // 256), :: max(1, gray.shape[1] // 256)]
    lo, hi = np.percentile(sample, [lo_pct, hi_pct])
    if hi - lo <= 1e-12:
        lo, hi = float(gray.min()), float(gray.max())
        if hi - lo <= 1e-12:
            return np.zeros_like(gray, dtype=np.float32)
    out = (gray.astype(np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass
class Pyramid:
    """Contrast-normalised gray images of one frame, coarse to fine.

    Attributes
    ----------
    levels : list of ndarray, (h, w) float32
        Images at ``scales[k]`` times the full size.
    scales : list of float
        Resize factor of each level (the last is the finest used).
    full_shape : (int, int)
        ``(H, W)`` of the full-size frame.
    """

    levels: list[np.ndarray]
    scales: list[float]
    full_shape: tuple[int, int]

    @property
    def flat(self) -> bool:
        """Whether the frame has (almost) no contrast to align on."""
        return float(self.levels[-1].std()) < 1e-3


def build_pyramid(
    gray: np.ndarray, max_size: int, scale: float = 1.0, full_shape: tuple[int, int] | None = None
) -> Pyramid:
    """Pyramid of ``gray`` whose finest level has its longest side at most ``max_size``.

    Parameters
    ----------
    gray : ndarray, (h, w) float32
        Luma in any range, at ``scale`` times the full size.
    max_size : int
        Longest side of the finest level (the size of ``gray`` if smaller).
    scale : float
        Size of ``gray`` over the full frame size (1: ``gray`` is the full frame).
    full_shape : (int, int), optional
        ``(H, W)`` of the full frame (default: ``gray``'s shape over ``scale``).
    """
    h, w = gray.shape
    if full_shape is None:
        full_shape = (round(h / scale), round(w / scale))
    s = min(1.0, max_size / max(h, w))
    scales = [s]
    while max(h, w) * scales[0] > 2 * COARSE_SIZE:
        scales.insert(0, scales[0] / 2.0)
    levels = []
    for sc in scales:
        size = (max(8, round(w * sc)), max(8, round(h * sc)))
        img = gray if sc == 1.0 else cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        levels.append(normalise_contrast(img))
    # Exact factors from the rounded sizes keep sub-pixel geometry consistent.
    scales = [scale * lv.shape[1] / w for lv in levels]
    return Pyramid(levels, scales, full_shape)


@dataclass(frozen=True)
class PairResult:
    """Outcome of registering a moving frame to a template frame.

    Attributes
    ----------
    warp : ndarray, (3, 3) float64
        Template -> moving coordinates at full size (``None`` when registration failed).
    correlation : float
        ECC correlation coefficient at the finest level (NaN when it failed).
    reason : str
        Why it failed (empty on success).
    """

    warp: np.ndarray | None
    correlation: float
    reason: str = ""


def _ecc(
    template: np.ndarray,
    moving: np.ndarray,
    warp: np.ndarray,
    model: str,
    iterations: int,
    eps: float,
    gauss: int,
) -> tuple[float, np.ndarray]:
    """One ECC run at one level; ``warp`` in that level's coordinates. Raises ``cv2.error``."""
    motion = _ECC_MOTION[model]
    w0 = normalise(warp).astype(np.float32)
    if motion != cv2.MOTION_HOMOGRAPHY:
        w0 = np.ascontiguousarray(w0[:2])
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, eps)
    # OpenCV's stubs want a mask array whenever gaussFiltSize is given; None (no mask) is valid.
    rho, w = cv2.findTransformECC(  # type: ignore[call-overload, unused-ignore]
        template, moving, w0, motion, criteria, None, gauss
    )
    out = np.eye(3)
    out[: w.shape[0]] = w
    return float(rho), project_to_model(out, model)


def _phase_shift(template: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, float]:
    """Translation warp (level coordinates) from phase correlation, and its peak response."""
    win = cv2.createHanningWindow(template.shape[::-1], cv2.CV_32F)
    # OpenCV 5.0 multiplies the inputs by the window in place: pass copies.
    (dx, dy), response = cv2.phaseCorrelate(template.copy(), moving.copy(), win)
    w = np.eye(3)
    w[:2, 2] = (dx, dy)
    return w, float(response)


def _feature_warp(template: np.ndarray, moving: np.ndarray, model: str) -> np.ndarray | None:
    """Warp (level coordinates) from SIFT matches + RANSAC, or ``None`` without enough matches."""
    sift = cv2.SIFT.create(nfeatures=2000)  # per call: detectors are not thread-safe
    t8 = np.round(template * 255).astype(np.uint8)
    m8 = np.round(moving * 255).astype(np.uint8)
    kt, dt = sift.detectAndCompute(t8, None)
    km, dm = sift.detectAndCompute(m8, None)
    if dt is None or dm is None or len(kt) < 8 or len(km) < 8:
        return None
    matches = cv2.BFMatcher(cv2.NORM_L2).knnMatch(dt, dm, k=2)
    good = [p[0] for p in matches if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < 8:
        return None
    src = np.array([kt[g.queryIdx].pt for g in good], dtype=np.float32)
    dst = np.array([km[g.trainIdx].pt for g in good], dtype=np.float32)
    thr = 2.0
    if model == "homography":
        h, inl = cv2.findHomography(src, dst, cv2.RANSAC, thr)
    elif model == "affine":
        a, inl = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=thr)
        h = None if a is None else np.vstack([a, [0, 0, 1]])
    else:
        a, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=thr)
        h = None if a is None else np.vstack([a, [0, 0, 1]])
    if h is None or inl is None or int(inl.sum()) < 8:
        return None
    return project_to_model(h, model)


def register(
    template: Pyramid,
    moving: Pyramid,
    model: str,
    init: np.ndarray | None = None,
    *,
    min_correlation: float = 0.5,
    levels_from: int = 0,
) -> PairResult:
    """Register ``moving`` to ``template``: robust coarse start, then ECC level by level.

    Parameters
    ----------
    template, moving : Pyramid
        Pyramids built with the same ``max_size`` from same-size frames.
    model : str
        One of ``translation``, ``similarity``, ``affine``, ``homography``.
    init : ndarray, (3, 3), optional
        Starting warp at full size (template -> moving). When given, it is tried alongside
        phase correlation and (if those correlate poorly) SIFT + RANSAC; the best start wins.
    min_correlation : float
        Coarse-level correlation below which SIFT features are tried as another start.
    levels_from : int
        First pyramid level to run ECC on (``> 0`` skips coarse levels; used when ``init`` is
        already accurate).

    Returns
    -------
    PairResult
    """
    if template.flat or moving.flat:
        return PairResult(None, math.nan, "frame has no contrast to align on")
    start = min(levels_from, len(template.levels) - 1)
    s0 = template.scales[start]
    t0, m0 = template.levels[start], moving.levels[start]
    starts: list[np.ndarray] = []
    if init is not None:
        starts.append(rescale_transform(init, s0))
    if start == 0:
        shift, _ = _phase_shift(t0, m0)
        starts.append(shift)
        starts.append(np.eye(3))
    best: tuple[float, np.ndarray] | None = None
    for w in starts:
        cand = _coarse(t0, m0, w, model)
        if cand is not None and (best is None or cand[0] > best[0]):
            best = cand
    if start == 0 and (best is None or best[0] < max(min_correlation, 0.8)):
        # The phase-correlation start fails for large scale/rotation changes; features do not.
        fine_k = _level_near(template, 800)
        fw = _feature_warp(template.levels[fine_k], moving.levels[fine_k], model)
        if fw is not None:
            fw = rescale_transform(rescale_transform(fw, 1.0 / template.scales[fine_k]), s0)
            cand = _coarse(t0, m0, fw, model)
            if cand is not None and (best is None or cand[0] > best[0]):
                best = cand
    if best is None:
        return PairResult(None, math.nan, "registration did not converge")
    rho, w = best
    w_full = rescale_transform(w, 1.0 / s0)
    for k in range(start + 1, len(template.levels)):
        sk = template.scales[k]
        wk = rescale_transform(w_full, sk)
        try:
            rho, wk = _ecc(
                template.levels[k], moving.levels[k], wk, model, iterations=40, eps=1e-6, gauss=5
            )
        except cv2.error:
            return PairResult(None, math.nan, "registration did not converge at full detail")
        w_full = rescale_transform(wk, 1.0 / sk)
    if not np.all(np.isfinite(w_full)):
        return PairResult(None, math.nan, "registration diverged")
    return PairResult(normalise(w_full), rho)


def _level_near(p: Pyramid, size: int) -> int:
    """Index of the coarsest level whose longest side is at least ``size`` (else the finest)."""
    for k, lv in enumerate(p.levels):
        if max(lv.shape) >= size:
            return k
    return len(p.levels) - 1


def _coarse(
    t: np.ndarray, m: np.ndarray, w: np.ndarray, model: str
) -> tuple[float, np.ndarray] | None:
    """Coarse-level ECC: translation first (robust), then the model; ``None`` if it fails."""
    try:
        if model != "translation" and np.allclose(w[:2, :2], np.eye(2)) and not w[2, :2].any():
            _, w = _ecc(t, m, w, "translation", iterations=50, eps=1e-4, gauss=5)
        return _ecc(t, m, w, model, iterations=100, eps=1e-5, gauss=5)
    except cv2.error:
        return None
