"""Fusion of an aligned, uncropped stack that ignores each frame's invalid border.

:func:`mffgui.core.align.apply_alignment` with ``crop=False`` keeps the reference frame's size;
where a warped frame has no source data its border is filled by edge replication. Fusing those
pixels like real data smears the replicated border into the result. :func:`ignore_invalid`
post-processes the :class:`~mffgui.types.FusionResult` of *any* method: at every pixel where at
least one frame is invalid, the fused value is recomputed from the valid frames only, with the
method's own soft weights renormalised over them::

    w'_i(p) = w_i(p) v_i(p) / sum_j w_j(p) v_j(p)        fused'(p) = sum_i w'_i(p) f_i(p)

where ``v_i`` is frame ``i``'s valid mask. Where the valid frames carry (almost) no weight (a
hard decision that picked an invalid frame), the method's focus maps take the weights' place;
where no frame is valid, the reference frame is kept. Weights and the index map are updated to
match; focus maps are zeroed where their frame is invalid. Frames are read one at a time, so
memory does not grow with the number of frames.

Every front end reaches it through :func:`mffgui.pipeline.fuse_stack`::

    result = fuse_stack(aligned, method, params)   # = method.fuse + ignore_invalid
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mffgui.core.align import AlignedStack
from mffgui.core.decision import LazyMaps, maps_fit_in_memory
from mffgui.core.progress import NEVER, CancelToken
from mffgui.types import FusionResult, Stack

__all__ = ["MIN_WEIGHT", "ignore_invalid", "invalid_region"]

MIN_WEIGHT = 1e-4
"""Valid-frame weight sum below which the focus maps decide instead of the weights."""
_FOCUS_EPS = np.float32(1e-6)  # keeps the focus fallback defined where every focus is 0


def invalid_region(stack: Stack) -> np.ndarray | None:
    """``(H, W)`` bool: pixels where at least one frame of ``stack`` lacks source data.

    ``None`` when there is none (a plain stack, or a cropped aligned one).
    """
    if not isinstance(stack, AlignedStack) or bool(stack.valid_mask.all()):
        return None
    region = np.zeros(stack.shape, dtype=bool)
    for i in range(len(stack)):
        region |= ~stack.frame_valid_mask(i)
    return region if region.any() else None


def _reference_position(stack: AlignedStack) -> int:
    """Position in ``stack`` of the alignment's reference frame (else the middle frame)."""
    try:
        return stack.indices.index(stack.report.reference)
    except ValueError:
        return (len(stack) - 1) // 2


