"""GACN as a fusion method: pairs, whole stacks (four strategies), any device.

The network lives in :mod:`mffgui.models.gacn`; this adapter adds what inference needs around it:
overlapping tiles with exact whole-image channel statistics, the paper's multi-image
strategies and the :class:`~mffgui.types.FusionResult` maps. Weights, the model cache, threads,
the memory budget and the CUDA/MPS out-of-memory fallback are the shared
:mod:`mffgui.models.runtime`. torch is imported only when a fusion runs.

Tiling and the one global operation
-----------------------------------
Everything in GACN is local (receptive-field radius
:data:`~mffgui.models.gacn.RECEPTIVE_RADIUS` = 35 px) except the four channel
squeeze-excitation layers, which scale each feature channel by a function of its mean over the
*whole* image. When an image is split into tiles, those means are first gathered exactly over
all tiles, one layer after the other (layer ``k``'s mean needs the scales of layers ``< k``), and
every tile then uses the whole-image scales. Tiled and whole-image results therefore agree up to
floating-point rounding.

Memory for N > 2
----------------
*Decision calibration* (default; the paper's strategy) compares every frame with one reference
frame. The reference's features are computed once: its 64-channel gradient energy (256 bytes per
pixel) is kept for the whole image, and in tiled mode for every tile when that fits the memory
budget left over by a tile's working set (else it is recomputed per tile). Frames are streamed:
the decision volume of the official code is never stored, only a running arg-max (best value,
index map) and the running fused image. The one-hot ``weights`` are not stored either: they are
a :class:`~mffgui.core.decision.LazyMaps` view of the index map. Each frame's focus map is
written as it is produced into a :class:`~mffgui.types.MapStack` that goes to an (unmapped)
temporary file once the N maps pass :data:`~mffgui.core.decision.EAGER_MAPS_BYTES`, and is
normalised on reading. Resident memory therefore does not grow with N beyond the index map and
the running decision state.
*Serial* fuses frame by frame into a running image; the per-step maps are kept (N − 1 maps) to
give each source its exact soft weight at the end. Steps, weights and focus maps use the same
spilling :class:`~mffgui.types.MapStack` (float32 in the file).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mffgui.core import decision as _decision
from mffgui.core.decision import LazyMaps
from mffgui.core.depth_blend import blend_by_depth, clean_index, depth_weights
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.core.tiling import Tile, plan_tiles
from mffgui.errors import MffError, StackMismatch, TooFewImages
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.methods.registry import register_method
from mffgui.methods.shared_params import (
    blend_sigma_param,
    device_param,
    memory_mb_param,
    smoothing_param,
    threads_param,
    tile_size_param,
    weights_param,
)
from mffgui.types import FusionResult, MapStack, Stack, to_gray

ARCH = "gacn"
"""The network's :class:`~mffgui.models.specs.NetworkSpec` arch."""
HALO = 40
"""Tile margin in pixels; covers the 35-pixel receptive field of the BGF map."""
BYTES_PER_PIXEL = 2400
"""Peak working memory of one tile of a pair, per pixel (measured on the CPU, rounded up)."""
MIN_TILE = 128
"""Smallest tile core tried after out-of-memory errors."""
MIN_SIZE = 8
"""Smallest image side the guided filter accepts (as the official code)."""
ACTIVITY_CONTRAST = 0.05
"""Activity strategy: pixels whose best focus is below this fraction of the 99th-percentile
focus take their neighbours' depth (the ``depthmap`` default)."""
ACTIVITY_FILL_SIGMA = 32.0
"""Activity strategy: radius (Gaussian sigma, px) of that interpolation."""
CALIBRATION_EPS = 1e-4
"""Stabiliser of the official decision-volume formula ``m0 / (m_i + 1e-4) · (1 − m_i)``."""


