"""Fast pairwise registration for the translation and similarity models: inverse-compositional
Lucas-Kanade on zero-mean, unit-variance images, coarse to fine.

Per template level the gradients, the steepest-descent images ``J`` and the inverse Hessian are
computed once (S. Baker, I. Matthews, "Lucas-Kanade 20 years on: a unifying framework", IJCV 56,
2004); an iteration is then one warp of the moving image, a normalisation and one
matrix-vector product — about a third of an ECC iteration of OpenCV, whose Jacobian is rebuilt
every iteration. The residual is that of ECC (both images normalised to zero mean and unit
variance, so brightness and contrast changes between frames do not matter), and the returned
correlation is ECC's correlation coefficient, so callers treat both alike.

Only the template's interior (a margin of :data:`MARGIN` of each side left out) is compared, so
no pixel needs a validity mask; when the moving frame does not cover that interior (large
motion), :func:`register_lk` gives up and the caller falls back to ECC.

Warps follow :mod:`mffgui.core.align_register`: ``(3, 3)`` template -> moving pixel coordinates
at full size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from mffgui.core.align_geometry import normalise, project_to_model, rescale_transform
from mffgui.core.align_register import PairResult

__all__ = ["LK_MODELS", "LKPyramid", "build_lk_pyramid", "register_lk"]

LK_MODELS = ("translation", "similarity")
"""Models :func:`register_lk` estimates."""
COARSE_SIDE = 100
"""Longest side of the coarsest level."""
MARGIN = 0.06
"""Fraction of each side of the template left out of the comparison."""
SIGMA = 1.0
"""Gaussian pre-smoothing of every level, in pixels of that level."""
SPARSE_PIXELS = 150_000
"""Region size (pixels) from which only every :data:`SPARSE_STEP`-th row is compared."""
SPARSE_STEP = 2
_TOL = 0.01  # pixels (at the level) of the largest corner move of an update: converged


@dataclass
class _Template:
    """Template data of one level: region, normalised pixels, steepest descent, inverse Hessian."""

    x0: int
    y0: int
    w: int
    h: int
    rows: np.ndarray  # (k + 1, N) float32: k steepest-descent images, then the normalised
    #                   template (zero mean, unit variance)
    sums: np.ndarray  # (k + 1,) float64 row sums of ``rows``
    sd_t: np.ndarray  # (k,) float64 steepest-descent images times the normalised template
    hinv: np.ndarray  # (k, k) float64
    centre: tuple[float, float]
    stride: int = 1  # rows of the region used: every ``stride``-th


@dataclass
class LKPyramid:
    """Pre-smoothed gray levels of one frame, coarse to fine, with lazily built template data.

    Attributes
    ----------
    levels : list of ndarray, (h, w) float32
    scales : list of float
        Size of each level over the full frame size.
    full_shape : (int, int)
        ``(H, W)`` of the full-size frame.
    """

    levels: list[np.ndarray]
    scales: list[float]
    full_shape: tuple[int, int]
    _templates: dict[tuple[int, str, tuple[int, int, int, int]], _Template | None] = field(
        default_factory=dict, repr=False
    )

    @property
    def flat(self) -> bool:
        """Whether the frame has (almost) no contrast to align on."""
        lv = self.levels[-1]
        return float(lv.std()) < 1e-3 * max(1e-6, float(np.abs(lv).max()))

    def template(
        self, k: int, model: str, region: tuple[int, int, int, int] | None = None
    ) -> _Template | None:
        """Template data of level ``k`` for ``model`` over ``region`` ``(x0, y0, w, h)``
        (default: all but a margin of :data:`MARGIN`); ``None`` for a flat region."""
        if region is None:
            region = _region(*self.levels[k].shape)
        key = (k, model, region)
        if key not in self._templates:
            self._templates[key] = _make_template(self.levels[k], model, region)
        return self._templates[key]


def build_lk_pyramid(gray: np.ndarray, scale: float, full_shape: tuple[int, int]) -> LKPyramid:
    """Pyramid from a (possibly already reduced) gray frame.

    Parameters
    ----------
    gray : ndarray, (h, w) float
        Luma at ``scale`` times the full size.
    scale : float
        Its size over the full size.
    full_shape : (int, int)
        ``(H, W)`` of the full-size frame.
    """
    g = np.ascontiguousarray(gray, dtype=np.float32)
    levels: list[np.ndarray] = [g]
    scales = [scale]
    while max(levels[0].shape) > 2 * COARSE_SIDE:
        h, w = levels[0].shape
        size = ((w + 1) // 2, (h + 1) // 2)
        levels.insert(0, cv2.resize(levels[0], size, interpolation=cv2.INTER_AREA))
        scales.insert(0, scales[0] * size[0] / w)
    levels = [cv2.GaussianBlur(lv, (0, 0), SIGMA) for lv in levels]
    return LKPyramid(levels, scales, full_shape)


def _region(h: int, w: int) -> tuple[int, int, int, int]:
    """``(x0, y0, w, h)`` of a level of size ``(h, w)`` less a margin of :data:`MARGIN`."""
    mx, my = max(2, math.ceil(MARGIN * w)), max(2, math.ceil(MARGIN * h))
    return mx, my, w - 2 * mx, h - 2 * my


def _fit_region(
    warp: np.ndarray, shape: tuple[int, int], moving_shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The default region, or a smaller one the moving level covers under ``warp``."""
    h, w = shape
    x0, y0, rw, rh = _region(h, w)
    mh, mw = moving_shape
    inv = np.linalg.inv(warp)
    q = np.array([[0, 0, 1], [mw - 1, 0, 1], [mw - 1, mh - 1, 1], [0, mh - 1, 1]], float)
    q = q @ inv.T
    q = q[:, :2] / q[:, 2:3]
    pad_x, pad_y = 0.02 * w + 2, 0.02 * h + 2
    lo_x = max(x0, math.ceil(max(q[0, 0], q[3, 0]) + pad_x))
    hi_x = min(x0 + rw, math.floor(min(q[1, 0], q[2, 0]) - pad_x))
    lo_y = max(y0, math.ceil(max(q[0, 1], q[1, 1]) + pad_y))
    hi_y = min(y0 + rh, math.floor(min(q[2, 1], q[3, 1]) - pad_y))
    if (hi_x - lo_x) * (hi_y - lo_y) < 0.25 * w * h or hi_x <= lo_x or hi_y <= lo_y:
        return None
    # Multiples of 8 px so nearby warps share one region's template data.
    lo_x, lo_y = -(-lo_x // 8) * 8, -(-lo_y // 8) * 8
    return lo_x, lo_y, (hi_x - lo_x) // 8 * 8, (hi_y - lo_y) // 8 * 8


def _make_template(
    img: np.ndarray, model: str, region: tuple[int, int, int, int]
) -> _Template | None:
    """Template data of ``region`` ``(x0, y0, w, h)`` of level ``img`` ``(h, w)`` float32.

    ``None`` when the region is too small or flat, or its Hessian is singular.
    """
    x0, y0, rw, rh = region
    if rw < 8 or rh < 8:
        return None
    # Large levels use every other row: half the work, sub-pixel precision all the same.
    step = SPARSE_STEP if rw * rh >= SPARSE_PIXELS else 1
    roi = img[y0 : y0 + rh : step, x0 : x0 + rw]
    mean, std = cv2.meanStdDev(roi)
    sd_ = float(std[0, 0])
    if sd_ < 1e-6:
        return None
    # Gradients from the whole level so the region's border pixels have both neighbours.
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=1, scale=0.5 / sd_)[
        y0 : y0 + rh : step, x0 : x0 + rw
    ]
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=1, scale=0.5 / sd_)[
        y0 : y0 + rh : step, x0 : x0 + rw
    ]
    cx, cy = x0 + (rw - 1) / 2.0, y0 + (rh - 1) / 2.0
    k = 2 if model == "translation" else 4
    rows = np.empty((k + 1, *roi.shape), np.float32)
    if model == "translation":
        rows[0], rows[1] = gx, gy
    else:
        xs = (np.arange(rw, dtype=np.float32) + np.float32(x0 - cx))[None, :]
        ys = (np.arange(0, rh, step, dtype=np.float32) + np.float32(y0 - cy))[:, None]
        np.multiply(xs, gx, out=rows[0])
        rows[0] += ys * gy
        np.multiply(xs, gy, out=rows[1])
        rows[1] -= ys * gx
        rows[2], rows[3] = gx, gy
    np.subtract(roi, np.float32(mean[0, 0]), out=rows[k])
    rows[k] *= np.float32(1.0 / sd_)
    rows = rows.reshape(k + 1, -1)
    # One pass for the Hessian and J^T T. einsum, not BLAS: OpenBLAS's threads spin against
    # the registration threads and other work (measured: 1.7x the CPU time on 2 cores).
    gram = np.einsum("ij,kj->ik", rows, rows).astype(np.float64)
    try:
        hinv = np.linalg.inv(gram[:k, :k])
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(hinv)):
        return None
    sums = rows.sum(axis=1, dtype=np.float64)
    return _Template(x0, y0, rw, rh, rows, sums, gram[:k, k].copy(), hinv, (cx, cy), step)


