"""Fuse one stack with several methods and score each result (``mffgui compare``, GUI compare).

The heavy lifting lives in :mod:`mffgui.methods` and :mod:`mffgui.metrics`; this module runs a
list of methods on one :class:`~mffgui.types.Stack`, scores every fused image against the
sources (and an optional ground truth) and renders the labelled grid and the metrics table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mffgui.core.align_fuse import fuse_stack
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress, scaled
from mffgui.errors import Cancelled, MffError
from mffgui.methods.base import Params
from mffgui.metrics import gray255, resolve_metrics, score
from mffgui.metrics.common import to_uint8
from mffgui.metrics.report import metrics_table_markdown, render_grid, rows_to_csv
from mffgui.types import Stack

__all__ = [
    "CompareEntry",
    "compare_methods",
    "comparison_csv",
    "comparison_grid",
    "comparison_markdown",
    "source_grays",
]


@dataclass
class CompareEntry:
    """One method's outcome on the stack.

    Attributes
    ----------
    label : str
        Method name (registry key) or another label.
    fused : ndarray or None
        ``(H, W, C)`` float32 in ``[0, 1]``; ``None`` when the method failed.
    scores : dict
        Metric name -> value.
    seconds : float
        Wall-clock fusion time.
    error : str or None
        The user-facing error message when the method failed.
    """

    label: str
    fused: np.ndarray | None
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = math.nan
    error: str | None = None


def source_grays(stack: Stack) -> list[np.ndarray]:
    """The stack's frames as ``(H, W)`` uint8 gray images (the metrics' view), one at a time.

    Keeping the 8-bit gray frames instead of the float colour ones keeps memory at
    ``N * H * W`` bytes for long stacks.
    """
    return [gray255(stack.frame(i)).astype(np.uint8) for i in range(len(stack))]


def compare_methods(
    stack: Stack,
    methods: Sequence[str],
    params: Mapping[str, Params] | None = None,
    metrics: Iterable[str] | None = None,
    ground_truth: np.ndarray | None = None,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> list[CompareEntry]:
    """Fuse ``stack`` with each method and score the results.

    Parameters
    ----------
    stack : Stack
        The focus stack (N >= 2 frames).
    methods : sequence of str
        Registered method names, in display order.
    params : mapping, optional
        Method name -> Params; methods not listed use their defaults.
    metrics : iterable of str, optional
        Metric names (default: all; reference metrics only with ``ground_truth``).
    ground_truth : ndarray, optional
        All-in-focus reference image, same size as the frames.
    progress : ProgressFn
        Reports ``(done, 1.0, stage)`` over the whole comparison.
    cancel : CancelToken
        Checked between and inside methods; raises :class:`~mffgui.errors.Cancelled`.

    Returns
    -------
    list of CompareEntry
        In the order of ``methods``. A method that fails with an :class:`MffError` gets an
        entry with ``error`` set; the others still run.
    """
    from mffgui.methods import get_method

    names = resolve_metrics(metrics)
    methods = list(methods)
    if not methods:
        raise MffError("no methods to compare")
    instances = [get_method(m) for m in methods]  # unknown names fail before any work
    params = dict(params or {})
    srcs = source_grays(stack)
    out: list[CompareEntry] = []
    span = 1.0 / len(methods)
    for i, (name, method) in enumerate(zip(methods, instances, strict=True)):
        cancel.raise_if_cancelled()
        p = params.get(name) or method.info.params()
        sub = scaled(progress, i * span, span * 0.9)
        t0 = time.perf_counter()
        try:
            res = fuse_stack(method, stack, p, progress=_prefixed(sub, name), cancel=cancel)
        except Cancelled:
            raise
        except MffError as err:
            out.append(CompareEntry(name, None, error=str(err)))
            continue
        seconds = time.perf_counter() - t0
        progress(i * span + span * 0.9, 1.0, f"{name}: scoring")
        vals = score(to_uint8(res.fused), srcs, ground_truth, names)
        out.append(CompareEntry(name, res.fused, vals, seconds))
    progress(1.0, 1.0, "done")
    return out


def _prefixed(progress: ProgressFn, prefix: str) -> ProgressFn:
    def _p(done: float, total: float, stage: str = "") -> None:
        progress(done, total, f"{prefix}: {stage}" if stage else prefix)

    return _p


def comparison_grid(
    entries: Sequence[CompareEntry], cols: int | None = None, tile_width: int | None = 480
) -> np.ndarray:
    """Labelled grid of the fused images of the successful entries (see :func:`render_grid`)."""
    ok = [e for e in entries if e.fused is not None]
    if not ok:
        raise MffError("no method produced a fused image")
    return render_grid(
        [e.fused for e in ok],
        [e.label for e in ok],  # type: ignore[misc]
        cols=cols,
        tile_width=tile_width,
    )


def _metric_columns(entries: Sequence[CompareEntry]) -> list[str]:
    cols: list[str] = []
    for e in entries:
        for k in e.scores:
            if k not in cols:
                cols.append(k)
    return cols


def comparison_markdown(entries: Sequence[CompareEntry]) -> str:
    """Markdown table: one row per method, metric columns, fusion time; failures listed."""
    cols = _metric_columns(entries)
    rows = {e.label: e.scores for e in entries if e.error is None}
    times = {e.label: f"{e.seconds:.2f}" for e in entries if e.error is None}
    text = metrics_table_markdown(rows, cols, extra={"time (s)": times})
    failed = [e for e in entries if e.error is not None]
    if failed:
        text += "\n" + "\n".join(f"- {e.label} failed: {e.error}" for e in failed) + "\n"
    return text


def comparison_csv(entries: Sequence[CompareEntry]) -> str:
    """CSV text: ``method, <metrics...>, seconds, error``."""
    cols = _metric_columns(entries)
    rows = [
        {
            "method": e.label,
            **e.scores,
            "seconds": None if math.isnan(e.seconds) else e.seconds,
            "error": e.error,
        }
        for e in entries
    ]
    return rows_to_csv(rows, ["method", *cols, "seconds", "error"])
