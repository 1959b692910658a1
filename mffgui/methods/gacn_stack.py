"""GACN's ``pyramid`` stack strategy: adjacent-pair decisions combined in a Laplacian pyramid.

GACN decides between two images. For a stack of ``N > 2`` frames the ``pyramid`` strategy
(the default) lets the network fuse every pair of *adjacent* frames,
``P_k = m_k · frame_k + (1 − m_k) · frame_{k+1}`` with ``m_k`` the boundary-guided decision map
of the pair (exactly the official pair fusion), and combines the ``N − 1`` pair outputs with the
project's Laplacian-pyramid method
(:class:`~mffgui.methods.classical.LaplacianPyramidFusion`, default settings), as Fusion2Void's
``pyramid`` strategy does (:mod:`mffgui.methods.fusion2void_stack`). Neighbouring frames are
focused at neighbouring depths, the situation the network was trained on; the pyramid only
chooses which pair's output each band of each pixel comes from.

Cost. Each frame's 64-channel gradient energy is computed once and used for both pairs it
belongs to, so the network runs ``N`` feature passes and ``N − 1`` decision passes (serial runs
``2(N − 1)`` feature passes). The decision is computed at ``pyramid_scale`` of the resolution
(half by default): the raw decision map is upsampled and the boundary-guided filter runs at
full resolution on the full-resolution gray frames, so transitions follow full-resolution
edges. The decision path is ~2/3 of the network's arithmetic, so this is where the time goes.

Weights. Pair output ``k`` is known exactly as ``m_k · frame_k + (1 − m_k) · frame_{k+1}``, so
frame ``k``'s weight is ``W_k · m_k + W_{k−1} · (1 − m_{k−1})``, ``W_k`` being the pyramid's
soft weight of pair output ``k`` (clipped maps; they sum to 1 at every pixel). The index map is
the arg-max of those weights.

Memory: pair outputs and decision maps go to :func:`~mffgui.core.decision.spill_maps` stores
(a temporary file once they pass :data:`~mffgui.core.decision.EAGER_MAPS_BYTES`); at most two
frames' reduced-resolution energies are resident.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import cv2
import numpy as np

from mffgui.core.decision import spill_maps
from mffgui.core.progress import ProgressFn
from mffgui.core.tiling import plan_tiles
from mffgui.types import ImageMeta, MapStack, Stack, to_gray


class Adapter(Protocol):
    """What the strategy uses of the GACN adapter (:mod:`mffgui.methods.gacn`), passed in by
    it so that this module does not import it back (no import cycle in the package)."""

    halo: int
    min_size: int

    def engine(self, run: Any) -> Any:
        """A tile-aware inference engine (``_Engine``) for ``run``."""

    def blend_pair(self, a: np.ndarray, b: np.ndarray, bgf: np.ndarray) -> np.ndarray:
        """The official pair fusion ``bgf · a + (1 − bgf) · b``, clipped."""

    def focus_output(self, raw: MapStack, peak: float) -> Any:
        """Raw focus maps scaled by their common maximum."""


def _reduced(run: Any, scale: float, adapter: Adapter) -> Any:
    """``run`` at ``scale`` of its resolution (tiles re-planned); ``run`` itself at 1."""
    h, w = run.shape
    lo = adapter.min_size
    small = (max(lo, round(h * scale)), max(lo, round(w * scale)))
    if scale >= 1.0 or small == (h, w):
        return run
    return dataclasses.replace(run, shape=small, tiles=plan_tiles(small, run.tile, adapter.halo))


class _FrameEnergy:
    """One frame's reduced-resolution gradient energy, per tile of the reduced run.

    Kept for the next pair when the reduced image is one tile or the tiles' energies fit the
    run's cache budget (256 bytes per read pixel); otherwise recomputed per pair.
    """

    def __init__(self, eng: Any, gray_small: np.ndarray, keep: bool) -> None:
        self.eng = eng
        self.gray = gray_small
        self.scales = eng.scales(gray_small)
        self.keep = keep
        self._tiles: dict[int, Any] = {}

    def tile(self, i: int) -> Any:
        """``(1, 64, h, w)`` energy of reduced tile ``i`` (computed on first use)."""
        hit = self._tiles.get(i)
        if hit is not None:
            return hit
        t = self.eng.r.tiles[i]
        e = self.eng.energy(self.eng.tensor(self.gray[t.read]), self.scales)
        if self.keep:
            self._tiles[i] = e
        return e

    def focus(self) -> np.ndarray:
        """Channel-mean spatial frequency ``(h, w)`` float32 at the reduced resolution."""
        out = np.empty(self.gray.shape, np.float32)
        for i, t in enumerate(self.eng.r.tiles):
            self.eng.r.cancel.raise_if_cancelled()
            f = self.eng.focus(self.tile(i))
            out[t.core] = f[0, 0][t.core_in_read].float().cpu().numpy()
        return out


def _upsample(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if a.shape == shape:
        return a
    return cv2.resize(a, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _decision(eng: Any, a: _FrameEnergy, b: _FrameEnergy) -> np.ndarray:
    """Raw decision map ``sigmoid(1000 · logits)`` (weight of ``a``), reduced size, float32."""
    from mffgui.models.gacn import SHARPNESS

    torch = eng.t
    model = eng.r.model
    out = np.empty(a.gray.shape, np.float32)
    for i, t in enumerate(eng.r.tiles):
        eng.r.cancel.raise_if_cancelled()
        d = torch.sigmoid(model.decision_logits(a.tile(i), b.tile(i)) * SHARPNESS)
        out[t.core] = d[0, 0][t.core_in_read].float().cpu().numpy()
    return out


def _bgf(eng: Any, decision: np.ndarray, ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """Boundary-guided-filtered map ``(H, W)`` float32 at full resolution (full-size tiles)."""
    model = eng.r.model
    out = np.empty(ga.shape, np.float32)
    for t in eng.r.tiles:
        eng.r.cancel.raise_if_cancelled()
        m = model.boundary_guided_filter(
            eng.tensor(decision[t.read]), eng.tensor(ga[t.read]), eng.tensor(gb[t.read])
        )
        out[t.core] = m[0, 0][t.core_in_read].float().cpu().numpy()
    return out


def fuse_pyramid(
    run: Any, stack: Stack, scale: float, progress: ProgressFn, adapter: Adapter
) -> tuple[np.ndarray, np.ndarray, MapStack, Any, dict[str, Any]]:
    """The ``pyramid`` strategy (see the module docstring).

    Parameters
    ----------
    run : mffgui.methods.gacn._Run
        Model, device and full-resolution tiles of this fusion.
    stack : Stack
        ``N > 2`` frames ``(H, W, C)`` float32 in [0, 1].
    scale : float
        Resolution of the network's decision (``pyramid_scale``).
    progress : callable
    adapter : Adapter

    Returns
    -------
    fused : ndarray, (H, W, C) float32
    index : ndarray, (H, W) uint16
        Arg-max of the weights.
    weights : MapStack, (N, H, W) float32
        Each frame's share of the fused image (sums to 1 per pixel).
    focus : MapStack or LazyMaps, (N, H, W) float32
        GACN's channel-mean feature spatial frequency per frame (upsampled), scaled to [0, 1].
    extra : dict
        Meta entries: strategy, scale, whether energies were reused.
    """
    from mffgui.methods.classical import LaplacianParams, LaplacianPyramidFusion

    n = len(stack)
    h, w = run.shape
    channels = stack.channels
    small = _reduced(run, float(scale), adapter)
    full_eng, small_eng = adapter.engine(run), adapter.engine(small)
    keep = small.whole or (
        2 * 256 * sum(t.read_shape[0] * t.read_shape[1] for t in small.tiles) <= run.cache_bytes
    )
    m = n - 1
    steps = m + 2
    outs = spill_maps(channels * m, (h, w))  # pair output k, channel c at channels·k + c
    share = spill_maps(m, (h, w))  # clipped decision map of pair k: weight of frame k
    focus = spill_maps(n, (h, w))
    peak = 0.0

    def load(i: int) -> tuple[np.ndarray, np.ndarray, _FrameEnergy]:
        frame = stack.frame(i)
        frame = frame[:, :, None] if frame.ndim == 2 else frame
        gray = to_gray(frame)
        gs = gray
        if small.shape != (h, w):
            gs = cv2.resize(gray, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
        return frame, gray, _FrameEnergy(small_eng, gs, keep)

    right = load(0)
    for k in range(m):
        run.cancel.raise_if_cancelled()
        progress(k / steps, 1.0, f"GACN: deciding between frames {k + 1} and {k + 2}")
        left, right = right, load(k + 1)
        new = [(0, left[2])] if k == 0 else []
        for i, fe in [*new, (k + 1, right[2])]:
            fm = _upsample(fe.focus(), (h, w))
            focus[i] = fm
            peak = max(peak, float(fm.max()))
        decision = _upsample(_decision(small_eng, left[2], right[2]), (h, w))
        bgf = _bgf(full_eng, decision, left[1], right[1])
        del decision
        pair = adapter.blend_pair(left[0], right[0], bgf)
        share[k] = np.clip(bgf, 0.0, 1.0)
        for c in range(channels):
            outs[channels * k + c] = pair[:, :, c]
        del pair, bgf

    def loader(k: int) -> Callable[[], np.ndarray]:
        return lambda: np.stack([outs[channels * k + c] for c in range(channels)], axis=2)

    pairs = Stack(
        [loader(k) for k in range(m)],
        [ImageMeta(width=w, height=h, channels=channels, format="memory") for _ in range(m)],
    )
    run.cancel.raise_if_cancelled()
    progress(m / steps, 1.0, "GACN: combining the pair outputs (Laplacian pyramid)")
    res = LaplacianPyramidFusion().fuse(pairs, LaplacianParams(), cancel=run.cancel)
    progress((m + 1) / steps, 1.0, "GACN: frame weights")
    weights, index = _frame_weights(res.weights, share, n, (h, w))
    fused = np.clip(res.fused, 0.0, 1.0).astype(np.float32, copy=False)
    if fused.ndim == 2:
        fused = fused[:, :, None]
    extra = {
        "strategy": "pyramid",
        "pyramid_scale": float(scale),
        "energies_reused": keep,
        "maps_on_disk": focus.on_disk,
    }
    return fused, index, weights, adapter.focus_output(focus, peak), extra


def _frame_weights(
    pair_weights: Any, share: MapStack, n: int, shape: tuple[int, int]
) -> tuple[MapStack, np.ndarray]:
    """Frame weights ``W_k · s_k + W_{k−1} · (1 − s_{k−1})`` and their arg-max.

    Parameters
    ----------
    pair_weights : sequence of N − 1 arrays (H, W) float32
        The pyramid's soft weight ``W_k`` of each pair output (sum to 1).
    share : MapStack, (N − 1, H, W)
        Clipped decision map ``s_k`` of pair ``k`` (weight of its first frame).
    n : int
    shape : (int, int)

    Returns
    -------
    weights : MapStack, (N, H, W) float32
    index : ndarray, (H, W) uint16
        Lowest frame index among equal maxima.
    """
    weights = spill_maps(n, shape)
    best = np.full(shape, -np.inf, np.float32)
    index = np.zeros(shape, np.uint16)
    prev: np.ndarray | None = None  # W_{k-1} · (1 − s_{k-1})
    for k in range(n):
        wk = np.zeros(shape, np.float32) if prev is None else prev
        if k < n - 1:
            pk = np.asarray(pair_weights[k], dtype=np.float32)
            sk = share[k]
            wk = wk + pk * sk
            prev = pk * (np.float32(1.0) - sk)
        weights[k] = wk
        upd = wk > best
        best[upd] = wk[upd]
        index[upd] = k
    return weights, index