def _increment(dp: np.ndarray, model: str, centre: tuple[float, float]) -> np.ndarray:
    """The ``(3, 3)`` warp of parameters ``dp`` in level pixel coordinates."""
    d = np.eye(3)
    if model == "translation":
        d[:2, 2] = dp
        return d
    a, b, tx, ty = dp
    cx, cy = centre
    d[:2, :2] = [[1 + a, -b], [b, 1 + a]]
    d[:2, 2] = [tx + cx - (1 + a) * cx + b * cy, ty + cy - b * cx - (1 + a) * cy]
    return d


def _covers(warp: np.ndarray, t: _Template, shape: tuple[int, int]) -> bool:
    """Whether the moving level covers the template region mapped through ``warp``."""
    pts = np.array(
        [
            [t.x0, t.y0, 1],
            [t.x0 + t.w - 1, t.y0, 1],
            [t.x0, t.y0 + t.h - 1, 1],
            [t.x0 + t.w - 1, t.y0 + t.h - 1, 1],
        ],
        dtype=np.float64,
    )
    q = pts @ warp.T
    q = q[:, :2] / q[:, 2:3]
    h, w = shape
    return bool(np.all(q >= 0) and np.all(q[:, 0] <= w - 1) and np.all(q[:, 1] <= h - 1))


