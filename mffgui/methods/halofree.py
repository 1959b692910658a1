"""Halo-free fusion: noise-aware, edge-snapped depth map blended per Laplacian-pyramid band.

See :class:`HaloFreeFusion` and docs/classical-methods.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import cv2
import numpy as np

from mffgui.core.band_blend import (
    Scratch,
    SelectionZone,
    TopTwo,
    blend_bands,
    depth_weights_sparse,
    finest_weights,
    pyr_down,
    pyr_up,
)
from mffgui.core.blend import gaussian_pyramid, max_pyramid_levels
from mffgui.core.decision import (
    ArgmaxTracker,
    LazyMaps,
    fill_low_confidence,
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
from mffgui.core.pair_decision import pair_decision
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.methods.classical import _normalised, _Run, _StreamingMethod
from mffgui.methods.registry import register_method
from mffgui.types import FusionResult


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
        6.0,
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
        5,
        "Laplacian-pyramid levels over which the per-pixel weights are blended, so each "
        "frequency band changes frame over its own width (0 = per-pixel blend; pairs take "
        "the pair_ path)",
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
    pair_min_area: float = param(
        0.01,
        "Pairs: a region where one source is sharper keeps it only if it covers at least this "
        "fraction of the image; smaller ones take the other source",
        min=0.0,
        max=0.5,
    )
    pair_blend_sigma: float = param(
        0.5,
        "Pairs: Gaussian sigma (px) of the transition between the two sources (0 = hard)",
        min=0.0,
        max=20.0,
    )
    pair_refine_eps: float = param(
        1e-2,
        "Pairs: guided-filter regularisation of the edge snapping (radius: refine_radius)",
        min=1e-6,
        max=1.0,
    )
    pair_min_sharpness: float = param(
        0.3,
        "Pairs: sharpness ratio below which a source's detail counts as a defocused spill "
        "for the choice (as min_sharpness; 0 = off)",
        min=0.0,
        max=3.0,
    )
    pair_noise_margin: float = param(
        1.0,
        "Pairs: focus, in multiples of the noise's, above which the sharper source is "
        "trusted; below it the two are averaged (0 = never)",
        min=0.0,
        max=50.0,
    )


@register_method
class HaloFreeFusion(_StreamingMethod):
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
    5. The weights (kept sparse: per frame only where non-zero) are applied per band of a
       Laplacian pyramid (Burt & Adelson's multiresolution spline, ACM TOG 1983): each band
       changes frame over a width proportional to its scale. Within ``edge_zone`` px of an
       occlusion boundary (a depth change of more than ``zone_step`` frames) each detail band
       instead takes a soft maximum of the band activity (Burt & Kolczynski 1993; for the
       finest band, the 3x3 mean of step 1's modified Laplacian) over the two most active
       frames, tracked in the focus pass, with a temperature of ``band_softness`` noise units,
       so a runner-up within the noise of the sharpest shares the band.
    6. Where the result is within half a step of the sources' bit depth of the pixel of the
       frame of largest weight, that source value is copied exactly.

    Two images take their own path (:func:`mffgui.core.pair_decision.pair_decision`, the
    ``pair_*`` parameters): a binary decision map with small regions removed, edge snapping, a
    0.5 px transition and averaging only at the noise level.

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

    def _fuse(self, p: HaloFreeParams, run: _Run) -> FusionResult:
        """Fuse ``run``'s stack (any N >= 2, gray or RGB); see the class docstring."""
        if run.n == 2:
            return self._fuse_pair(p, run)
        n, shape, eager = run.n, run.shape, run.eager

        def measure(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return two_scale_focus(luma(img), p.radius, p.fine_sigma, p.coarse_sigma)

        focus = np.zeros((n, *shape), np.float32) if eager else None
        tracker = ArgmaxTracker(shape)  # windowed focus
        pixel = ArgmaxTracker(shape)  # pixel-scale (3x3) focus
        pixel_at_best = np.zeros(shape, np.float32)
        guide: np.ndarray = np.zeros(shape, np.float32)
        levels = min(p.band_levels, max_pyramid_levels(shape, min_size=8))
        zoned = levels > 0 and p.edge_zone > 0
        tops: list[TopTwo] = []  # per band: the two most active frames

        noise: list[float] = []
        workers = 2
        # One set of band buffers per result that can be alive at once (see _Run.measured).
        scratches = [Scratch() for _ in range(workers + 1)]

        def measure_frame(i: int, img: np.ndarray, slot: int) -> _FrameMeasures:
            g = luma(img)
            ml = focus_measure(g, "sml", 0, p.fine_sigma)
            f = box_mean(ml, p.radius)
            fp = box_mean(ml, 1) if p.pixel_ratio > 0 else f
            if p.min_sharpness > 0:
                damp = _spill_damping(g, f, p, p.min_sharpness)
                f *= damp
                if fp is not f:
                    fp *= damp
            acts = _band_activity(g, levels, ml, scratches[slot]) if zoned else []
            return _FrameMeasures(g, f, fp, acts, noise_sigma(g))

        # Frames are measured in worker threads (cv2 and numpy release the GIL) while this
        # thread folds the finished ones into the trackers in frame order: the result does not
        # depend on the timing.
        for i, m in run.measured(measure_frame, range(n), workers):
            noise.append(m.noise)
            for lev, act in enumerate(m.acts):
                if len(tops) <= lev:
                    tops.append(TopTwo(act.shape, n))
                tops[lev].update(i, act)
            better = tracker.update(i, m.focus)
            if p.pixel_ratio > 0:
                pixel.update(i, m.pixel_focus)
                np.copyto(pixel_at_best, m.pixel_focus, where=better)
            guide = cv2.copyTo(m.gray, better.view(np.uint8), guide)
            if focus is not None:
                focus[i] = m.focus
            run.step("measuring focus")
        sigma_n = min(noise)
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
        unsnapped = index
        if p.refine_radius > 0:
            index = snap_refine(index, guide, p.refine_radius, p.refine_eps)
        del tracker, pixel, best, pixel_at_best
        trust = gaussian(trust, 2.0)
        trust[trust > 0.999] = 1.0
        depth = smooth_depth(index, p.blend_sigma)
        run.mark("depth map")

        depth_w = depth_weights_sparse(depth, trust, p.flat_spread, n)
        zone = None
        if zoned:
            # The snap averages a thin foreground structure (a bristle, a wire) into its
            # textured surroundings and removes it from the depth map; the depth changes before
            # the snap keep its band selection. Where no frame is trusted to be sharp there is
            # no occlusion edge to keep.
            edges = _discontinuities(index, p.edge_zone, p.zone_step)
            if unsnapped is not index:
                edges |= _discontinuities(unsnapped, p.edge_zone, p.zone_step)
            edges &= trust >= 0.5
            if edges.any():
                feather = [
                    np.minimum(np.float32(2.0) * z, np.float32(1.0))
                    for z in gaussian_pyramid(edges.astype(np.float32), levels)[:levels]
                ]
                taus = [
                    max(p.band_softness * float(sigma_n) * gain, 1e-5)
                    for gain in _noise_gains(levels, p.fine_sigma)
                ]
                zone = SelectionZone.build(feather, tops, taus)
        finest = finest_weights(depth_w, zone)
        # The frame of largest weight: the nearest frame to the depth.
        top = np.rint(depth).astype(np.int64)
        fused, copied, frames_used = blend_bands(
            depth_w,
            finest,
            zone,
            levels,
            top,
            run.channels,
            run.frames,
            lambda: run.step("blending"),
            # Half a step of the sources: a dim 16-bit stack's noise is far below an 8-bit step.
            copy_tol=0.5 / (2.0**run.stack.bit_depth - 1.0),
        )
        run.mark("blend")

        def reported(i: int) -> np.ndarray:
            w = depth_w.dense(i)
            one = (copied == i).astype(np.float32)
            return one if w is None else np.where(copied >= 0, one, w)

        out_weights: np.ndarray | LazyMaps = LazyMaps(n, shape, reported)
        if eager:
            out_weights = depth_w.dense_all()
            hit = copied >= 0
            out_weights[:, hit] = 0.0
            out_weights[copied[hit], hit] = 1.0
        return run.result(
            self.info.name,
            p,
            fused,
            index,
            out_weights,
            _normalised(focus, n, shape, scale, lambda i: measure(run.frame(i))[0]),
            frames_used=frames_used,
            noise_sigma=float(sigma_n),
            trusted=float((trust >= 1.0).mean()),
        )

    def _fuse_pair(self, p: HaloFreeParams, run: _Run) -> FusionResult:
        """Two sources: :func:`mffgui.core.pair_decision.pair_decision` (docs/BENCHMARKS.md,
        issue 17 fourth round: on the Lytro pairs the band blend lowered 5 of 7 metrics)."""
        imgs: list[np.ndarray] = []
        grays: list[np.ndarray] = []
        focus: list[np.ndarray] = []
        sharp: list[np.ndarray] = []
        for _, img in run.frames(range(2)):
            g = luma(img)
            imgs.append(img)
            grays.append(g)
            focus.append(box_mean(focus_measure(g, "sml", 0, p.fine_sigma), p.radius))
            if p.pair_min_sharpness > 0:
                sharp.append(_spill_damping(g, focus[-1], p, p.pair_min_sharpness))
            run.step("measuring focus")
        sigma_n = min(noise_sigma(g) for g in grays)
        dec = pair_decision(
            grays[0],
            grays[1],
            focus[0],
            focus[1],
            sigma_n,
            radius=p.radius,
            fine_sigma=p.fine_sigma,
            min_area=p.pair_min_area,
            refine_radius=p.refine_radius,
            refine_eps=p.pair_refine_eps,
            blend_sigma=p.pair_blend_sigma,
            noise_margin=p.pair_noise_margin,
            sharp_a=sharp[0] if sharp else None,
            sharp_b=sharp[1] if sharp else None,
        )
        run.mark("depth map")
        w = dec.weight_a[:, :, None]
        fused = w * imgs[0] + (np.float32(1.0) - w) * imgs[1]
        for _ in range(2):
            run.step("blending")
        run.mark("blend")
        scale = float(max(focus[0].max(), focus[1].max()))
        return run.result(
            self.info.name,
            p,
            fused,
            dec.index,
            np.stack([dec.weight_a, np.float32(1.0) - dec.weight_a]),
            _normalised(np.stack(focus), 2, run.shape, scale, lambda i: focus[i]),
            frames_used=2,
            noise_sigma=float(sigma_n),
            trusted=float((dec.trust >= 1.0).mean()),
        )


@dataclass
class _FrameMeasures:
    """One frame's measures from the focus pass (all float32)."""

    gray: np.ndarray  # (H, W) luma
    focus: np.ndarray  # (H, W) windowed focus
    pixel_focus: np.ndarray  # (H, W) pixel-scale (3x3) focus, or ``focus`` when unused
    acts: list[np.ndarray]  # per pyramid level, the band activity (empty without a zone)
    noise: float  # noise sigma


def _spill_damping(
    gray: np.ndarray, fine: np.ndarray, p: HaloFreeParams, threshold: float
) -> np.ndarray:
    """Factor in ``[0, 1]`` ((H, W) float32) that is 0 where ``gray``'s detail is a defocused
    spill: its sharpness ratio (``fine`` windowed focus over the coarse measure) ramps from 0 at
    ``threshold`` to 1 at ``threshold + 0.6``."""
    coarse = focus_measure(gray, "sml", p.radius, p.coarse_sigma)
    q = sharpness_ratio(fine, coarse, p.fine_sigma, p.coarse_sigma)
    return soft_step(q, threshold, threshold + 0.6)


_MEAN3 = np.full(3, 1.0 / 3.0, np.float32)
_REFLECT = cv2.BORDER_REFLECT  # as mffgui.core.filters


def _band_activity(
    gray: np.ndarray,
    levels: int,
    fine_ml: np.ndarray,
    scratch: Scratch | None = None,
) -> list[np.ndarray]:
    """Activity of the first ``levels`` Laplacian bands of ``gray`` ((H, W) float32), finest
    first: the 3x3 mean of the absolute coefficient (Burt & Kolczynski 1993).

    The finest band's activity is the 3x3 mean of ``fine_ml`` instead, the focus pass's own
    modified Laplacian of ``gray`` ((H, W) float32): both respond to the finest detail, and
    this saves a full-size upsample and difference per frame (ground truth, N = 10:
    -0.02 dB). With ``scratch`` the maps are its buffers, overwritten by the next call.
    """
    scratch = scratch if scratch is not None else Scratch()
    g = [gray]
    out = []
    for k in range(levels):
        g.append(pyr_down(g[k], scratch.down(("g", k + 1), g[k])))
        if k == 0:
            detail = fine_ml
        else:
            detail = pyr_up(g[k + 1], g[k], scratch.get(("diff", k), g[k].shape))
            cv2.absdiff(g[k], detail, dst=detail)
        act = scratch.get(("act", k), g[k].shape)
        # The 3x3 mean as a separable float filter: cv2.boxFilter's normalised float path
        # accumulates in double and took twice as long (same result to float rounding).
        out.append(
            cv2.sepFilter2D(detail, cv2.CV_32F, _MEAN3, _MEAN3, dst=act, borderType=_REFLECT)
        )
    return out


@lru_cache(maxsize=8)
def _unit_noise_gains(fine_sigma: float) -> tuple[float, ...]:
    rng = np.random.default_rng(0)
    white = rng.normal(0.0, 1.0, (512, 512)).astype(np.float32)
    acts = _band_activity(white, 6, focus_measure(white, "sml", 0, fine_sigma))
    crops = [max(1, 16 >> k) for k in range(len(acts))]
    return tuple(float(a[c:-c, c:-c].mean()) for c, a in zip(crops, acts, strict=True))


def _noise_gains(levels: int, fine_sigma: float) -> list[float]:
    """Mean band activity of unit white noise per level, for the finest band's modified
    Laplacian at ``fine_sigma`` (``levels`` <= 6 measured on seeded noise, coarser ones
    extrapolated by halving)."""
    gains = list(_unit_noise_gains(float(fine_sigma)))
    while len(gains) < levels:
        gains.append(gains[-1] / 2)
    return gains[:levels]


def _discontinuities(index: np.ndarray, radius: int, step: float) -> np.ndarray:
    """``(H, W)`` bool: pixels within ``radius`` px of a depth change larger than ``step``
    frames (grey dilation minus erosion of the ``(H, W)`` label map)."""
    d = index.astype(np.float32)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))
    return (cv2.dilate(d, k) - cv2.erode(d, k)) > step
