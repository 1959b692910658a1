"""Halo-free fusion: noise-aware, edge-snapped depth map blended per Laplacian-pyramid band.

See :class:`HaloFreeFusion` and docs/classical-methods.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import cv2
import numpy as np

from mffgui.core.blend import collapse, gaussian_pyramid, laplacian_pyramid, max_pyramid_levels
from mffgui.core.decision import (
    ArgmaxTracker,
    LazyMaps,
    fill_low_confidence,
    maps_fit_in_memory,
    median_labels,
    smooth_depth,
)
from mffgui.core.filters import box_mean, gaussian
from mffgui.core.focus import focus_measure, luma
from mffgui.core.halo import (
    noise_focus,
    noise_sigma,
    sharpness_ratio,
    snap_refine,
    soft_step,
    two_scale_focus,
)
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.methods.classical import _normalised, _params, _Run
from mffgui.methods.registry import register_method
from mffgui.types import FusionResult, Stack


@dataclass(frozen=True)
class HaloFreeParams(Params):
    """Parameters of :class:`HaloFreeFusion`."""

    radius: int = param(
        4, "Focus window radius: focus is averaged over a (2r+1)^2 window", min=0, max=20
    )
    fine_sigma: float = param(
        1.0, "Gaussian sigma (px) before the fine focus measure", min=0.3, max=5.0
    )
    coarse_sigma: float = param(
        2.5,
        "Gaussian sigma (px) of the coarse measure; fine/coarse "
        "tells a sharp detail from a defocused spill",
        min=0.5,
        max=10.0,
    )
    min_sharpness: float = param(
        0.0,
        "Sharpness ratio below which the best frame's detail counts as a defocused spill "
        "of a nearby edge (a halo), not as focus; focus is weighted by it up to 0.6 above "
        "(0 = off)",
        min=0.0,
        max=3.0,
    )
    pixel_ratio: float = param(
        0.0,
        "Where the window's sharpest frame has less than this fraction of the best "
        "pixel-scale (3x3) focus, the pixel-scale choice is taken (0 = off)",
        min=0.0,
        max=1.0,
    )
    noise_margin: float = param(
        3.0,
        "Focus, in multiples of the estimated noise's, a pixel needs for its sharpest "
        "frame to be trusted; below it frames are averaged",
        min=0.0,
        max=50.0,
    )
    fill_sigma: float = param(
        32.0,
        "Radius (Gaussian sigma, px) over which untrusted pixels "
        "take their depth from trusted neighbours",
        min=1.0,
        max=1000.0,
    )
    smoothing: int = param(5, "Median filter size on the depth map (odd; 1 = off)", min=1, max=51)
    refine_radius: int = param(
        10,
        "Guided-filter radius that snaps depth changes onto image edges (0 = off)",
        min=0,
        max=50,
    )
    refine_eps: float = param(
        1e-3, "Guided-filter regularisation of that snapping", min=1e-6, max=1.0
    )
    blend_sigma: float = param(
        1.0,
        "Gaussian sigma (px) of the soft transition between frames; 0 = hard selection",
        min=0.0,
        max=20.0,
    )
    flat_spread: float = param(
        2.0,
        "Where no frame is clearly sharper, frames within about "
        "this many steps of the depth are averaged (Gaussian sigma, "
        "in frames)",
        min=0.1,
        max=20.0,
    )
    band_levels: int = param(
        4,
        "Laplacian-pyramid levels over which the per-pixel weights are blended, so each "
        "frequency band changes frame over its own width (0 = per-pixel blend; pairs always "
        "blend per pixel)",
        min=0,
        max=10,
    )
    edge_zone: int = param(
        6,
        "Radius (px) around depth discontinuities in which each pyramid band takes the "
        "sharpest frames' coefficients instead of the depth map's (0 = off)",
        min=0,
        max=50,
    )
    zone_step: float = param(
        1.5,
        "Depth change (frames) within edge_zone that counts as a discontinuity",
        min=0.5,
        max=20.0,
    )
    band_softness: float = param(
        3.0,
        "In that zone, frames whose band activity is within this many noise units of the "
        "sharpest one share the band (soft selection averages noise)",
        min=0.01,
        max=50.0,
    )


@register_method
class HaloFreeFusion:
    """Halo-free depth-map fusion with noise averaging in flat regions.

    1. Per frame, the sum-modified-Laplacian (Nayar & Nakagawa 1994) at a fine and a coarse
       pre-smoothing; their ratio is a contrast-invariant sharpness (Zhuo & Sim 2011). The
       sharpest frame per pixel, its focus and its ratio are kept (streaming).
    2. A pixel's choice is trusted when its best focus clearly exceeds what the stack's noise
       (Immerkær 1996) alone would give and its detail is sharp rather than a defocused spill
       of a nearby high-contrast edge (low ratio: the halo band of a depth map).
    3. Untrusted depths are interpolated from trusted neighbours, median-filtered, and depth
       changes are snapped onto image edges by a guided filter (He et al. 2013) whose output is
       rounded to a label present nearby — a sharp foreground edge cannot keep a band of
       blurred background.
    4. Per-pixel weights: trusted pixels take their frame (soft over ``blend_sigma`` px at depth
       changes); untrusted ones the frames around their depth (Gaussian over ``flat_spread``
       frames), so noise goes down where nothing is sharper.
    5. The weights are applied per band of a Laplacian pyramid (Burt & Adelson's multiresolution
       spline, ACM TOG 1983): each band changes frame over a width proportional to its scale.
       Within ``edge_zone`` px of an occlusion boundary (a depth change of more than
       ``zone_step`` frames) each detail band instead takes a soft maximum of the band activity
       (Burt & Kolczynski 1993), with a temperature of ``band_softness`` noise units, so
       frames within the noise of the sharpest share the band.
    6. Where the result is within half an 8-bit step of the pixel of the frame of largest
       weight, that source value is copied exactly.

    Frames are streamed twice; memory depends on the frame size, not on the number of frames.
    """

    info: ClassVar[MethodInfo] = MethodInfo(
        name="halofree",
        title="Halo-free depth map",
        kind="classical",
        params=HaloFreeParams,
        citation='S. K. Nayar, Y. Nakagawa, "Shape from focus", IEEE TPAMI 16(8), 1994; '
        'P. J. Burt, E. H. Adelson, "A multiresolution spline with application to '
        'image mosaics", ACM TOG 2(4), 1983; '
        'S. Zhuo, T. Sim, "Defocus map estimation from a single image", Pattern '
        'Recognit. 44(9), 2011; K. He, J. Sun, X. Tang, "Guided image filtering", '
        'IEEE TPAMI 35(6), 2013; J. Immerkaer, "Fast noise variance estimation", '
        "CVIU 64(2), 1996",
        description="Depth-map stacking blended per pyramid band, with multi-scale selection at "
        "occlusion boundaries: no halo band around sharp foreground edges; exact "
        "source values where one frame dominates, frames averaged (less noise) "
        "where none is sharper.",
    )

    def fuse(
        self,
        stack: Stack,
        params: Params | None = None,
        *,
        progress: ProgressFn = noop_progress,
        cancel: CancelToken = NEVER,
    ) -> FusionResult:
        """Fuse ``stack`` (any N >= 2, gray or RGB); see the class docstring."""
        p: HaloFreeParams = _params(params, HaloFreeParams)
        run = _Run(stack, 2, progress, cancel)
        n, shape = run.n, run.shape
        eager = maps_fit_in_memory(n, shape)

        def measure(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return two_scale_focus(luma(img), p.radius, p.fine_sigma, p.coarse_sigma)

        focus = np.zeros((n, *shape), np.float32) if eager else None
        tracker = ArgmaxTracker(shape)  # windowed focus
        pixel = ArgmaxTracker(shape)  # pixel-scale (3x3) focus
        pixel_at_best = np.zeros(shape, np.float32)
        guide = np.zeros(shape, np.float32)
        sigma_n = np.inf
        # Pairs keep the per-pixel blend: on the Lytro pairs the band blend lowered 5 of the 7
        # fusion metrics (docs/BENCHMARKS.md).
        levels = 0 if n < 3 else min(p.band_levels, max_pyramid_levels(shape, min_size=8))
        zoned = levels > 0 and p.edge_zone > 0
        band_max: list[np.ndarray] = []  # per band: largest activity so far and its frame
        band_arg: list[np.ndarray] = []
        for i, img in run.frames(range(n)):
            g = luma(img)
            if zoned:
                for lev, act in enumerate(_band_activity(g, levels)):
                    if i == 0:
                        band_max.append(act)
                        band_arg.append(np.zeros(act.shape, np.uint16))
                    else:
                        up = act > band_max[lev]
                        np.copyto(band_max[lev], act, where=up)
                        band_arg[lev][up] = i
            ml = focus_measure(g, "sml", 0, p.fine_sigma)
            f = box_mean(ml, p.radius)
            fp = box_mean(ml, 1) if p.pixel_ratio > 0 else f
            if p.min_sharpness > 0:
                coarse = focus_measure(g, "sml", p.radius, p.coarse_sigma)
                q = sharpness_ratio(f, coarse, p.fine_sigma, p.coarse_sigma)
                damp = soft_step(q, p.min_sharpness, p.min_sharpness + 0.6)
                f *= damp
                fp *= damp
            better = f > tracker.best if tracker.best is not None else np.ones(shape, bool)
            tracker.update(i, f)
            if p.pixel_ratio > 0:
                pixel.update(i, fp)
                np.copyto(pixel_at_best, fp, where=better)
            np.copyto(guide, g, where=better)
            sigma_n = min(sigma_n, noise_sigma(g))
            if focus is not None:
                focus[i] = f
            run.step("measuring focus")
        best = tracker.best
        assert best is not None
        scale = float(best.max())
        floor = max(noise_focus(sigma_n, p.radius, p.fine_sigma), 1e-6)
        trust = soft_step(best / np.float32(floor), 0.75 * p.noise_margin, 1.5 * p.noise_margin)
        # A window's winner whose own pixels are far less sharp than another frame's got its
        # focus from an edge elsewhere in the window (a sharp foreground edge next to blurred
        # background): the pixel-scale choice wins there.
        index = tracker.index
        if p.pixel_ratio > 0 and pixel.best is not None:
            floor_p = noise_focus(sigma_n, 1, p.fine_sigma)
            switch = (pixel_at_best < p.pixel_ratio * pixel.best) & (
                pixel.best > p.noise_margin * floor_p
            )
            index = np.where(switch, pixel.index, index)
            del switch
        confident = trust > 0.5
        if confident.any() and not confident.all():
            index = fill_low_confidence(index, confident, p.fill_sigma)
        index = median_labels(index, p.smoothing)
        if p.refine_radius > 0:
            index = snap_refine(index, guide, p.refine_radius, p.refine_eps)
        del tracker, pixel, best, pixel_at_best
        trust = gaussian(trust, 2.0)
        trust[trust > 0.999] = 1.0
        depth = smooth_depth(index, p.blend_sigma)
        run.mark("depth map")

        untrusted = trust < 1.0
        any_flat = bool(untrusted.any())
        lo, hi = float(depth.min()), float(depth.max())
        if any_flat:
            d_flat = depth[untrusted]
            reach = 3.0 * p.flat_spread
            lo, hi = min(lo, float(d_flat.min()) - reach), max(hi, float(d_flat.max()) + reach)
        needed = [i for i in range(n) if lo - 1 < i < hi + 1]
        needed_set = set(needed)
        inv2s2 = np.float32(-0.5 / p.flat_spread**2)

        def flat(i: int) -> np.ndarray:
            return np.exp(inv2s2 * (depth - np.float32(i)) ** 2)

        # Normalised over the frames that are read, so every pixel's weights sum to 1.
        norm = np.zeros(shape, np.float32)
        if any_flat:
            for i in needed:
                norm += flat(i)
            norm = (np.float32(1.0) - trust) / norm

        def weight(i: int) -> np.ndarray:
            if i not in needed_set:
                return np.zeros(shape, np.float32)
            hard = np.maximum(np.float32(1.0) - np.abs(depth - np.float32(i)), np.float32(0.0))
            if not any_flat:
                return hard
            return trust * hard + norm * flat(i)

        if levels == 0:
            fused = _blend_pixels(run, needed, weight)
            reported = weight
        else:
            zone = _discontinuities(index, p.edge_zone, p.zone_step) if zoned else None
            if zone is not None:
                # Where no frame is trusted to be sharp there is no occlusion edge to keep.
                zone &= trust >= 0.5
                if not zone.any():
                    zone = None
            read = set(needed)
            selecting: set[int] = set()
            if zone is not None:
                # Each band's sharpest frame where it lies in the zone, and its neighbours
                # (frames far from the sharpest one have a negligible soft weight).
                zg = gaussian_pyramid(zone.astype(np.float32), levels)
                for lev in range(levels):
                    for v in np.unique(band_arg[lev][zg[lev] > 0]).tolist():
                        selecting.update(k for k in (v - 1, v, v + 1) if 0 <= k < n)
                read |= selecting
            taus = [
                max(p.band_softness * float(sigma_n) * gain, 1e-5) for gain in _noise_gains(levels)
            ]
            # The frame of largest weight: the nearest frame to the depth among those read.
            top = np.clip(np.rint(depth), needed[0], needed[-1]).astype(np.int16)
            fused, copied = _blend_bands(
                run, sorted(read), levels, weight, top, zone, selecting, band_max, taus
            )

            def reported(i: int) -> np.ndarray:
                w = weight(i)
                if w.any():
                    w = _effective_weight(gaussian_pyramid(w, levels))
                return np.where(copied >= 0, (copied == i).astype(np.float32), w)

        del band_arg, band_max
        run.mark("blend")
        out_weights = (
            np.stack([reported(i) for i in range(n)]) if eager else LazyMaps(n, shape, reported)
        )
        return run.result(
            self.info.name,
            p,
            fused,
            index,
            out_weights,
            _normalised(focus, n, shape, scale, lambda i: measure(run.frame(i))[0]),
            frames_used=len(needed),
            noise_sigma=float(sigma_n),
            trusted=float((trust >= 1.0).mean()),
        )


def _blend_pixels(run: _Run, needed: list[int], weight: Callable[[int], np.ndarray]) -> np.ndarray:
    """Per-pixel weighted sum of the ``needed`` frames (weights sum to 1); ``(H, W, C)``."""
    acc = np.zeros((*run.shape, run.channels), np.float32)
    done = 0
    for i, img in run.frames(needed):
        acc += weight(i)[:, :, None] * img
        for _ in range(done, i + 1):
            run.step("blending")
        done = i + 1
    for _ in range(done, run.n):
        run.step("blending")
    return acc


def _band_activity(gray: np.ndarray, levels: int) -> list[np.ndarray]:
    """Activity of the first ``levels`` Laplacian bands of ``gray`` ((H, W) float32): the
    3x3 mean of the absolute coefficient (Burt & Kolczynski 1993); finest first."""
    pyr = laplacian_pyramid(gray, levels)
    return [box_mean(np.abs(b), 1) for b in pyr[:levels]]


@lru_cache(maxsize=1)
def _unit_noise_gains() -> tuple[float, ...]:
    rng = np.random.default_rng(0)
    white = rng.normal(0.0, 1.0, (512, 512)).astype(np.float32)
    acts = _band_activity(white, 6)
    crops = [max(1, 16 >> k) for k in range(len(acts))]
    return tuple(float(a[c:-c, c:-c].mean()) for c, a in zip(crops, acts, strict=True))


def _noise_gains(levels: int) -> list[float]:
    """Mean band activity of unit white noise per level (``levels`` <= 6 measured on seeded
    noise, coarser ones extrapolated by halving)."""
    gains = list(_unit_noise_gains())
    while len(gains) < levels:
        gains.append(gains[-1] / 2)
    return gains[:levels]


def _discontinuities(index: np.ndarray, radius: int, step: float) -> np.ndarray:
    """``(H, W)`` bool: pixels within ``radius`` px of a depth change larger than ``step``
    frames (grey dilation minus erosion of the ``(H, W)`` label map)."""
    d = index.astype(np.float32)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))
    return (cv2.dilate(d, k) - cv2.erode(d, k)) > step


def _blend_bands(
    run: _Run,
    frames: list[int],
    levels: int,
    weight: Callable[[int], np.ndarray],
    top: np.ndarray,
    zone: np.ndarray | None,
    selecting: set[int],
    band_max: list[np.ndarray],
    taus: list[float],
) -> tuple[np.ndarray, np.ndarray]:
    """Blend ``frames`` in a Laplacian pyramid (Burt & Adelson 1983).

    Each band of frame ``i`` is weighted by the Gaussian pyramid of ``weight(i)`` ((H, W),
    summing to 1 over frames), so a transition is as wide as the band is coarse. Within
    ``zone`` ((H, W) bool, or None; feathered by its own Gaussian pyramid) the ``levels``
    detail bands instead take a soft maximum of the band activity (:func:`_band_activity`):
    weights ``exp((activity - band_max) / tau)`` normalised over the frames in ``selecting``,
    so frames whose activity is within about ``tau`` of the sharpest share the band and noise
    averages; this is computed only within the bounding box of the feathered zone.
    Where the result is within half an 8-bit step of the pixel of frame ``top`` ((H, W) int16,
    the frame of largest weight), that pixel is copied exactly (source values stay exact where
    one frame dominates).

    Returns
    -------
    fused : ndarray, (H, W, C) float32
    copied : ndarray, (H, W) int16
        The frame copied exactly, -1 where none was.
    """
    shape, ch = run.shape, run.channels
    out: list[np.ndarray] = []
    num: list[np.ndarray] = []
    den: list[np.ndarray] = []
    boxes: list[tuple[slice, slice]] = []
    feather: list[np.ndarray] = []
    if zone is not None:
        for zl in gaussian_pyramid(zone.astype(np.float32), levels)[:levels]:
            rows = np.flatnonzero((zl > 0).any(axis=1))
            cols = np.flatnonzero((zl > 0).any(axis=0))
            box = (
                slice(max(rows[0] - 2, 0), rows[-1] + 3),
                slice(max(cols[0] - 2, 0), cols[-1] + 3),
            )
            boxes.append(box)
            feather.append(np.minimum(np.float32(2.0) * zl[box], np.float32(1.0)))
    exact = np.zeros((*shape, ch), np.float32)
    done = 0
    for i, img in run.frames(frames):
        pyr = laplacian_pyramid(img if ch > 1 else img[:, :, 0], levels)
        if not out:
            out = [np.zeros_like(b) for b in pyr]
            num = [np.zeros_like(b[box]) for b, box in zip(pyr, boxes, strict=False)]
            den = [np.zeros(b.shape[:2], np.float32) for b in num]
        w = weight(i)
        if w.any():
            for lev, gw in enumerate(gaussian_pyramid(w, levels)):
                out[lev] += _per_channel(gw, pyr[lev]) * pyr[lev]
        mine = top == i
        exact[mine] = img[mine]
        for lev in range(len(num) if i in selecting else 0):
            band = pyr[lev][boxes[lev]]
            # The luma of a colour band is the band of the luma (both are linear).
            act = box_mean(np.abs(luma(band)), 1)
            sw = np.exp(
                np.minimum(act - band_max[lev][boxes[lev]], np.float32(0.0))
                * np.float32(1.0 / taus[lev])
            )
            num[lev] += _per_channel(sw, band) * band
            den[lev] += sw
        for _ in range(done, i + 1):
            run.step("blending")
        done = i + 1
    for _ in range(done, run.n):
        run.step("blending")
    for lev in range(len(num)):
        sel = num[lev] / _per_channel(np.maximum(den[lev], np.float32(1e-30)), num[lev])
        m = _per_channel(feather[lev], sel)
        out[lev][boxes[lev]] += m * (sel - out[lev][boxes[lev]])
    fused = collapse(out)
    if ch == 1:
        fused = fused[:, :, None]
    close = np.abs(fused - exact).max(axis=2) <= np.float32(0.5 / 255.0)
    np.copyto(fused, exact, where=close[:, :, None])
    return fused, np.where(close, top, np.int16(-1))


def _effective_weight(gw: list[np.ndarray]) -> np.ndarray:
    """Mean over the levels of a weight's Gaussian pyramid ``gw``, each expanded back to
    full size with ``cv2.pyrUp``: the share of the bands a frame contributes to a pixel,
    ``(H, W)`` float32; 1 only where every band takes that frame alone."""
    acc = gw[-1]
    for lev in range(len(gw) - 2, -1, -1):
        acc = cv2.pyrUp(acc, dstsize=(gw[lev].shape[1], gw[lev].shape[0])) + gw[lev]
    return acc * np.float32(1.0 / len(gw))


def _per_channel(w: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``w`` ((h, w)) broadcastable against ``like`` ((h, w) or (h, w, C))."""
    return w[:, :, None] if like.ndim == 3 else w
