"""Geometry helpers for frame alignment: 3x3 transforms, plausibility, common valid area.

All transforms are ``(3, 3)`` float64 homogeneous matrices acting on pixel-centre coordinates
``(x, y, 1)`` (x to the right, y down, pixel ``(0, 0)`` centred at ``(0, 0)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MODELS: tuple[str, ...] = ("translation", "similarity", "affine", "homography")
"""Motion models, from fewest to most degrees of freedom."""

# Limits of a plausible frame-to-reference transform in a focus stack. Focus breathing rarely
# exceeds a few percent per stack, so anything past these is a wrong match, not real motion.
MAX_SCALE_CHANGE = 1.25
MAX_ROTATION_DEG = 15.0
MAX_ANISOTROPY = 1.10
MAX_SHIFT_FRACTION = 0.35
MAX_PERSPECTIVE_FRACTION = 0.05


def scale_matrix(s: float) -> np.ndarray:
    """Pixel-centre coordinates at full size -> at a size resized by factor ``s``."""
    c = 0.5 * s - 0.5
    return np.array([[s, 0.0, c], [0.0, s, c], [0.0, 0.0, 1.0]])


def rescale_transform(m: np.ndarray, s: float) -> np.ndarray:
    """Express full-size transform ``m`` in the coordinates of an image resized by ``s``."""
    a = scale_matrix(s)
    return a @ m @ np.linalg.inv(a)


def normalise(m: np.ndarray) -> np.ndarray:
    """Scale a homography so that ``m[2, 2] == 1``."""
    m = np.asarray(m, dtype=np.float64)
    return m / m[2, 2] if abs(m[2, 2]) > 1e-12 else m


def project_to_model(m: np.ndarray, model: str) -> np.ndarray:
    """Closest transform of ``model`` to ``m`` (least squares on the linear part).

    Parameters
    ----------
    m : ndarray, (3, 3)
        Any transform.
    model : str
        One of :data:`MODELS`.
    """
    m = normalise(m)
    if model == "homography":
        return m
    out = np.eye(3)
    out[:2, 2] = m[:2, 2]
    if model == "affine":
        out[:2, :2] = m[:2, :2]
    elif model == "similarity":
        a = 0.5 * (m[0, 0] + m[1, 1])
        b = 0.5 * (m[1, 0] - m[0, 1])
        out[:2, :2] = [[a, -b], [b, a]]
    return out


def apply_points(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map ``(K, 2)`` points through ``m``; returns ``(K, 2)`` float64."""
    p = np.c_[pts, np.ones(len(pts))] @ np.asarray(m, dtype=np.float64).T
    return p[:, :2] / p[:, 2:3]


def corners(width: int, height: int, margin: float = 0.0) -> np.ndarray:
    """The ``(4, 2)`` corners of the pixel-centre rectangle, shrunk by ``margin`` pixels."""
    x0, y0 = margin, margin
    x1, y1 = width - 1 - margin, height - 1 - margin
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def corner_error(m1: np.ndarray, m2: np.ndarray, width: int, height: int) -> np.ndarray:
    """Displacement ``(4,)`` in pixels between the images of the frame corners under two maps."""
    c = corners(width, height)
    return np.linalg.norm(apply_points(m1, c) - apply_points(m2, c), axis=1)


@dataclass(frozen=True)
class Decomposition:
    """Readable parameters of a transform about the image centre.

    Attributes
    ----------
    dx, dy : float
        Where the image centre moves, in pixels.
    scale : float
        Mean linear scale (sqrt of the Jacobian determinant at the centre).
    rotation_deg : float
        Rotation of the closest similarity, in degrees (counter-clockwise on screen is negative).
    anisotropy : float
        Ratio of the singular values of the Jacobian at the centre (1 for a similarity).
    perspective : float
        Largest corner distance, in pixels, between the transform and its affine approximation.
    """

    dx: float
    dy: float
    scale: float
    rotation_deg: float
    anisotropy: float
    perspective: float


def decompose(m: np.ndarray, width: int, height: int) -> Decomposition:
    """Centre shift, scale, rotation, anisotropy and perspective strength of ``m``."""
    m = normalise(m)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    centre = apply_points(m, np.array([[cx, cy]]))[0]
    # Jacobian at the centre by central differences (exact for affine maps).
    h = 1.0
    px = apply_points(m, np.array([[cx + h, cy], [cx - h, cy], [cx, cy + h], [cx, cy - h]]))
    jac = np.column_stack([(px[0] - px[1]) / (2 * h), (px[2] - px[3]) / (2 * h)])
    det = float(np.linalg.det(jac))
    sv = np.linalg.svd(jac, compute_uv=False)
    aniso = float(sv[0] / sv[1]) if sv[1] > 1e-12 else math.inf
    rot = math.degrees(math.atan2(jac[1, 0] - jac[0, 1], jac[0, 0] + jac[1, 1]))
    aff = np.eye(3)
    aff[:2, :2] = jac
    aff[:2, 2] = centre - jac @ np.array([cx, cy])
    persp = float(corner_error(m, aff, width, height).max())
    scale = math.copysign(math.sqrt(abs(det)), det)
    return Decomposition(float(centre[0] - cx), float(centre[1] - cy), scale, rot, aniso, persp)


