"""Classical fusion methods: Laplacian pyramid, guided-filter fusion (GFF) and a depth map.

All three stream the stack: frames are read one at a time (twice: a decision pass and a blending
pass), so memory depends on the frame size, not on the number of frames. Per-source maps of deep
stacks are returned as :class:`~mffgui.core.decision.LazyMaps`, recomputed on demand.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

from mffgui.core.blend import collapse, laplacian_pyramid, max_pyramid_levels, upsample_to
from mffgui.core.decision import (
    ArgmaxTracker,
    LazyMaps,
    maps_fit_in_memory,
    mode_filter,
    smooth_depth,
)
from mffgui.core.depth_blend import blend_by_depth, clean_index, depth_weights
from mffgui.core.filters import box_mean, guided_filter
from mffgui.core.focus import focus_measure, laplacian_saliency, luma
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.errors import ParamsError, StackMismatch, TooFewImages
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.methods.registry import register_method
from mffgui.methods.shared_params import blend_sigma_param, smoothing_param
from mffgui.types import FusionResult, Stack

Maps = np.ndarray | LazyMaps
T = TypeVar("T")


class _Run:
    """Book-keeping shared by the methods: validated frames, timings, progress and cancel."""

    def __init__(
        self, stack: Stack, passes: int, progress: ProgressFn, cancel: CancelToken
    ) -> None:
        n = len(stack)
        if n < 2:
            raise TooFewImages(f"a stack needs at least two images, got {n}")
        self.stack = stack
        self.n = n
        h, w = stack.shape
        self.shape = (int(h), int(w))
        self.channels = stack.channels
        self.progress = progress
        self.cancel = cancel
        self.total = passes * n + 1
        self.done = 0
        self.read_s = 0.0
        self.wait_s = 0.0
        self.t0 = time.perf_counter()
        self.marks: dict[str, float] = {}
        self.eager = maps_fit_in_memory(n, self.shape)
        """Whether the per-frame maps are kept in memory (else recomputed lazily)."""

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``(H, W, C)`` float32, checked against the stack's size."""
        t = time.perf_counter()
        img = np.asarray(self.stack.frame(i), dtype=np.float32)
        self.read_s += time.perf_counter() - t
        if img.ndim == 2:
            img = img[:, :, None]
        if img.shape[:2] != self.shape or img.shape[2] != self.channels:
            name = self.stack.metas[i].name
            raise StackMismatch(
                f"frame {i + 1} ({name}) is {img.shape[1]}x{img.shape[0]}x{img.shape[2]}, "
                f"the stack is {self.shape[1]}x{self.shape[0]}x{self.channels}; "
                "align or crop the images to one size",
                self.stack.metas[i].path,
            )
        return img

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(i, frame)`` for ``indices``, decoding the next frame in a background thread
        while the caller works on the current one (file decoding releases the GIL)."""
        order = list(indices)
        if not order:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mffgui-read") as pool:
            pending = pool.submit(self.frame, order[0])
            for k, i in enumerate(order):
                t = time.perf_counter()
                img = pending.result()
                self.wait_s += time.perf_counter() - t
                if k + 1 < len(order):
                    pending = pool.submit(self.frame, order[k + 1])
                yield i, img

    def measured(
        self,
        fn: Callable[[int, np.ndarray, int], T],
        indices: Iterable[int],
        workers: int = 2,
    ) -> Iterator[tuple[int, T]]:
        """Yield ``(i, fn(i, frame, slot))`` for ``indices``, in their order, with ``fn`` run in
        ``workers`` threads on the next frames while the caller works on the current result.

        At most ``workers + 1`` results exist at once (the caller's and those being computed),
        so ``slot`` (in ``range(workers + 1)``) names buffers ``fn`` may reuse: a slot comes
        back only after the caller is done with its previous result. ``fn`` must not depend on
        the other frames; the caller folds the results in order, so the outcome does not depend
        on the timing. Closing the generator (a cancel) waits only for the frames being
        computed.
        """
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mffgui-measure") as pool:
            pending: deque[tuple[int, Future[T]]] = deque()
            try:
                for k, (i, img) in enumerate(self.frames(indices)):
                    pending.append((i, pool.submit(fn, i, img, k % (workers + 1))))
                    if len(pending) > workers:
                        j, done = pending.popleft()
                        yield j, done.result()
                while pending:
                    j, done = pending.popleft()
                    yield j, done.result()
            finally:
                for _, fut in pending:
                    fut.cancel()

    def argmax_pass(
        self, measure: Callable[[np.ndarray], np.ndarray], stage: str
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """The decision pass: ``measure`` every frame and track the per-pixel argmax.

        Parameters
        ----------
        measure : callable
            ``(H, W, C) float32 frame -> (H, W) float32`` focus or saliency map.
        stage : str
            Progress label of the pass (one step per frame).

        Returns
        -------
        maps : ndarray, (N, H, W) float32, or None
            Every frame's map when :attr:`eager`, else ``None``.
        index : ndarray, (H, W) uint16
            Per pixel, the frame of the largest measure (the first on ties).
        best : ndarray, (H, W) float32
            That largest measure.
        """
        maps = np.zeros((self.n, *self.shape), np.float32) if self.eager else None
        tracker = ArgmaxTracker(self.shape)
        for i, img in self.frames(range(self.n)):
            m = measure(img)
            tracker.update(i, m)
            if maps is not None:
                maps[i] = m
            self.step(stage)
        assert tracker.best is not None  # n >= 2 frames were measured
        return maps, tracker.index, tracker.best

    def step(self, stage: str) -> None:
        """One unit of work done: report progress, then honour a cancel request."""
        self.done += 1
        self.progress(self.done, self.total, stage)
        self.cancel.raise_if_cancelled()

    def mark(self, name: str) -> None:
        """Record the seconds since the previous mark under ``name``."""
        now = time.perf_counter()
        self.marks[name] = now - self.t0 - sum(self.marks.values())

    def result(
        self,
        name: str,
        params: Params,
        fused: np.ndarray,
        index: np.ndarray,
        weights: Maps,
        focus: Maps,
        **extra: Any,
    ) -> FusionResult:
        self.progress(self.total, self.total, "done")
        timings = dict(self.marks)
        timings["read"] = self.read_s
        timings["read_wait"] = self.wait_s
        timings["total"] = time.perf_counter() - self.t0
        fused = np.clip(fused, 0.0, 1.0).astype(np.float32, copy=False)
        fused = fused.reshape(*self.shape, self.channels)
        meta = {
            "method": name,
            "params": params.to_dict(),
            "device": "cpu",
            "timings": timings,
            **extra,
        }
        return FusionResult(
            fused=fused,
            index_map=index.astype(np.uint16, copy=False),
            weights=weights,
            focus_maps=focus,
            meta=meta,
        )


class _StreamingMethod:
    """``fuse`` of the streaming methods: checks the parameters, sets up the :class:`_Run`
    (two passes over the frames) and hands over to the subclass's ``_fuse``."""

    info: ClassVar[MethodInfo]

    def fuse(
        self,
        stack: Stack,
        params: Params | None = None,
        *,
        progress: ProgressFn = noop_progress,
        cancel: CancelToken = NEVER,
    ) -> FusionResult:
        """Fuse ``stack`` (any N >= 2, gray or RGB); see the class docstring for the algorithm."""
        return self._fuse(_params(params, self.info.params), _Run(stack, 2, progress, cancel))

    def _fuse(self, p: Any, run: _Run) -> FusionResult:
        """The algorithm, on validated parameters ``p`` of ``info.params``."""
        raise NotImplementedError


def _params(params: Params | None, cls: type[Params]) -> Any:
    if params is None:
        return cls()
    if isinstance(params, cls):
        return params
    if type(params) is Params:
        return cls()
    raise ParamsError(f"expected {cls.__name__}, got {type(params).__name__}")


def _normalised(
    maps: np.ndarray | None,
    n: int,
    shape: tuple[int, int],
    scale: float,
    compute: Callable[[int], np.ndarray],
) -> Maps:
    """Focus maps scaled into [0, 1]: the eager array in place, else lazily."""
    inv = np.float32(1.0 / scale) if scale > 0 else np.float32(0.0)
    if maps is not None:
        maps *= inv
        np.clip(maps, 0.0, 1.0, out=maps)
        return maps
    return LazyMaps(n, shape, lambda i: np.clip(compute(i) * inv, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------
# Laplacian pyramid


@dataclass(frozen=True)
class LaplacianParams(Params):
    """Parameters of :class:`LaplacianPyramidFusion`."""

    levels: int = param(
        0, "Pyramid detail levels (0 = as many as fit, base at least 16 px)", min=0, max=12
    )
    activity_radius: int = param(
        1,
        "Radius of the window over which |coefficient| is averaged "
        "to measure activity (0 = single coefficient)",
        min=0,
        max=5,
    )
    consistency: int = param(
        3,
        "Window of the majority filter applied to each level's choice map (1 = off)",
        min=1,
        max=15,
    )


@register_method
class LaplacianPyramidFusion(_StreamingMethod):
    """Laplacian-pyramid fusion with max-activity selection and consistency verification.

    Every frame is decomposed into a Laplacian pyramid (P. J. Burt, E. H. Adelson, "The
    Laplacian pyramid as a compact image code", IEEE Trans. Communications 31(4), 1983). At each
    detail level the coefficient of the source with the largest local activity (window mean of
    the absolute luma coefficient, after P. J. Burt, R. J. Kolczynski, "Enhanced image capture
    through fusion", ICCV 1993) is selected for all colour channels; the choice map is then
    cleaned by a majority filter (consistency verification of Li, Manjunath & Mitra 1995). The
    low-pass base is the average of the sources. Soft weights are the per-source fraction of
    detail levels choosing that source, upsampled to full resolution.
    """

    info: ClassVar[MethodInfo] = MethodInfo(
        name="laplacian",
        title="Laplacian pyramid",
        kind="classical",
        params=LaplacianParams,
        citation='P. J. Burt, E. H. Adelson, "The Laplacian pyramid as a compact image code", '
        'IEEE Trans. Commun. 31(4), 1983; P. J. Burt, R. J. Kolczynski, "Enhanced '
        'image capture through fusion", ICCV 1993',
        description="Multi-scale selection of the most active pyramid coefficients with a "
        "consistency check; averaged base. Robust, no halos, slightly lower contrast.",
    )

    def _fuse(self, p: LaplacianParams, run: _Run) -> FusionResult:
        n, shape, eager = run.n, run.shape, run.eager
        levels = p.levels or max_pyramid_levels(shape, min_size=16)
        levels = min(levels, max_pyramid_levels(shape, min_size=2))
        focus = np.zeros((n, *shape), np.float32) if eager else None

        def activity(band: np.ndarray) -> np.ndarray:
            return box_mean(np.abs(band), p.activity_radius)

        trackers: list[ArgmaxTracker] = []
        for i, img in run.frames(range(n)):
            pyr = laplacian_pyramid(luma(img), levels)
            for lev in range(levels):
                act = activity(pyr[lev])
                if i == 0:
                    trackers.append(ArgmaxTracker(act.shape))
                trackers[lev].update(i, act)
                if lev == 0 and focus is not None:
                    focus[i] = act
            run.step("measuring activity")
        scale = float(trackers[0].best.max()) if levels else 0.0  # type: ignore[union-attr]
        choices = [mode_filter(t.index, p.consistency) for t in trackers]
        trackers.clear()
        run.mark("decision")

        def weight(i: int) -> np.ndarray:
            if not levels:
                return np.full(shape, 1.0 / n, np.float32)
            # Coarse to fine: upsample the running sum once per level (geometric cost).
            w = (choices[-1] == i).astype(np.float32)
            for c in reversed(choices[:-1]):
                w = upsample_to(w, c.shape)
                w += c == i
            return upsample_to(w, shape) * np.float32(1.0 / levels)

        weights = np.zeros((n, *shape), np.float32) if eager else None
        index = ArgmaxTracker(shape)
        out: list[np.ndarray] = []
        for i, img in run.frames(range(n)):
            pyr = laplacian_pyramid(img, levels)
            if i == 0:
                out = [np.zeros_like(b) for b in pyr]
            for lev in range(levels):
                mask = choices[lev] == i
                if pyr[lev].ndim == 3:
                    mask = mask[:, :, None]
                np.copyto(out[lev], pyr[lev], where=mask)
            out[levels] += pyr[levels] * np.float32(1.0 / n)
            w = weight(i)
            index.update(i, w)
            if weights is not None:
                weights[i] = w
            run.step("blending pyramids")
        fused = collapse(out)
        run.mark("blend")

        def focus_of(i: int) -> np.ndarray:
            if not levels:
                return np.zeros(shape, np.float32)
            return activity(laplacian_pyramid(luma(run.frame(i)), 1)[0])

        return run.result(
            self.info.name,
            p,
            fused,
            index.index,
            weights if weights is not None else LazyMaps(n, shape, weight),
            _normalised(focus, n, shape, scale, focus_of),
            levels=levels,
        )


# ---------------------------------------------------------------------------------------------
# Guided-filter fusion


@dataclass(frozen=True)
class GFFParams(Params):
    """Parameters of :class:`GuidedFilterFusion` (defaults: the paper's)."""

    base_radius: int = param(
        15,
        "Radius of the average filter of the two-scale decomposition (15 = 31x31)",
        min=1,
        max=100,
    )
    saliency_radius: int = param(
        5, "Radius r_g of the Gaussian smoothing |Laplacian|", min=1, max=50
    )
    saliency_sigma: float = param(
        5.0, "Sigma of the Gaussian smoothing |Laplacian|", min=0.1, max=50.0
    )
    r1: int = param(45, "Guided-filter radius for the base-layer weights", min=1, max=200)
    eps1: float = param(
        0.3, "Guided-filter regularisation for the base-layer weights", min=1e-9, max=10.0
    )
    r2: int = param(7, "Guided-filter radius for the detail-layer weights", min=1, max=100)
    eps2: float = param(
        1e-6, "Guided-filter regularisation for the detail-layer weights", min=1e-12, max=10.0
    )
    guide: Literal["luma", "color"] = param(
        "luma",
        "Guidance image: the source's luma (as the public MATLAB GFF code) or the "
        "colour source with the colour guided filter (slower)",
        choices=("luma", "color"),
    )


@register_method
class GuidedFilterFusion(_StreamingMethod):
    """Image fusion with guided filtering (GFF).

    S. Li, X. Kang, J. Hu, "Image fusion with guided filtering", IEEE Trans. Image Processing
    22(7), 2013, 2864-2875. Each source is split into a base layer (31x31 average) and a
    detail layer; saliency is the Gaussian-smoothed absolute Laplacian of the luma; the binary
    argmax weight maps are refined by guided filtering with the source as guide (``r1, eps1``
    for the base, ``r2, eps2`` for the detail layer), normalised, and the layers are fused by
    weighted averaging. As in the public MATLAB ``GFF.m`` the guide is the grayscale source by
    default; ``guide="color"`` uses the colour guided filter of He et al. instead. Negative
    guided-filter outputs are clipped to 0 before normalisation so that weights stay in
    ``[0, 1]``. The reported weights are the normalised detail weights.
    """

    info: ClassVar[MethodInfo] = MethodInfo(
        name="gff",
        title="Guided filtering (GFF)",
        kind="classical",
        params=GFFParams,
        citation='S. Li, X. Kang, J. Hu, "Image fusion with guided filtering", IEEE Trans. '
        "Image Process. 22(7), 2013, 2864-2875",
        description="Two-scale fusion whose argmax saliency weights are refined by guided "
        "filtering; sharp, edge-aware transitions.",
    )

    def _fuse(self, p: GFFParams, run: _Run) -> FusionResult:
        n, shape, ch, eager = run.n, run.shape, run.channels, run.eager

        def saliency(img: np.ndarray) -> np.ndarray:
            return laplacian_saliency(luma(img), p.saliency_radius, p.saliency_sigma)

        focus, choice, best = run.argmax_pass(saliency, "saliency")
        scale = float(best.max())
        del best
        run.mark("decision")

        def guide_of(img: np.ndarray) -> np.ndarray:
            return img if (p.guide == "color" and ch == 3) else luma(img)

        def detail_weight(i: int, img: np.ndarray) -> np.ndarray:
            pmap = (choice == i).astype(np.float32)
            return np.maximum(guided_filter(guide_of(img), pmap, p.r2, p.eps2), 1e-9)

        acc_b = np.zeros((*shape, ch), np.float32)
        acc_d = np.zeros((*shape, ch), np.float32)
        sum_b = np.zeros(shape, np.float32)
        sum_d = np.zeros(shape, np.float32)
        weights = np.zeros((n, *shape), np.float32) if eager else None
        index = ArgmaxTracker(shape)
        for i, img in run.frames(range(n)):
            pmap = (choice == i).astype(np.float32)
            wb = np.maximum(guided_filter(guide_of(img), pmap, p.r1, p.eps1), 1e-9)
            wd = detail_weight(i, img)
            base = box_mean(img, p.base_radius)
            acc_b += wb[:, :, None] * base
            acc_d += wd[:, :, None] * (img - base)
            sum_b += wb
            sum_d += wd
            index.update(i, wd)
            if weights is not None:
                weights[i] = wd
            run.step("guided filtering")
        fused = acc_b / sum_b[:, :, None] + acc_d / sum_d[:, :, None]
        run.mark("blend")
        if weights is not None:
            weights /= sum_d[None]
            out_weights: Maps = weights
        else:
            out_weights = LazyMaps(n, shape, lambda i: detail_weight(i, run.frame(i)) / sum_d)
        return run.result(
            self.info.name,
            p,
            fused,
            index.index,
            out_weights,
            _normalised(focus, n, shape, scale, lambda i: saliency(run.frame(i))),
        )


# ---------------------------------------------------------------------------------------------
# Depth map


@dataclass(frozen=True)
class DepthMapParams(Params):
    """Parameters of :class:`DepthMapFusion`."""

    focus: Literal["sml", "eol"] = param(
        "sml",
        "Focus measure: sum-modified-Laplacian or energy of Laplacian",
        choices=("sml", "eol"),
    )
    radius: int = param(
        4, "Estimation radius: focus is averaged over a (2r+1)^2 window", min=0, max=50
    )
    presmooth: float = param(
        1.0,
        "Gaussian sigma applied before the focus measure (noise, JPEG blocking); 0 = none",
        min=0.0,
        max=10.0,
    )
    contrast_threshold: float = param(
        0.05,
        "Pixels whose best focus is below this fraction of the image's 99th-percentile "
        "focus are too flat to judge; their depth is interpolated from their neighbours",
        min=0.0,
        max=1.0,
    )
    fill_sigma: float = param(
        32.0, "Radius (Gaussian sigma, px) of that interpolation", min=1.0, max=1000.0
    )
    smoothing: int = smoothing_param()
    blend_sigma: float = blend_sigma_param()


@register_method
class DepthMapFusion(_StreamingMethod):
    """Depth-map focus stacking: per-pixel argmax of a focus measure, cleaned, softly blended.

    The approach of Zerene Stacker's "DMap" and Helicon Focus's "method B": a focus measure
    (sum-modified-Laplacian, S. K. Nayar, Y. Nakagawa, "Shape from focus", IEEE TPAMI 16(8),
    1994, or energy of Laplacian) is computed per frame, the index of the sharpest frame per
    pixel gives a depth map; pixels too flat to judge (below a contrast threshold) take a
    confidence-weighted interpolation of their neighbours' depth, and a median filter removes
    isolated errors. Each output pixel is then taken from the frame its depth names; within
    ``3 * blend_sigma`` of a depth change the depth is Gaussian-smoothed and a pixel mixes the
    two frames on either side of its fractional depth (weights ``1 - frac`` and ``frac``), so
    transitions are soft. Away from depth changes output pixels are exact copies of a source
    pixel (16-bit data stays exact); ``blend_sigma=0`` copies every pixel.

    Frames are streamed twice (focus pass, blend pass), keeping only a running maximum, the
    depth map and the accumulators in memory; frames no pixel uses are not read again.
    """

    info: ClassVar[MethodInfo] = MethodInfo(
        name="depthmap",
        title="Depth map (DMap)",
        kind="classical",
        params=DepthMapParams,
        citation='S. K. Nayar, Y. Nakagawa, "Shape from focus", IEEE TPAMI 16(8), 1994 '
        "(sum-modified-Laplacian); depth-map stacking as in Zerene Stacker DMap / "
        "Helicon Focus method B",
        description="Fast depth-map stacking for deep stacks: takes each pixel from its "
        "sharpest frame (source values stay exact away from depth changes); best "
        "for opaque subjects.",
    )

    def _fuse(self, p: DepthMapParams, run: _Run) -> FusionResult:
        n, shape, ch, eager = run.n, run.shape, run.channels, run.eager

        def measure(img: np.ndarray) -> np.ndarray:
            return focus_measure(luma(img), p.focus, p.radius, p.presmooth)

        focus, index, best = run.argmax_pass(measure, "measuring focus")
        scale = float(best.max())
        index = clean_index(index, best, p.contrast_threshold, p.fill_sigma, p.smoothing)
        del best
        run.mark("depth map")

        depth = smooth_depth(index, p.blend_sigma)
        fused, frames_used = blend_by_depth(depth, n, ch, run.frames, lambda: run.step("blending"))
        run.mark("blend")
        out_weights: Maps = depth_weights(depth, n, eager)
        index = np.rint(depth).astype(np.uint16)
        return run.result(
            self.info.name,
            p,
            fused,
            index,
            out_weights,
            _normalised(focus, n, shape, scale, lambda i: measure(run.frame(i))),
            frames_used=frames_used,
        )
