"""Fuse one stack with several methods and score each result (``mffgui compare``, GUI compare).

The heavy lifting lives in :mod:`mffgui.methods` and :mod:`mffgui.metrics`; this module holds
the one compare loop, :func:`compare_stack`, used by ``mffgui compare`` (through
:func:`compare_methods`) and by the app's compare view (:mod:`mffgui.gui.compare_worker`). It
fuses through :func:`mffgui.pipeline.fuse_stack` (so an aligned stack's invalid border is
handled as in ``mffgui fuse``), scores every fused image against the sources (and an optional
ground truth) and renders the labelled grid and the metrics table.

Error policy: whatever one method raises (:class:`~mffgui.errors.MffError`, a torch
``RuntimeError``, ``MemoryError``, ``ValueError`` ...) is recorded in that method's entry
(:func:`method_error_text`) and the loop goes on with the others; only
:class:`~mffgui.errors.Cancelled` stops it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress, scaled
from mffgui.errors import Cancelled, MffError
from mffgui.types import FusionResult, Stack

if TYPE_CHECKING:  # the GUI imports this module before the window shows: keep it light
    from mffgui.methods.base import Params

__all__ = [
    "OUT_OF_MEMORY",
    "CompareEntry",
    "CompareRun",
    "compare_methods",
    "compare_stack",
    "comparison_csv",
    "comparison_grid",
    "comparison_markdown",
    "method_error_text",
    "source_grays",
]

log = logging.getLogger(__name__)

OUT_OF_MEMORY = "not enough memory; try a classical method or fewer images"
"""The message of a method that ran out of (host) memory."""


@dataclass(frozen=True)
class CompareRun:
    """One entry of a comparison: a method with a set of parameters.

    Attributes
    ----------
    method : str
        Registry name.
    params : Params
        Validated parameters.
    label : str
        Unique display label (method name, plus a suffix for presets).
    """

    method: str
    params: Params
    label: str

    def params_text(self) -> str:
        """The parameters that differ from the method's defaults, ``k=v, ...`` (or ``defaults``)."""
        defaults = type(self.params)().to_dict()
        diff = [
            f"{k}={_short(v)}"
            for k, v in self.params.to_dict().items()
            if defaults.get(k) != v and k != "device"
        ]
        return ", ".join(diff) if diff else "defaults"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str) and ("/" in v or "\\" in v):
        return Path(v).name
    return str(v)


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
    result : FusionResult or None
        The whole result (maps included) when the entry comes from :func:`compare_stack`.
    """

    label: str
    fused: np.ndarray | None
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = math.nan
    error: str | None = None
    result: FusionResult | None = None


def source_grays(stack: Stack) -> list[np.ndarray]:
    """The stack's frames as ``(H, W)`` uint8 gray images (the metrics' view), one at a time.

    Keeping the 8-bit gray frames instead of the float colour ones keeps memory at
    ``N * H * W`` bytes for long stacks.
    """
    from mffgui.metrics import gray255

    return [gray255(stack.frame(i)).astype(np.uint8) for i in range(len(stack))]


def method_error_text(err: BaseException) -> str:
    """The message recorded for a method that raised ``err`` in a comparison.

    :class:`MffError`: its own message (it names the file and the problem); ``MemoryError``:
    :data:`OUT_OF_MEMORY`; anything else (a torch ``RuntimeError``, a ``ValueError`` ...):
    ``"<ExceptionType>: <first line of the message>"``, at most 300 characters.
    """
    if isinstance(err, MffError):
        return str(err)
    if isinstance(err, MemoryError):
        return OUT_OF_MEMORY
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    msg = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return msg if len(msg) <= 300 else msg[:299] + "…"


def compare_stack(
    stack: Stack,
    runs: Sequence[CompareRun],
    *,
    metrics: Iterable[str] | None = None,
    ground_truth: np.ndarray | None = None,
    sources: Sequence[np.ndarray] | None = None,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
    on_entry: Callable[[int, CompareEntry], None] | None = None,
) -> list[CompareEntry]:
    """The compare loop: fuse ``stack`` with every run and score each result.

    Parameters
    ----------
    stack : Stack
        The focus stack (N >= 2 frames), aligned or not: every run fuses through
        :func:`mffgui.pipeline.fuse_stack`, so an uncropped aligned stack has its invalid
        border left out exactly as in ``mffgui fuse``.
    runs : sequence of CompareRun
        Method, parameters and label of each entry, in display order.
    metrics : iterable of str, optional
        Metric names (default: all; reference metrics only with ``ground_truth``).
    ground_truth : ndarray, optional
        All-in-focus reference image, same size as the stack.
    sources : sequence of ndarray, optional
        The frames as 8-bit gray images (:func:`source_grays`), when already made.
    progress : ProgressFn
        ``(done, 1.0, stage)`` over the whole comparison; stages name the run.
    cancel : CancelToken
        Checked between runs and inside them.
    on_entry : callable, optional
        ``(index, entry)``, called as soon as each run is done.

    Returns
    -------
    list of CompareEntry
        One per run, in order. A run whose method raised anything (unknown method,
        :class:`MffError`, ``RuntimeError`` from torch, ``MemoryError``, ``ValueError``...)
        has ``error`` set (:func:`method_error_text`) and the loop goes on.

    Raises
    ------
    Cancelled
        When cancelled (entries already passed to ``on_entry`` stay valid).
    """
    from mffgui.methods import get_method
    from mffgui.metrics import resolve_metrics, score
    from mffgui.pipeline import fuse_stack

    names = resolve_metrics(metrics)
    srcs = list(sources) if sources is not None else source_grays(stack)
    out: list[CompareEntry] = []
    n = len(runs)
    span = 1.0 / max(n, 1)
    for i, run in enumerate(runs):
        cancel.raise_if_cancelled()
        tag = f"{run.label} ({i + 1}/{n})"
        sub = _prefixed(scaled(progress, i * span, span * 0.85), tag)
        t0 = time.perf_counter()
        try:
            res = fuse_stack(stack, get_method(run.method), run.params, progress=sub, cancel=cancel)
            seconds = time.perf_counter() - t0
            cancel.raise_if_cancelled()
            progress((i + 0.85) * span, 1.0, f"{tag}: scoring")
            scores = score(res.fused, srcs, ground_truth, names)
            entry = CompareEntry(run.label, res.fused, scores, seconds, result=res)
        except Cancelled:
            raise
        except Exception as err:  # any failure of one method marks only its own entry
            if not isinstance(err, MffError):
                log.warning("compare: %s failed", run.label, exc_info=True)
            entry = CompareEntry(run.label, None, error=method_error_text(err))
        out.append(entry)
        if on_entry is not None:
            on_entry(i, entry)
    progress(1.0, 1.0, "done")
    return out


def compare_methods(
    stack: Stack,
    methods: Sequence[str],
    params: Mapping[str, Params] | None = None,
    metrics: Iterable[str] | None = None,
    ground_truth: np.ndarray | None = None,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> list[CompareEntry]:
    """Fuse ``stack`` with each method and score the results (:func:`compare_stack`).

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
        In the order of ``methods``. A method that fails (any exception) gets an entry with
        ``error`` set; the others still run.

    Raises
    ------
    MffError
        No methods, or an unknown method name (before any work).
    """
    from mffgui.methods import get_method
    from mffgui.metrics import resolve_metrics

    resolve_metrics(metrics)  # unknown metric names fail before any work
    methods = list(methods)
    if not methods:
        raise MffError("no methods to compare")
    instances = [get_method(m) for m in methods]  # unknown names fail before any work
    params = dict(params or {})
    runs = [
        CompareRun(name, params.get(name) or method.info.params(), name)
        for name, method in zip(methods, instances, strict=True)
    ]
    return compare_stack(
        stack, runs, metrics=metrics, ground_truth=ground_truth, progress=progress, cancel=cancel
    )


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
    from mffgui.metrics.report import render_grid

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
    from mffgui.metrics.report import metrics_table_markdown

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
    from mffgui.metrics.report import rows_to_csv

    return rows_to_csv(rows, ["method", *cols, "seconds", "error"])