def _solve(
    pyr: LKPyramid, k: int, moving: np.ndarray, warp: np.ndarray, model: str, iterations: int
) -> tuple[float, np.ndarray] | None:
    """Iterate at level ``k`` from ``warp`` (level coordinates); ``None`` when the moving level
    does not cover enough of the template or the region is flat."""
    t = pyr.template(k, model)
    refits = 0
    rho = math.nan
    for _ in range(iterations):
        if t is None:
            return None
        if not _covers(warp, t, moving.shape):
            refits += 1
            region = _fit_region(warp, pyr.levels[k].shape, moving.shape)
            if refits > 3 or region is None:
                return None
            t = pyr.template(k, model, region)
            continue
        # Output pixel (u, v) samples the template's (x0 + u, y0 + stride * v).
        shift = np.array([[1.0, 0.0, t.x0], [0.0, float(t.stride), t.y0], [0.0, 0.0, 1.0]])
        m = (warp @ shift)[:2].astype(np.float32)
        rows_out = -(-t.h // t.stride)
        iw = cv2.warpAffine(
            moving,
            m,
            (t.w, rows_out),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        mean, std = cv2.meanStdDev(iw)
        mu, s = float(mean[0, 0]), float(std[0, 0])
        if s < 1e-9:
            return None
        # J^T (I_n - T_n) and I_n . T_n in one matrix-vector product on the raw warped image:
        # I_n = (I - mu) / s, and the template row has zero sum.
        prod = np.einsum("ij,j->i", t.rows, iw.reshape(-1)).astype(np.float64)
        q = len(t.sd_t)
        rho = float(prod[q] - mu * t.sums[q]) / (s * iw.size)
        dp = t.hinv @ ((prod[:q] - mu * t.sums[:q]) / s - t.sd_t)
        warp = warp @ np.linalg.inv(_increment(dp, model, t.centre))
        if not np.all(np.isfinite(warp)):
            return None
        move = np.abs(dp[-2:]).max() + (
            0.0 if model == "translation" else np.abs(dp[:2]).max() * max(t.w, t.h) / 2
        )
        if move < _TOL:
            break
    if math.isnan(rho):
        return None
    return rho, warp


def _phase_start(t: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``(3, 3)`` translation warp (level coordinates) of ``m`` against ``t`` by phase
    correlation."""
    win = cv2.createHanningWindow(t.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(t.copy(), m.copy(), win)
    w = np.eye(3)
    w[:2, 2] = (dx, dy)
    return w


def register_lk(
    template: LKPyramid,
    moving: LKPyramid,
    model: str,
    init: np.ndarray | None = None,
    *,
    coarse_iterations: int = 30,
    fine_iterations: int = 20,
) -> PairResult | None:
    """Register ``moving`` to ``template`` by inverse-compositional Lucas-Kanade.

    Parameters
    ----------
    template, moving : LKPyramid
        Pyramids of two frames of one size.
    model : {"translation", "similarity"}
    init : ndarray, (3, 3), optional
        Starting warp (template -> moving, full size); tried alongside phase correlation and the
        identity at the coarsest level, the best-correlating start is refined.
    coarse_iterations, fine_iterations : int
        Iteration limits at the coarsest and at every finer level (most converge in a few).

    Returns
    -------
    PairResult or None
        ``None`` when this method cannot tell (a start leaves the frame, a flat level): the
        caller falls back to ECC.
    """
    if model not in LK_MODELS or len(template.levels) != len(moving.levels):
        return None
    if template.flat or moving.flat:
        return PairResult(None, math.nan, "frame has no contrast to align on")
    s0 = template.scales[0]
    starts = [_phase_start(template.levels[0], moving.levels[0]), np.eye(3)]
    if init is not None:
        starts.insert(0, project_to_model(rescale_transform(init, s0), model))
    best: tuple[float, np.ndarray] | None = None
    for w in starts:
        out = _solve(template, 0, moving.levels[0], w, model, coarse_iterations)
        if out is not None and (best is None or out[0] > best[0]):
            best = out
    if best is None:
        return None
    rho, w = best
    w_full = rescale_transform(w, 1.0 / s0)
    for k in range(1, len(template.levels)):
        sk = template.scales[k]
        out = _solve(
            template, k, moving.levels[k], rescale_transform(w_full, sk), model, fine_iterations
        )
        if out is None:
            return None
        rho, wk = out
        w_full = rescale_transform(wk, 1.0 / sk)
    if not np.all(np.isfinite(w_full)):
        return None
    return PairResult(normalise(project_to_model(w_full, model)), rho)