def ignore_invalid(
    result: FusionResult, stack: Stack, *, cancel: CancelToken = NEVER
) -> FusionResult:
    """Recompute ``result`` where some frames of an aligned stack are invalid.

    Parameters
    ----------
    result : FusionResult
        What a method returned for ``stack``: ``fused`` ``(H, W, C)`` float32, ``index_map``
        ``(H, W)`` uint16, ``weights`` and ``focus_maps`` ``(N, H, W)`` float32 (arrays or lazy
        sequences).
    stack : Stack
        The fused stack. Anything but an uncropped :class:`~mffgui.core.align.AlignedStack`
        with an invalid border returns ``result`` unchanged.
    cancel : CancelToken
        Checked before every frame.

    Returns
    -------
    FusionResult
        Same shapes and dtypes. At pixels where some frame is invalid: ``fused`` is the
        weighted mean of the valid frames, ``weights`` sum to 1 over the valid frames and are 0
        on invalid ones, ``index_map`` is the valid frame of largest weight; where no frame is
        valid, the reference frame (weight 1). ``meta["alignment_border"]`` tells how many
        pixels were recomputed.
    """
    region = invalid_region(stack)
    if region is None:
        return result
    assert isinstance(stack, AlignedStack)
    n = len(stack)
    h, w = stack.shape
    ref = _reference_position(stack)
    ys, xs = np.nonzero(region)
    p = len(ys)
    channels = result.fused.shape[2]
    num_w = np.zeros((p, channels), dtype=np.float32)
    num_f = np.zeros((p, channels), dtype=np.float32)
    den_w = np.zeros(p, dtype=np.float32)
    den_f = np.zeros(p, dtype=np.float32)
    best_w = np.full(p, -1.0, dtype=np.float32)
    best_f = np.full(p, -1.0, dtype=np.float32)
    arg_w = np.full(p, ref, dtype=np.uint16)
    arg_f = np.full(p, ref, dtype=np.uint16)
    n_valid = np.zeros(p, dtype=np.int32)
    ref_value = np.zeros((p, channels), dtype=np.float32)
    for i in range(n):
        cancel.raise_if_cancelled()
        valid = stack.frame_valid_mask(i)[ys, xs]
        frame = np.asarray(stack.frame(i), dtype=np.float32)
        values = frame[ys, xs].reshape(p, -1)
        if values.shape[1] != channels:  # a gray result of colour frames, or the reverse
            values = np.broadcast_to(values.mean(axis=1, keepdims=True), (p, channels))
        if i == ref:
            ref_value[...] = values
        wi = np.asarray(result.weights[i], dtype=np.float32)[ys, xs] * valid
        fi = (np.asarray(result.focus_maps[i], dtype=np.float32)[ys, xs] + _FOCUS_EPS) * valid
        num_w += wi[:, None] * values
        num_f += fi[:, None] * values
        den_w += wi
        den_f += fi
        for score, best, arg in ((wi, best_w, arg_w), (fi, best_f, arg_f)):
            better = valid & (score > best)
            best[better] = score[better]
            arg[better] = i
        n_valid += valid
    use_w = den_w >= MIN_WEIGHT
    none = n_valid == 0
    fused_p = np.where(
        use_w[:, None],
        num_w / np.maximum(den_w, 1e-30)[:, None],
        num_f / np.maximum(den_f, 1e-30)[:, None],
    ).astype(np.float32)
    fused_p[none] = ref_value[none]
    index_p = np.where(use_w, arg_w, arg_f).astype(np.uint16)
    index_p[none] = ref
    fused = np.array(result.fused, dtype=np.float32, copy=True)
    fused[ys, xs] = np.clip(fused_p, 0.0, 1.0)
    index = np.array(result.index_map, dtype=np.uint16, copy=True)
    index[ys, xs] = index_p
    weights = _Renormalised(
        stack, result.weights, result.focus_maps, (ys, xs), use_w, none, den_w, den_f, ref
    )
    focus = _FocusValid(stack, result.focus_maps)
    meta = dict(result.meta)
    meta["alignment_border"] = {
        "pixels": int(p),
        "fraction": float(p / (h * w)),
        "no_valid_frame": int(none.sum()),
        "focus_fallback": int((~use_w & ~none).sum()),
    }
    notes = list(meta.get("notes", []))
    notes.append(
        f"{100 * p / (h * w):.1f} % of the pixels lie in the alignment border of "
        "some frame; they were fused from the frames valid there"
    )
    meta["notes"] = notes
    return replace(
        result,
        fused=fused,
        index_map=index,
        weights=_maybe_eager(weights, n, (h, w)),
        focus_maps=_maybe_eager(focus, n, (h, w)),
        meta=meta,
    )


def _maybe_eager(maps: Any, n: int, shape: tuple[int, int]) -> Sequence[np.ndarray] | np.ndarray:
    """Small map stacks as an ``(N, H, W)`` float32 array, large ones lazily."""
    lazy = LazyMaps(n, shape, maps)
    if maps_fit_in_memory(n, shape):
        return np.asarray(lazy)
    return lazy


class _Renormalised:
    """``(i) -> (H, W) float32``: frame ``i``'s weights renormalised over the valid frames."""

    def __init__(
        self,
        stack: AlignedStack,
        weights: Any,
        focus: Any,
        where: tuple[np.ndarray, np.ndarray],
        use_w: np.ndarray,
        none: np.ndarray,
        den_w: np.ndarray,
        den_f: np.ndarray,
        ref: int,
    ) -> None:
        self.stack, self.weights, self.focus = stack, weights, focus
        self.where, self.use_w, self.none, self.ref = where, use_w, none, ref
        self.inv_w = (1.0 / np.maximum(den_w, 1e-30)).astype(np.float32)
        self.inv_f = (1.0 / np.maximum(den_f, 1e-30)).astype(np.float32)

    def __call__(self, i: int) -> np.ndarray:
        ys, xs = self.where
        out = np.array(self.weights[i], dtype=np.float32, copy=True)
        valid = self.stack.frame_valid_mask(i)[ys, xs]
        wi = out[ys, xs] * valid * self.inv_w
        fi = (np.asarray(self.focus[i], dtype=np.float32)[ys, xs] + _FOCUS_EPS) * valid * self.inv_f
        new = np.where(self.use_w, wi, fi)
        new[self.none] = 1.0 if i == self.ref else 0.0
        out[ys, xs] = new
        return out


class _FocusValid:
    """``(i) -> (H, W) float32``: frame ``i``'s focus map, 0 where the frame is invalid."""

    def __init__(self, stack: AlignedStack, focus: Any) -> None:
        self.stack, self.focus = stack, focus

    def __call__(self, i: int) -> np.ndarray:
        out = np.array(self.focus[i], dtype=np.float32, copy=True)
        out[~self.stack.frame_valid_mask(i)] = 0.0
        return out