@dataclass(frozen=True)
class GacnParams(Params):
    """Parameters of :class:`GacnMethod`."""

    weights: str | None = weights_param(
        "GACN checkpoint file (mffgui checkpoint or plain state_dict such as the official "
        "GACN.pkl); empty = the project's bundled weights"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = device_param()
    strategy: Literal["pyramid", "serial", "activity", "calibration"] = param(
        "pyramid",
        "Stacks of more than two images: pyramid = GACN fuses every pair of adjacent frames "
        "(decision at pyramid_scale), a Laplacian pyramid combines the pair outputs (default: "
        "the best on ground-truth stacks and the fastest but activity); serial = each frame "
        "fused into the running result by GACN's pair decision; activity = "
        "GACN's learned focus measure compared across all frames at once, cleaned like a depth "
        "map (several times faster, 1-2 dB lower); calibration = the paper's decision "
        "calibration against a reference frame (exact preset of the official code)",
        choices=("pyramid", "serial", "activity", "calibration"),
    )
    reference: int = param(
        0,
        "Calibration reference frame (0 = first, as the official code; -1 = middle frame)",
        min=-1,
    )
    decision_scale: float = param(
        1.0,
        "Serial strategy: resolution of the network's decision (1 = full, as the paper; "
        "0.5 = half, about 3x faster: the raw decision map is upsampled and the boundary-guided "
        "filter runs at full resolution)",
        min=0.25,
        max=1.0,
        step=0.25,
    )
    pyramid_scale: float = param(
        0.5,
        "Pyramid strategy: resolution of the network's decision (0.5 = half, the default; "
        "1 = full, about 2.5x slower at equal quality on the ground-truth stacks; the "
        "boundary-guided filter always runs at full resolution)",
        min=0.25,
        max=1.0,
        step=0.25,
    )
    activity_scale: float = param(
        0.5,
        "Activity strategy: resolution of the network pass (0.5 = half, the default: "
        "about 4x faster than 1 = full at equal quality on the ground-truth stacks; the choice "
        "is upsampled and cleaned at full resolution)",
        min=0.25,
        max=1.0,
        step=0.25,
    )
    smoothing: int = smoothing_param("Activity strategy: ")
    blend_sigma: float = blend_sigma_param("Activity strategy: ")
    tile_size: int = tile_size_param()
    memory_mb: int = memory_mb_param()
    threads: int = threads_param()


@dataclass
class _Run:
    """Mutable state of one fusion attempt (device, tiles, notes)."""

    torch: Any
    model: Any
    device: Any
    tile: int
    shape: tuple[int, int]
    cancel: CancelToken
    tiles: list[Tile]
    cache_bytes: float = 0.0
    """Memory (bytes, on ``device``) the tiled calibration may spend on caching the reference
    frame's per-tile energies; 0 = recompute them for every frame."""

    @property
    def whole(self) -> bool:
        return len(self.tiles) == 1


def _load_model(path: Path, device: Any) -> tuple[Any, str]:
    """GACN from a checkpoint, in eval mode, channels-last, on ``device``, and the file's sha256
    (the shared :data:`mffgui.models.runtime.MODEL_CACHE`)."""
    from mffgui.models.runtime import load_model

    loaded = load_model(ARCH, path, device)
    return loaded.model, loaded.sha256


def _cache_bytes(device: Any, tiles: list[Tile], memory_mb: int) -> float:
    """Budget left after the working set of the largest tile (for the reference cache)."""
    from mffgui.models.runtime import memory_budget

    if len(tiles) <= 1:
        return 0.0
    largest = max(t.read_shape[0] * t.read_shape[1] for t in tiles)
    return max(0.0, memory_budget(device, memory_mb) - BYTES_PER_PIXEL * largest)


class _Engine:
    """Tile-aware GACN inference on numpy gray images ``(H, W)`` float32."""

    def __init__(self, run: _Run) -> None:
        self.r = run
        self.t = run.torch
        self._energy_cache: dict[int, Any] = {}
        self.cache_reference: bool | None = None
        """Whether :meth:`against` keeps the reference's tile energies (decided on first use)."""

    def tensor(self, a: np.ndarray) -> Any:
        """``(h, w)`` numpy -> ``(1, 1, h, w)`` float32 on the device."""
        return self.t.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None].to(
            self.r.device
        )

    def scales(self, gray: np.ndarray) -> list[Any] | None:
        """Whole-image CSE scales of a gray image when tiled, else ``None`` (computed inline)."""
        if self.r.whole:
            return None
        m = self.r.model
        scales: list[Any] = []
        count = float(gray.shape[0] * gray.shape[1])
        for k in range(4):
            total = self.t.zeros(16, dtype=self.t.float64)  # on the CPU: MPS has no float64
            for tile in self.r.tiles:
                self.r.cancel.raise_if_cancelled()
                y = m.block_output(self.tensor(gray[tile.read]), scales, k)
                ys, xs = tile.core_in_read
                total += y[:, :, ys, xs].sum(dim=(0, 2, 3)).cpu().double()
            mean = (total / count).to(device=self.r.device, dtype=self.t.float32)[None]
            scales.append(m.channel_scales(k, mean))
        return scales

    def energy(self, gray_t: Any, scales: list[Any] | None) -> Any:
        """64-channel gradient energy ``(1, 64, h, w)`` of a tile's gray tensor."""
        m = self.r.model
        x = gray_t.contiguous(memory_format=self.t.channels_last)
        return m.gradient_energy(m.features(x, scales))

    def focus(self, energy: Any) -> Any:
        """Channel-mean spatial frequency ``(B, 1, h, w)``: the per-source focus measure."""
        return self.r.model.window_sum(energy.mean(dim=1, keepdim=True))

    def decide(self, ga: Any, gb: Any, ea: Any, eb: Any) -> tuple[Any, Any]:
        """Raw decision and BGF maps ``(1, 1, h, w)`` from gray tensors and energies."""
        m = self.r.model
        decision = self.t.sigmoid(m.decision_logits(ea, eb) * 1000.0)
        return decision, m.boundary_guided_filter(decision, ga, gb)

    def pair(self, ga: np.ndarray, gb: np.ndarray) -> dict[str, np.ndarray]:
        """Decision, BGF and both focus maps of a gray pair, each ``(H, W)`` float32."""
        sa, sb = self.scales(ga), self.scales(gb)
        both = (
            None
            if sa is None or sb is None
            else [self.t.cat([x, y]) for x, y in zip(sa, sb, strict=True)]
        )
        out = {k: np.empty(ga.shape, np.float32) for k in ("decision", "bgf", "focus_a", "focus_b")}
        for tile in self.r.tiles:
            self.r.cancel.raise_if_cancelled()
            ta, tb = self.tensor(ga[tile.read]), self.tensor(gb[tile.read])
            e = self.energy(self.t.cat([ta, tb]), both)
            focus = self.focus(e)
            decision, bgf = self.decide(ta, tb, e[:1], e[1:])
            del e
            for key, val in (
                ("decision", decision[0, 0]),
                ("bgf", bgf[0, 0]),
                ("focus_a", focus[0, 0]),
                ("focus_b", focus[1, 0]),
            ):
                out[key][tile.core] = val[tile.core_in_read].float().cpu().numpy()
        return out

    def pair_at(self, small: _Run, ga: np.ndarray, gb: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`pair` with the network's raw decision computed at ``small``'s resolution.

        The raw decision and focus maps are upsampled (bilinear) to full size; the
        boundary-guided filter then runs at full resolution on the full-size gray images, so
        the transitions follow the full-resolution edges.
        """
        import cv2

        h, w = ga.shape
        sh, sw = small.shape
        low = _Engine(small).pair(
            cv2.resize(ga, (sw, sh), interpolation=cv2.INTER_AREA),
            cv2.resize(gb, (sw, sh), interpolation=cv2.INTER_AREA),
        )

        def up(a: np.ndarray) -> np.ndarray:
            return cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)

        out = {
            "decision": up(low["decision"]),
            "focus_a": up(low["focus_a"]),
            "focus_b": up(low["focus_b"]),
            "bgf": np.empty((h, w), np.float32),
        }
        m = self.r.model
        for tile in self.r.tiles:
            self.r.cancel.raise_if_cancelled()
            bgf = m.boundary_guided_filter(
                self.tensor(out["decision"][tile.read]),
                self.tensor(ga[tile.read]),
                self.tensor(gb[tile.read]),
            )
            out["bgf"][tile.core] = bgf[0, 0][tile.core_in_read].float().cpu().numpy()
        return out

    def against(
        self,
        ref: np.ndarray,
        ref_scales: list[Any] | None,
        other: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """BGF map of ``ref`` vs ``other`` plus both focus maps, reusing the reference's work.

        The reference's energy and focus map are computed once and cached: always in
        whole-image mode, and per tile when all tiles fit :attr:`_Run.cache_bytes` (energy and
        focus, 260 bytes per read pixel); otherwise they are recomputed for every frame.
        """
        if self.cache_reference is None:
            need = sum(t.read_shape[0] * t.read_shape[1] for t in self.r.tiles) * 65 * 4
            self.cache_reference = self.r.whole or need <= self.r.cache_bytes
        so = self.scales(other)
        out = {k: np.empty(ref.shape, np.float32) for k in ("bgf", "focus_ref", "focus_other")}
        for i, tile in enumerate(self.r.tiles):
            self.r.cancel.raise_if_cancelled()
            tr, to = self.tensor(ref[tile.read]), self.tensor(other[tile.read])
            if i in self._energy_cache:
                er, fr = self._energy_cache[i]
            else:
                er = self.energy(tr, ref_scales)
                fr = self.focus(er)
                if self.cache_reference:
                    self._energy_cache[i] = (er, fr)
            eo = self.energy(to, so)
            fo = self.focus(eo)
            _, bgf = self.decide(tr, to, er, eo)
            del eo
            for key, val in (
                ("bgf", bgf[0, 0]),
                ("focus_ref", fr[0, 0]),
                ("focus_other", fo[0, 0]),
            ):
                out[key][tile.core] = val[tile.core_in_read].float().cpu().numpy()
        return out


def _scaled_run(run: _Run, scale: float) -> _Run | None:
    """``run`` at ``scale`` of its resolution (tiles re-planned), or ``None`` for full size."""
    import dataclasses

    h, w = run.shape
    small = (max(MIN_SIZE, round(h * scale)), max(MIN_SIZE, round(w * scale)))
    if scale >= 1.0 or small == (h, w):
        return None
    return dataclasses.replace(run, shape=small, tiles=plan_tiles(small, run.tile, HALO))


def blend_pair(a: np.ndarray, b: np.ndarray, bgf: np.ndarray) -> np.ndarray:
    """Official pair fusion ``bgf · a + (1 − bgf) · b``, clipped to [0, 1].

    Parameters
    ----------
    a, b : ndarray, (H, W, C) float32
    bgf : ndarray, (H, W) float32
        Boundary-guided decision map (weight of ``a``), unclipped.

    Returns
    -------
    ndarray, (H, W, C) float32
    """
    w = bgf[:, :, None]
    return np.clip(w * a + (np.float32(1.0) - w) * b, 0.0, 1.0).astype(np.float32)


def pair_maps(
    gray_a: np.ndarray,
    gray_b: np.ndarray,
    weights: str | Path,
    device: str = "cpu",
    tile_size: int = 0,
) -> dict[str, np.ndarray]:
    """GACN maps of one gray pair (for evaluation and tests; no OOM fallback).

    Parameters
    ----------
    gray_a, gray_b : ndarray, (H, W) float32
        Rec. 709 luma in [0, 1].
    weights : str or Path
        Checkpoint file.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    tile_size : int
        Tile core side (0 = whole image).

    Returns
    -------
    dict of str to ndarray (H, W) float32
        ``decision`` (raw ``sigmoid(1000 · logits)``), ``bgf`` (boundary-guided map used for
        fusion), ``focus_a`` and ``focus_b`` (channel-mean feature spatial frequency).
    """
    import torch

    from mffgui.models.device import pick_device

    dev = pick_device(device)
    model, _ = _load_model(Path(weights), dev)
    run = _Run(
        torch, model, dev, tile_size, gray_a.shape, NEVER, plan_tiles(gray_a.shape, tile_size, HALO)
    )
    with torch.inference_mode():
        return _Engine(run).pair(gray_a, gray_b)


class _Adapter:
    """This module's pieces that :mod:`mffgui.methods.gacn_stack` uses (passed, not imported)."""

    halo = HALO
    min_size = MIN_SIZE
    engine = staticmethod(lambda run: _Engine(run))
    blend_pair = staticmethod(blend_pair)
    focus_output = staticmethod(lambda raw, peak: _focus_output(raw, peak))


_ADAPTER = _Adapter()

_Outcome = tuple[np.ndarray, np.ndarray, Any, Any, dict[str, Any]]
"""fused, index map, weights, focus maps, extra meta."""


def _normalise_focus(focus: MapStack) -> None:
    """Scale raw focus maps in place by their common maximum, to ``[0, 1]``."""
    peak = max(float(np.max(focus[i])) for i in range(len(focus)))
    if peak > 0:
        for i in range(len(focus)):
            focus[i] = focus[i] / peak


def _focus_output(raw: MapStack, peak: float) -> MapStack | LazyMaps:
    """Raw focus maps scaled by their common maximum ``peak`` to ``[0, 1]``.

    Parameters
    ----------
    raw : MapStack
        ``(N, H, W)`` raw focus maps (non-negative), from :func:`mffgui.core.decision.spill_maps`.
    peak : float
        Their common maximum.

    Returns
    -------
    MapStack or LazyMaps, (N, H, W) float32
        In-memory maps are scaled in place; spilled ones are scaled when read, so they are
        never all resident.
    """
    inv = np.float32(1.0 / peak) if peak > 0 else np.float32(1.0)
    if not raw.on_disk:
        for i in range(len(raw)):
            raw[i] = raw[i] * inv
        return raw
    return LazyMaps(len(raw), raw.map_shape, lambda i: raw[i] * inv)


def _weights_from_index(index: np.ndarray, n: int) -> LazyMaps:
    """One-hot weights ``(N, H, W)`` float32 of an index map, computed on demand.

    Parameters
    ----------
    index : ndarray, (H, W) uint16
        Source index per pixel, values ``< n``.
    n : int
        Number of sources.

    Returns
    -------
    LazyMaps
        ``weights[k] == (index == k)`` as float32; nothing is stored beyond ``index``.
    """
    return LazyMaps(n, index.shape, lambda k: (index == k).astype(np.float32))


@register_method
class GacnMethod:
    """GACN (Ma et al., 2022): learned decision map with boundary-guided filtering."""

    info: ClassVar[MethodInfo] = MethodInfo(
        name="gacn",
        title="GACN (deep decision map)",
        kind="network",
        params=GacnParams,
        citation='B. Ma, X. Yin, D. Wu et al., "End-to-end learning for simultaneously '
        'generating decision map and multi-focus image fusion result", Neurocomputing 470 '
        "(2022) 204–216",
        description="A siamese CNN compares the spatial frequency of deep features, predicts a "
        "decision map and refines its boundaries with a guided filter. Stacks: adjacent-pair "
        "fusions combined in a Laplacian pyramid (default), serial fusion, a learned activity "
        "map, or the paper's decision calibration against a reference frame.",
    )

    def fuse(
        self,
        stack: Stack,
        params: Params,
        *,
        progress: ProgressFn = noop_progress,
        cancel: CancelToken = NEVER,
    ) -> FusionResult:
        """Fuse a stack of N >= 2 frames.

        Parameters
        ----------
        stack : Stack
            Frames ``(H, W, C)`` float32 in [0, 1]; gray for the network is Rec. 709 luma.
        params : GacnParams
        progress, cancel
            Progress callback and cancel token (checked between frames and tiles).

        Returns
        -------
        FusionResult
            For pairs, ``weights[0]`` is the BGF decision map clipped to [0, 1] (the fused image
            uses the unclipped map, as the official code). For stacks, calibration gives hard
            one-hot weights; serial and pyramid give the exact soft weight of every source.

        Raises
        ------
        WeightsError
            No weights given and none bundled, or a file that is not GACN weights.
        TooFewImages, StackMismatch
            Fewer than two frames, or frames too small for the network.
        """
        if not isinstance(params, GacnParams):
            params = GacnParams.from_mapping(
                params.to_dict() if isinstance(params, Params) else dict(params)
            )
        n = len(stack)
        if n < 2:
            raise TooFewImages(f"GACN needs at least two images, got {n}")
        h, w = stack.shape
        if min(h, w) < MIN_SIZE:
            raise StackMismatch(
                f"images of {w}×{h} pixels are too small for GACN (at least {MIN_SIZE}×{MIN_SIZE})"
            )
        import torch

        from mffgui.models import runtime
        from mffgui.models.device import pick_device

        path = runtime.weights_path(ARCH, params.weights)
        t0, c0 = time.perf_counter(), time.process_time()

        def tile_on(device: Any) -> int:
            return params.tile_size or runtime.auto_tile(
                device, (h, w), params.memory_mb, BYTES_PER_PIXEL, HALO, MIN_TILE
            )

        device = pick_device(params.device)
        place = runtime.Placement(device, tile_on(device))
        run: _Run | None = None
        sha = ""

        def attempt(p: runtime.Placement) -> _Outcome:
            nonlocal run, sha
            model, sha = _load_model(path, p.device)
            tiles = plan_tiles((h, w), p.tile, HALO)
            cache = _cache_bytes(p.device, tiles, params.memory_mb)
            run = _Run(torch, model, p.device, p.tile, (h, w), cancel, tiles, cache)
            return self._fuse(run, stack, params, progress)

        with runtime.torch_threads(params.threads), torch.inference_mode():
            result = runtime.run_with_fallback(attempt, place, max(h, w), MIN_TILE, tile_on)
        assert run is not None
        device, tile, notes = place.device, place.tile, place.notes
        fused, index, weights, focus, extra = result
        total_s = time.perf_counter() - t0
        meta = {
            "method": "gacn",
            "params": params.to_dict(),
            "device": str(device),
            "weights": str(path),
            "weights_sha256": sha,
            "tiles": len(run.tiles),
            "tile_size": tile if len(run.tiles) > 1 else 0,
            "notes": notes,
            "time_s": total_s,
            "cpu_time_s": time.process_time() - c0,
            "timings": {"total": total_s},
            **extra,
        }
        progress(1.0, 1.0, "done")
        return FusionResult(
            fused=fused, index_map=index, weights=weights, focus_maps=focus, meta=meta
        )

    def _fuse(
        self,
        run: _Run,
        stack: Stack,
        params: GacnParams,
        progress: ProgressFn,
    ) -> _Outcome:
        if len(stack) == 2:
            return self._pair(run, stack, progress)
        if params.strategy == "pyramid":
            from mffgui.methods.gacn_stack import fuse_pyramid

            return fuse_pyramid(run, stack, params.pyramid_scale, progress, _ADAPTER)
        if params.strategy == "serial":
            return self._serial(run, stack, params, progress)
        if params.strategy == "activity":
            return self._activity(run, stack, params, progress)
        return self._calibration(run, stack, params, progress)

    # -- activity: learned focus measure, global choice -------------------------------------

    def _activity(
        self, run: _Run, stack: Stack, params: GacnParams, progress: ProgressFn
    ) -> _Outcome:
        """Arg-max over all frames of GACN's focus measure, cleaned and blended as a depth map.

        GACN's decision for a pair compares the two frames' windowed spatial frequency of its
        learned features; here every frame's map is computed once (optionally at reduced
        resolution and upsampled) and the frame with the highest value wins each pixel, so no
        frame is privileged as a reference. Low-confidence pixels, isolated errors and the
        transitions are then handled as by the ``depthmap`` method
        (:mod:`mffgui.core.depth_blend`).
        """
        import dataclasses

        import cv2

        n = len(stack)
        h, w = run.shape
        scale = float(params.activity_scale)
        small = (max(MIN_SIZE, round(h * scale)), max(MIN_SIZE, round(w * scale)))
        if scale < 1.0 and small != (h, w):
            sub = dataclasses.replace(run, shape=small, tiles=plan_tiles(small, run.tile, HALO))
        else:
            sub, small = run, (h, w)
        eng = _Engine(sub)
        focus = _decision.spill_maps(n, (h, w))
        tracker = _decision.ArgmaxTracker((h, w))
        peak = 0.0
        total = 2 * n
        channels = stack.channels

        flat = [False]

        def frame(i: int) -> np.ndarray:
            img = np.asarray(stack.frame(i), dtype=np.float32)
            flat[0] = img.ndim == 2
            return img[:, :, None] if img.ndim == 2 else img

        for i in range(n):
            run.cancel.raise_if_cancelled()
            progress(i, total, f"GACN activity: frame {i + 1} of {n}")
            gray = to_gray(frame(i))
            if small != (h, w):
                gray = cv2.resize(gray, (small[1], small[0]), interpolation=cv2.INTER_AREA)
            sc = eng.scales(gray)
            fm: np.ndarray = np.empty(small, np.float32)
            for tile in sub.tiles:
                run.cancel.raise_if_cancelled()
                f = eng.focus(eng.energy(eng.tensor(gray[tile.read]), sc))
                fm[tile.core] = f[0, 0][tile.core_in_read].float().cpu().numpy()
            if small != (h, w):
                fm = cv2.resize(fm, (w, h), interpolation=cv2.INTER_LINEAR)
            focus[i] = fm
            peak = max(peak, float(fm.max()))
            tracker.update(i, fm)
        assert tracker.best is not None
        index = clean_index(
            tracker.index, tracker.best, ACTIVITY_CONTRAST, ACTIVITY_FILL_SIGMA, params.smoothing
        )
        depth = _decision.smooth_depth(index, params.blend_sigma)
        done = [n]

        def step() -> None:
            done[0] += 1
            progress(done[0], total, "GACN activity: blending")
            run.cancel.raise_if_cancelled()

        def frames(indices: Any) -> Iterator[tuple[int, np.ndarray]]:
            for i in indices:
                yield i, frame(i)

        fused, used = blend_by_depth(depth, n, channels, frames, step)
        if flat[0]:
            fused = fused[:, :, 0]
        weights = depth_weights(depth, n, _decision.maps_fit_in_memory(n, (h, w)))
        extra = {
            "strategy": "activity",
            "activity_scale": scale,
            "frames_used": used,
            "maps_on_disk": focus.on_disk,
        }
        return (
            np.clip(fused, 0.0, 1.0),
            np.rint(depth).astype(np.uint16),
            weights,
            _focus_output(focus, peak),
            extra,
        )

    # -- pairs ----------------------------------------------------------------------------

    def _pair(self, run: _Run, stack: Stack, progress: ProgressFn) -> _Outcome:
        eng = _Engine(run)
        progress(0.0, 1.0, "GACN: pair")
        a, b = stack.frame(0), stack.frame(1)
        maps = eng.pair(to_gray(a), to_gray(b))
        fused = blend_pair(a, b, maps["bgf"])
        w0 = np.clip(maps["bgf"], 0.0, 1.0)
        weights = np.stack([w0, 1.0 - w0]).astype(np.float32)
        index = (w0 < 0.5).astype(np.uint16)
        focus = MapStack.from_array(np.stack([maps["focus_a"], maps["focus_b"]]))
        _normalise_focus(focus)
        extra = {"strategy": "pair", "decision_raw_mean": float(maps["decision"].mean())}
        return fused, index, weights, focus, extra

    # -- decision calibration -------------------------------------------------------------

    def _calibration(
        self, run: _Run, stack: Stack, params: GacnParams, progress: ProgressFn
    ) -> _Outcome:
        n = len(stack)
        ref = n // 2 if params.reference == -1 else params.reference
        if ref >= n:
            raise MffError(
                f"calibration reference frame {ref} does not exist (the stack has {n} frames)"
            )
        order = [ref] + [i for i in range(n) if i != ref]
        eng = _Engine(run)
        ref_frame = stack.frame(ref)
        ref_gray = to_gray(ref_frame)
        ref_scales = eng.scales(ref_gray)
        focus = _decision.spill_maps(n, ref_gray.shape)
        peak = 0.0
        fused = ref_frame.copy()
        best: Any = None
        index: Any = None
        m0: Any = None
        for pos in range(1, n):
            run.cancel.raise_if_cancelled()
            j = order[pos]
            progress((pos - 1) / (n - 1), 1.0, f"GACN calibration: frame {pos + 1} of {n}")
            frame = stack.frame(j)
            maps = eng.against(ref_gray, ref_scales, to_gray(frame))
            m = maps["bgf"]
            focus[j] = maps["focus_other"]
            peak = max(peak, float(maps["focus_other"].max()))
            if pos == 1:
                focus[ref] = maps["focus_ref"]
                peak = max(peak, float(maps["focus_ref"].max()))
                m0 = m
                best = m0.copy()
                index = np.full(m.shape, ref, dtype=np.uint16)
                value = np.float32(1.0) - m0
            else:
                value = (m0 / (m + np.float32(CALIBRATION_EPS))) * (np.float32(1.0) - m)
            # Strictly greater keeps the first maximum, as torch.max over the official volume.
            upd = value > best
            best[upd] = value[upd]
            index[upd] = j
            fused[upd] = frame[upd]
        assert index is not None
        weights = _weights_from_index(index, n)
        extra = {
            "strategy": "calibration",
            "reference": ref,
            "reference_cached": bool(eng.cache_reference),
            "maps_on_disk": focus.on_disk,
        }
        return np.clip(fused, 0.0, 1.0), index, weights, _focus_output(focus, peak), extra

    # -- serial -----------------------------------------------------------------------------

    def _serial(
        self, run: _Run, stack: Stack, params: GacnParams, progress: ProgressFn
    ) -> _Outcome:
        n = len(stack)
        eng = _Engine(run)
        small = _scaled_run(run, params.decision_scale)
        fused = stack.frame(0).copy()
        gray = to_gray(fused)
        steps = _decision.spill_maps(n - 1, gray.shape)
        focus = _decision.spill_maps(n, gray.shape)
        peak = 0.0
        for j in range(1, n):
            run.cancel.raise_if_cancelled()
            progress((j - 1) / (n - 1), 1.0, f"GACN serial: frame {j + 1} of {n}")
            frame = stack.frame(j)
            maps = (
                eng.pair(gray, to_gray(frame))
                if small is None
                else eng.pair_at(small, gray, to_gray(frame))
            )
            m = maps["bgf"]
            steps[j - 1] = m
            if j == 1:
                focus[0] = maps["focus_a"]
                peak = max(peak, float(maps["focus_a"].max()))
            focus[j] = maps["focus_b"]
            peak = max(peak, float(maps["focus_b"].max()))
            fused = m[:, :, None] * fused + (np.float32(1.0) - m)[:, :, None] * frame
            gray = to_gray(fused)
        # Source k's weight: (1 − m_{k−1}) · Π_{j ≥ k} m_j, accumulated from the last step.
        weights = _decision.spill_maps(n, gray.shape)
        prod = np.ones(gray.shape, np.float32)
        best = np.full(gray.shape, -np.inf, np.float32)
        index = np.zeros(gray.shape, np.uint16)
        for k in range(n - 1, -1, -1):
            if k > 0:
                m = np.clip(steps[k - 1], 0.0, 1.0)
                wk = (1.0 - m) * prod
                prod *= m
            else:
                wk = prod
            weights[k] = wk
            upd = wk >= best  # ties go to the lower index (visited last)
            best[upd] = wk[upd]
            index[upd] = k
        extra = {"strategy": "serial", "maps_on_disk": focus.on_disk}
        return np.clip(fused, 0.0, 1.0), index, weights, _focus_output(focus, peak), extra