def implausibility(m: np.ndarray, width: int, height: int) -> str:
    """Why ``m`` is not a believable frame-to-reference motion, or ``""`` when it is."""
    if not np.all(np.isfinite(m)):
        return "transform is not finite"
    d = decompose(m, width, height)
    if d.scale <= 0:
        return "transform mirrors the image"
    if max(d.scale, 1.0 / d.scale) > MAX_SCALE_CHANGE:
        return f"scale change {d.scale:.3f} is beyond ±{(MAX_SCALE_CHANGE - 1) * 100:.0f} %"
    if abs(d.rotation_deg) > MAX_ROTATION_DEG:
        return f"rotation {d.rotation_deg:.1f}° is beyond ±{MAX_ROTATION_DEG:.0f}°"
    if d.anisotropy > MAX_ANISOTROPY:
        return f"shear/anisotropy {d.anisotropy:.3f} is beyond {MAX_ANISOTROPY}"
    if max(abs(d.dx) / width, abs(d.dy) / height) > MAX_SHIFT_FRACTION:
        return (
            f"shift ({d.dx:.0f}, {d.dy:.0f}) px is beyond {MAX_SHIFT_FRACTION * 100:.0f} % "
            "of the frame"
        )
    if d.perspective > MAX_PERSPECTIVE_FRACTION * math.hypot(width, height):
        return f"perspective distortion of {d.perspective:.0f} px at the corners is too strong"
    return ""


def common_polygon(
    transforms: list[np.ndarray],
    width: int,
    height: int,
    margin: float = 0.0,
    out_size: tuple[int, int] | None = None,
    sizes: list[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Region, in output coordinates, that every warped frame covers.

    Parameters
    ----------
    transforms : list of ndarray, (3, 3)
        Frame -> output maps.
    width, height : int
        Size of the source frames.
    margin : float
        Pixels of each source frame's border to treat as invalid (the interpolation kernel's
        reach).
    out_size : (int, int), optional
        ``(width, height)`` of the output canvas (default: the source size).
    sizes : list of (int, int), optional
        ``(width, height)`` of each source frame when they differ (default: all
        ``(width, height)``).

    Returns
    -------
    ndarray, (K, 2) float64
        Convex polygon (empty ``(0, 2)`` when frames share no area).
    """
    ow, oh = out_size if out_size is not None else (width, height)
    poly = corners(ow, oh).astype(np.float32)
    for k, m in enumerate(transforms):
        fw, fh = sizes[k] if sizes is not None else (width, height)
        quad = apply_points(m, corners(fw, fh, margin)).astype(np.float32)
        if _signed_area(quad) < 0:
            quad = quad[::-1].copy()
        area, inter = cv2.intersectConvexConvex(poly, quad, handleNested=True)
        if inter is None or area <= 0:
            return np.zeros((0, 2))
        poly = inter.reshape(-1, 2).astype(np.float32)
    return poly.astype(np.float64)


def _signed_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def polygon_mask(poly: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(H, W)`` bool: pixel centres inside the convex polygon ``poly`` (boundary included)."""
    mask = np.zeros((height, width), dtype=bool)
    if len(poly) < 3:
        return mask
    left, right = _row_extents(poly, height)
    cols = np.arange(width)
    mask[:] = (cols[None, :] >= left[:, None]) & (cols[None, :] <= right[:, None])
    return mask


def _row_extents(poly: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer column range ``[left, right]`` per row inside a convex polygon (empty: l > r)."""
    eps = 1e-6
    ys = np.arange(height, dtype=np.float64)
    lo = np.full(height, np.inf)
    hi = np.full(height, -np.inf)
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        ya, yb = min(y0, y1), max(y0, y1)
        on = (ys >= ya - eps) & (ys <= yb + eps)
        if not on.any():
            continue
        if yb - ya < 1e-9:
            xs_lo = np.full(height, min(x0, x1))
            xs_hi = np.full(height, max(x0, x1))
        else:
            t = np.clip((ys - y0) / (y1 - y0), 0.0, 1.0)
            xs_lo = xs_hi = x0 + t * (x1 - x0)
        lo = np.where(on, np.minimum(lo, xs_lo), lo)
        hi = np.where(on, np.maximum(hi, xs_hi), hi)
    empty = ~np.isfinite(lo)
    left = np.ceil(np.where(empty, 1, lo) - eps)
    right = np.floor(np.where(empty, 0, hi) + eps)
    left = np.clip(left, 0, None)
    return left.astype(np.int64), right.astype(np.int64)


def largest_rectangle(poly: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Largest axis-aligned pixel rectangle inside a convex polygon.

    Returns
    -------
    (x0, y0, x1, y1) : tuple of int
        Half-open box: columns ``x0..x1-1`` and rows ``y0..y1-1``; ``(0, 0, 0, 0)`` if empty.
    """
    if len(poly) < 3:
        return (0, 0, 0, 0)
    left, right = _row_extents(poly, height)
    right = np.minimum(right, width - 1)
    rows = np.nonzero(right >= left)[0]
    if len(rows) == 0:
        return (0, 0, 0, 0)
    # For a convex region the row extents are concave in y, so the binding rows of a box
    # spanning rows t..b are t and b themselves: O(H^2) over (t, b) pairs, vectorised per t.
    lft, rgt = left[rows], right[rows]
    best = (0, (0, 0, 0, 0))
    for k, t in enumerate(rows):
        b = rows[k:]
        w = np.minimum(rgt[k], rgt[k:]) - np.maximum(lft[k], lft[k:]) + 1
        area = np.where(w > 0, w * (b - t + 1), 0)
        j = int(np.argmax(area))
        if area[j] > best[0]:
            x0 = int(max(lft[k], lft[k + j]))
            best = (int(area[j]), (x0, int(t), x0 + int(w[j]), int(b[j]) + 1))
    return best[1]
