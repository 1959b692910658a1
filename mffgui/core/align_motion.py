"""A cheap check whether the frames of a focus stack moved: the decision behind Align "Auto".

A few frames (first, middle and last by default) are read at a small size (JPEG decodes at 1/4
size in a few milliseconds). For each checked frame against the reference the similarity
motion (scale, rotation, shift) is estimated by phase correlation of log-polar magnitude spectra
(scale and rotation: the Fourier magnitude does not move with the image, and in log-polar
coordinates a scale or rotation becomes a shift) followed by phase correlation of the
compensated images (shift). The estimate is believed only when compensating it makes the two
frames' gradient structure agree clearly (correlation :data:`MIN_AGREEMENT`) and better than
leaving them as they are, so frames focused at very different depths or of unrelated content
never count as "moved" by a chance peak.

The stack moved when some checked frame's motion displaces a frame corner by more than
``threshold`` pixels at full size, or when the frames differ in size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from mffgui.core.align_geometry import corner_error, decompose, rescale_transform
from mffgui.core.progress import NEVER, CancelToken
from mffgui.types import Stack

__all__ = [
    "CHECK_SIZE",
    "MOTION_THRESHOLD_PX",
    "MotionCheck",
    "check_motion",
    "estimate_similarity",
]

CHECK_SIZE = 400
"""Longest side, in pixels, the check works at."""
MOTION_THRESHOLD_PX = 1.0
"""Corner displacement at full size beyond which a frame counts as moved."""
MIN_GAIN = 0.02
"""Gradient-correlation gain that compensating an estimated motion must bring to count."""
MIN_AGREEMENT = 0.25
"""Gradient correlation the compensated frames must reach to count (noise reaches ~0.1)."""


@dataclass(frozen=True)
class MotionCheck:
    """Outcome of :func:`check_motion`.

    Attributes
    ----------
    moved : bool
        Whether the stack needs aligning.
    displacement : float
        Largest believed corner displacement, in full-size pixels of the reference frame.
    scale, rotation_deg, dx, dy : float
        Motion (frame -> reference, about the centre) of the frame that moved most.
    frame : int or None
        Index of that frame (``None`` when nothing moved).
    reference : int
        The frame the others were compared with.
    checked : tuple of int
        The frames compared with the reference.
    reason : str
        One line for the user saying what was found.
    seconds : float
        Time the check took.
    """

    moved: bool
    displacement: float
    scale: float
    rotation_deg: float
    dx: float
    dy: float
    frame: int | None
    reference: int
    checked: tuple[int, ...]
    reason: str
    seconds: float


def _window(shape: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float32 Hanning window for ``shape`` ``(h, w)``."""
    return cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)


def _log_polar_spectrum(img: np.ndarray, win: np.ndarray) -> tuple[np.ndarray, float]:
    """High-passed log magnitude spectrum of ``img`` ``(h, w)`` float32 in log-polar
    coordinates ``(s, s)`` (``s = min(h, w)``; rows: angle over 360°, columns: log radius), and
    the number of columns per unit of log radius."""
    h, w = img.shape
    a = (img - float(img.mean())) * win
    mag: np.ndarray = np.abs(np.fft.fftshift(np.fft.fft2(a))).astype(np.float32)
    # Emphasise mid frequencies: the DC peak says nothing about scale or rotation.
    fy = np.fft.fftshift(np.fft.fftfreq(h)).astype(np.float32)[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w)).astype(np.float32)[None, :]
    r2 = fx * fx + fy * fy
    mag = np.log1p(mag) * (r2 / (r2 + np.float32(0.0025)))
    side = min(h, w)
    mag = (
        cv2.resize(mag, (side, side), interpolation=cv2.INTER_AREA)
        if (h, w) != (side, side)
        else mag
    )
    radius = side / 2.0
    polar = cv2.warpPolar(
        mag, (side, side), (side / 2.0, side / 2.0), radius, cv2.INTER_LINEAR | cv2.WARP_POLAR_LOG
    )
    return polar, side / math.log(radius)


