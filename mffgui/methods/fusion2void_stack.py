"""Fusion2Void on stacks of more than two frames: the stack strategies.

FusionNet fuses two images. A stack of ``N > 2`` frames needs a rule for which pairs the
network fuses and how their outputs become one image; :data:`STRATEGIES` names the choices.

``pyramid`` (default)
    The network fuses every pair of *adjacent* frames, ``P_k = F(frame k, frame k+1)`` for
    ``k = 0 .. N-2`` (each with the symmetric pair rule): two frames focused at neighbouring
    depths, the situation the network was trained on, and every output pixel has gone through
    exactly one network application. The ``N - 1`` pair outputs are then combined by the
    project's Laplacian-pyramid method (:class:`~mffgui.methods.classical.LaplacianPyramidFusion`
    with its default settings): per pyramid level, the coefficient of the pair output with the
    largest local activity, majority-filtered, on the average low-pass base. This is a hybrid:
    the network does the fusing where frames compete (two neighbouring focal planes), the
    pyramid only chooses *which pair's* output to show. Every output pixel is built from the
    network's outputs; no source frame enters the pyramid. Same network cost as ``tree``
    (``N - 1`` pair fusions).
``tree``
    The previous default ("tree-wise pairwise"): neighbouring frames or sub-results are fused
    pairwise, level by level (a balanced binary tree), until one image is left; a frame passes
    through ``ceil(log2 N)`` network applications.

Measured on the ground-truth stack benchmark (``benchmarks/bench_stacks.py``, docs/BENCHMARKS.md
"GACN and Fusion2Void on ground-truth stacks"), ``pyramid`` is above both ``tree`` and the
Laplacian pyramid of the frames at N = 5 and 10.

Pairs (``N = 2``) are fused exactly as before by every strategy: one symmetric network
application.

Decision maps. The network outputs the image, so per-source weights are an attribution
(:func:`mffgui.core.attribution.attribute_pair`): each pair output is explained as
``w * left + (1 - w) * right``. For ``tree`` a frame's weight is the product of its merge
weights along its path; for ``pyramid`` it is ``sum_k W_k * (w_k or 1 - w_k)`` over the pair
outputs that contain it, ``W_k`` being the pyramid's soft weight of pair output ``k``. Either way
the weights sum to 1 at every pixel.

Memory: the pair outputs and the per-pair attributions go to
:func:`~mffgui.core.decision.spill_maps` stores (a temporary file once they pass
:data:`~mffgui.core.decision.EAGER_MAPS_BYTES`), and the pyramid streams them, so resident memory
does not grow with ``N``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mffgui.core.attribution import attribute_pair
from mffgui.core.decision import spill_maps
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.types import ImageMeta, MapStack, Stack

STRATEGIES = ("pyramid", "tree")
"""Stack strategies of Fusion2Void; the first is the default."""

PairFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(a, b) -> F(a, b)``: symmetric network fusion of two ``(H, W, 3)`` float32 images."""


def _rgb(frame: np.ndarray) -> np.ndarray:
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame


def strategy_label(strategy: str, n: int) -> str:
    """What ``meta["strategy"]`` says: ``"pair"`` for two frames, else the strategy's name (the
    value to pass back as the ``strategy`` parameter)."""
    return "pair" if n == 2 else strategy


def fuse_stack(
    stack: Stack,
    strategy: str,
    pair: PairFn,
    attribution_radius: int,
    *,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> tuple[np.ndarray, MapStack]:
    """Fuse ``stack`` (``N >= 2``) with ``pair`` by ``strategy``.

    Returns
    -------
    fused : ndarray, (H, W, 3) float32
        The fused image (RGB even for gray stacks).
    weights : MapStack, (N, H, W)
        Per-frame attribution weights, summing to 1 at every pixel.

    Raises
    ------
    ValueError
        For an unknown strategy.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown Fusion2Void stack strategy {strategy!r}; use {STRATEGIES}")
    if strategy == "tree" or len(stack) == 2:
        return fuse_tree(stack, pair, attribution_radius, progress=progress, cancel=cancel)
    return fuse_adjacent_pyramid(stack, pair, attribution_radius, progress=progress, cancel=cancel)


def fuse_tree(
    stack: Stack,
    pair: PairFn,
    attribution_radius: int,
    *,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> tuple[np.ndarray, MapStack]:
    """The ``tree`` strategy (and the pair rule for ``N = 2``); see the module docstring."""
    n = len(stack)
    h, w = stack.shape
    weights = spill_maps(n, (h, w))
    for i in range(n):
        weights[i] = np.ones((h, w), dtype=np.float32)
    merges = n - 1
    done = [0]

    def fuse_range(lo: int, hi: int) -> np.ndarray:
        if hi - lo == 1:
            return _rgb(stack.frame(lo))
        mid = (lo + hi + 1) // 2
        left = fuse_range(lo, mid)
        right = fuse_range(mid, hi)
        cancel.raise_if_cancelled()
        progress(done[0], merges + 1, f"Fusion2Void: merging frames {lo + 1}-{hi}")
        fused = pair(left, right)
        wl = attribute_pair(fused, left, right, attribution_radius)
        for i in range(lo, mid):
            weights[i] = weights[i] * wl
        wr = 1.0 - wl
        for i in range(mid, hi):
            weights[i] = weights[i] * wr
        done[0] += 1
        return fused

    return fuse_range(0, n), weights


def fuse_adjacent_pyramid(
    stack: Stack,
    pair: PairFn,
    attribution_radius: int,
    *,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> tuple[np.ndarray, MapStack]:
    """The ``pyramid`` strategy: adjacent-pair network fusions combined in a Laplacian pyramid."""
    from mffgui.methods.classical import LaplacianParams, LaplacianPyramidFusion

    n = len(stack)
    h, w = stack.shape
    m = n - 1
    steps = m + 1
    outs = spill_maps(3 * m, (h, w))  # pair output k, channel c at 3k + c
    share = spill_maps(m, (h, w))  # attribution of pair output k to frame k (1 - it: frame k+1)
    right = _rgb(stack.frame(0))
    for k in range(m):
        cancel.raise_if_cancelled()
        progress(k, steps, f"Fusion2Void: fusing frames {k + 1} and {k + 2}")
        left, right = right, _rgb(stack.frame(k + 1))
        fused = pair(left, right)
        share[k] = attribute_pair(fused, left, right, attribution_radius)
        for c in range(3):
            outs[3 * k + c] = fused[:, :, c]
        del fused

    def loader(k: int) -> Callable[[], np.ndarray]:
        return lambda: np.stack([outs[3 * k + c] for c in range(3)], axis=2)

    pairs = Stack(
        [loader(k) for k in range(m)],
        [ImageMeta(width=w, height=h, channels=3, format="memory") for _ in range(m)],
    )
    cancel.raise_if_cancelled()
    progress(m, steps, "Fusion2Void: combining the pair outputs (Laplacian pyramid)")
    res = LaplacianPyramidFusion().fuse(pairs, LaplacianParams(), cancel=cancel)
    weights = spill_maps(n, (h, w))
    prev = None  # (1 - share[k-1]) * W[k-1]: frame k's weight from the pair output before it
    for k in range(n):
        cancel.raise_if_cancelled()
        wk = np.zeros((h, w), np.float32) if prev is None else prev
        if k < m:
            pk = np.asarray(res.weights[k], dtype=np.float32)
            sk = share[k]
            wk = wk + pk * sk
            prev = pk * (1.0 - sk)
        weights[k] = wk
    return np.clip(res.fused, 0.0, 1.0).astype(np.float32, copy=False), weights