def estimate_similarity(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Similarity transform mapping ``b``'s pixel coordinates to ``a``'s.

    Parameters
    ----------
    a, b : ndarray, (h, w) float32
        Two gray images of one size (the reference, the moved frame).

    Returns
    -------
    matrix : ndarray, (3, 3) float64
        ``b`` -> ``a`` pixel coordinates (pixel centres at integers).
    response : float
        Phase-correlation peak of the final shift, in ``[0, 1]`` (low: no clear match).
    """
    h, w = a.shape
    win = _window((h, w))
    pa, base = _log_polar_spectrum(a, win)
    pb, _ = _log_polar_spectrum(b, win)
    pwin = _window(pa.shape)
    (d_rho, d_theta), _ = cv2.phaseCorrelate(pa, pb, pwin)
    rows = pa.shape[0]
    # The magnitude spectrum is symmetric: rotations are known modulo 180 degrees.
    theta = (d_theta * 360.0 / rows + 90.0) % 180.0 - 90.0
    scale = math.exp(d_rho / base)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    best: tuple[float, np.ndarray] | None = None
    # b shows the scene magnified by 1/scale (spectra shrink when images grow); the sign of
    # the rotation follows from the polar warp's orientation.
    for s, th in ((1.0 / scale, theta), (scale, -theta)):
        rot = cv2.getRotationMatrix2D((cx, cy), -th, s)
        m = np.vstack([rot, [0.0, 0.0, 1.0]])  # b -> a about the centre, before the shift
        warped = cv2.warpAffine(
            b, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        (dx, dy), resp = cv2.phaseCorrelate(warped, a.copy(), win)
        shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
        cand = shift @ m
        if best is None or resp > best[0]:
            best = (float(resp), cand)
    assert best is not None
    return best[1], best[0]


def _gradient(img: np.ndarray) -> np.ndarray:
    """``(h, w)`` float32 gradient magnitude after a Gaussian blur of 1.5 px."""
    g = cv2.GaussianBlur(img, (0, 0), 1.5)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    return cv2.magnitude(gx, gy)


def _ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Normalised cross-correlation of ``a`` and ``b`` over ``mask`` (all ``(h, w)``)."""
    x, y = a[mask], b[mask]
    x = x - x.mean()
    y = y - y.mean()
    den = float(np.sqrt(float((x * x).sum()) * float((y * y).sum())))
    return float((x * y).sum()) / den if den > 0 else 0.0


def _agreement(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """Gradient correlation of ``a`` with ``b`` as it is and with ``b`` warped by ``m``."""
    h, w = a.shape
    warped = cv2.warpPerspective(
        b, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0
    )
    inside = warped >= 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    if inside.mean() < 0.3:
        return 0.0, -1.0
    ga, gb, gw = _gradient(a), _gradient(b), _gradient(np.where(warped < 0, 0, warped))
    return _ncc(ga, gb, inside), _ncc(ga, gw, inside)


def _believed(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> bool:
    """Whether compensating ``m`` makes ``a`` and ``b`` agree clearly, and better than before."""
    before, after = _agreement(a, b, m)
    return after >= MIN_AGREEMENT and after - before >= MIN_GAIN


def check_motion(
    stack: Stack,
    *,
    reference: int | None = None,
    frames: tuple[int, ...] | None = None,
    threshold: float = MOTION_THRESHOLD_PX,
    size: int = CHECK_SIZE,
    cancel: CancelToken = NEVER,
) -> MotionCheck:
    """Whether the frames of ``stack`` moved enough to need aligning.

    Parameters
    ----------
    stack : Stack
        The frames (sizes may differ: differing sizes always count as moved).
    reference : int, optional
        Frame the others are compared with (default: the middle one).
    frames : tuple of int, optional
        Frames to compare with it (default: the first and the last).
    threshold : float
        Corner displacement, in full-size pixels, beyond which a frame moved.
    size : int
        Longest side of the images compared.
    cancel : CancelToken
        Checked before every frame.

    Returns
    -------
    MotionCheck
    """
    t0 = time.perf_counter()
    n = len(stack)
    ref = (n - 1) // 2 if reference is None else reference % n
    others = tuple(
        dict.fromkeys(i % n for i in (frames if frames is not None else (0, n - 1)) if i % n != ref)
    )
    names = stack.names
    rh, rw = stack.frame_size(ref)
    for i in range(n):
        h, w = stack.frame_size(i)
        if (h, w) != (rh, rw):
            return MotionCheck(
                True,
                math.inf,
                math.nan,
                math.nan,
                math.nan,
                math.nan,
                i,
                ref,
                others,
                f"frame {i + 1} ({names[i]}) is {w}x{h}, the reference "
                f"frame {ref + 1} ({names[ref]}) is {rw}x{rh}",
                time.perf_counter() - t0,
            )
    a, sa = stack.small_gray(ref, size)
    a = np.ascontiguousarray(a, dtype=np.float32)
    best: tuple[float, np.ndarray, int] | None = None
    for i in others:
        cancel.raise_if_cancelled()
        b, _ = stack.small_gray(i, size)
        if b.shape != a.shape:
            continue
        b = np.ascontiguousarray(b, dtype=np.float32)
        m, _resp = estimate_similarity(a, b)
        full = rescale_transform(m, 1.0 / sa)
        disp = float(corner_error(full, np.eye(3), rw, rh).max())
        if disp > threshold and not _believed(a, b, m):
            continue  # an estimate that does not make the frames agree: a chance peak
        if best is None or disp > best[0]:
            best = (disp, full, i)
    seconds = time.perf_counter() - t0
    if best is None or best[0] <= threshold:
        return MotionCheck(
            False,
            0.0 if best is None else best[0],
            1.0,
            0.0,
            0.0,
            0.0,
            None,
            ref,
            others,
            f"no motion beyond {threshold:g} px between frames "
            f"{', '.join(str(i + 1) for i in (ref, *others))}",
            seconds,
        )
    disp, full, i = best
    d = decompose(full, rw, rh)
    reason = (
        f"frame {i + 1} ({names[i]}) moved by up to {disp:.1f} px against frame "
        f"{ref + 1} (shift {d.dx:+.1f}, {d.dy:+.1f} px, scale {d.scale:.3f}, rotation "
        f"{d.rotation_deg:+.2f}°)"
    )
    return MotionCheck(
        True, disp, d.scale, d.rotation_deg, d.dx, d.dy, i, ref, others, reason, seconds
    )
