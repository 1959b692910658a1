"""Background work of the compare view: fuse with several methods, score, region scores, report.

Like :mod:`mffgui.gui.worker`, the work is plain functions taking ``progress`` and ``cancel``
(:func:`run_compare`, :func:`run_region_scores`, :func:`write_report`); :class:`CompareWorker`
runs :func:`run_compare` on a ``QThread`` and posts each method's result as soon as it is ready,
so the grid fills while the next method runs. Metrics are always computed here, never on the GUI
thread. Only immutable objects cross threads (through the mailbox of :mod:`mffgui.gui.worker`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage

from mffgui.compare import CompareRun, method_error_text
from mffgui.core.progress import CancelToken
from mffgui.errors import ExportError, MffError
from mffgui.gui.tasks import ProgressCb, TaskWorker, post
from mffgui.gui.worker import FrameKey
from mffgui.types import FusionResult, ImageMeta, Stack

if TYPE_CHECKING:
    from mffgui.compare import CompareEntry

log = logging.getLogger(__name__)

SLOW_METRICS = ("QP",)
"""Metrics left out by default: phase congruency takes seconds per result."""


@dataclass(frozen=True)
class CompareRequest:
    """Everything one comparison needs, frozen on the GUI thread.

    Attributes
    ----------
    generation : int
        Increases with every comparison; results of older ones are dropped.
    frames : tuple of (Path, int or None)
        The source frames, in stack order.
    metas : tuple of ImageMeta
        Their headers (one per frame).
    runs : tuple of CompareRun
        What to run, in display order.
    metrics : tuple of str
        Metric names (reference metrics only count with a ground truth).
    ground_truth : Path or None
        All-in-focus reference image (enables PSNR/SSIM).
    device : str
        Device for network methods (put into their ``device`` parameter).
    """

    generation: int
    frames: tuple[FrameKey, ...]
    metas: tuple[ImageMeta, ...]
    runs: tuple[CompareRun, ...]
    metrics: tuple[str, ...]
    ground_truth: Path | None = None
    device: str = "auto"


@dataclass(frozen=True)
class RunOutcome:
    """One finished run: the result (or the error), its scores and the image to show.

    Attributes
    ----------
    index : int
        Position of the run in the request.
    run : CompareRun
    result : FusionResult or None
        ``None`` when the method failed.
    seconds : float
        Fusion wall-clock time (NaN on failure).
    scores : dict
        Metric name -> value over the whole image.
    image : QImage or None
        The fused image, ready to show (made on the worker thread).
    error : str or None
        The message of a failed method.
    """

    index: int
    run: CompareRun
    result: FusionResult | None
    seconds: float
    scores: dict[str, float] = field(default_factory=dict)
    image: QImage | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the method produced a result."""
        return self.result is not None


@dataclass(frozen=True)
class StackData:
    """The stack shared by every run: lazy frames, 8-bit gray sources, ground truth."""

    stack: Stack
    grays: tuple[np.ndarray, ...]
    ground_truth: np.ndarray | None


@dataclass(frozen=True)
class CompareOutcome:
    """A whole comparison (finished or cancelled part-way)."""

    request: CompareRequest
    data: StackData
    runs: tuple[RunOutcome, ...]


@dataclass(frozen=True)
class RegionRequest:
    """Score every result inside ``rect = (x, y, w, h)`` (image pixels)."""

    generation: int
    rect: tuple[int, int, int, int]
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class RegionScores:
    """Scores per run label inside :attr:`RegionRequest.rect`."""

    request: RegionRequest
    scores: dict[str, dict[str, float]]


def load_stack_data(request: CompareRequest) -> StackData:
    """Read the stack (lazily), its 8-bit gray frames and the ground truth.

    Raises
    ------
    MffError
        Unreadable files, or a ground truth of another size (the message names the file).
    """
    from mffgui.compare import source_grays
    from mffgui.io import Discovery, read_image, read_stack

    stack = read_stack(Discovery(frames=list(request.frames), metas=list(request.metas)))
    gt = None
    if request.ground_truth is not None:
        gt = read_image(request.ground_truth)[0]
        if gt.shape[:2] != stack.shape:
            raise MffError(
                f"{request.ground_truth}: ground truth is {gt.shape[1]}x"
                f"{gt.shape[0]}, the stack {stack.shape[1]}x{stack.shape[0]}"
            )
    return StackData(stack, tuple(source_grays(stack)), gt)


def fused_qimage(fused: np.ndarray) -> QImage:
    """The fused image as a QImage (dim images stretched like the main window does)."""
    from mffgui.gui.convert import apply_levels, display_levels, to_index_u8, to_qimage

    return to_qimage(to_index_u8(apply_levels(fused, display_levels(fused))))


def score_result(fused: np.ndarray, data: StackData, metrics: Sequence[str]) -> dict[str, float]:
    """Whole-image scores of one fused image (see :func:`mffgui.metrics.score`)."""
    from mffgui.metrics import score

    return score(fused, list(data.grays), data.ground_truth, metrics)


run_error_text = method_error_text
"""The message of a failed run (:func:`mffgui.compare.method_error_text`)."""


def run_compare(
    request: CompareRequest,
    progress: ProgressCb,
    cancel: CancelToken,
    on_run: Callable[[RunOutcome, StackData], None] | None = None,
) -> CompareOutcome:
    """Fuse the stack with every run of ``request`` and score each result (worker thread).

    The loop is :func:`mffgui.compare.compare_stack`, the one ``mffgui compare`` runs: same
    fusion (:func:`mffgui.pipeline.fuse_stack`), same scores, same error policy.

    Parameters
    ----------
    request : CompareRequest
    progress : callable
        ``(done, total, stage)`` over the whole comparison; stages name the method.
    cancel : CancelToken
        Checked between and inside methods.
    on_run : callable, optional
        Called with each :class:`RunOutcome` as soon as it is ready.

    Returns
    -------
    CompareOutcome

    Raises
    ------
    Cancelled
        When cancelled (runs already reported through ``on_run`` stay valid).
    MffError
        The stack could not be read. A failing method (any exception but :class:`Cancelled`)
        only marks its own run.
    """
    from mffgui.compare import compare_stack

    progress(0.0, 1.0, "Reading images")
    data = load_stack_data(request)
    runs = [_with_device(run, request.device) for run in request.runs]
    outs: list[RunOutcome] = []

    def on_entry(i: int, entry: CompareEntry) -> None:
        run = request.runs[i]
        if entry.result is None:
            out = RunOutcome(i, run, None, math.nan, error=entry.error)
        else:
            image = fused_qimage(entry.result.fused)
            out = RunOutcome(i, run, entry.result, entry.seconds, dict(entry.scores), image)
        outs.append(out)
        if on_run is not None:
            on_run(out, data)

    compare_stack(
        data.stack,
        runs,
        metrics=request.metrics,
        ground_truth=data.ground_truth,
        sources=data.grays,
        progress=progress,
        cancel=cancel,
        on_entry=on_entry,
    )
    progress(1.0, 1.0, "Done")
    return CompareOutcome(request, data, tuple(outs))


def _with_device(run: CompareRun, device: str) -> CompareRun:
    """``run`` with the request's device in its parameters (network methods)."""
    params = run.params
    if "device" in getattr(params, "__dataclass_fields__", {}):
        try:
            return replace(run, params=replace(params, device=device))
        except (MffError, TypeError, ValueError):
            pass
    return run


def crop(img: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """``img[y:y+h, x:x+w]`` for ``rect = (x, y, w, h)``."""
    x, y, w, h = rect
    return img[y : y + h, x : x + w]


def run_region_scores(
    request: RegionRequest,
    data: StackData,
    runs: Sequence[RunOutcome],
    progress: ProgressCb,
    cancel: CancelToken,
) -> RegionScores:
    """Score each successful run inside ``request.rect`` (worker thread).

    The fused images, the sources and the ground truth are cropped to the rectangle, then scored
    exactly like whole images.

    Raises
    ------
    MffError
        A rectangle smaller than 8x8 pixels or outside the image.
    """
    from mffgui.metrics import score

    x, y, w, h = request.rect
    H, W = data.stack.shape
    if x < 0 or y < 0 or x + w > W or y + h > H:
        raise MffError(f"region {w}x{h} at ({x}, {y}) lies outside the {W}x{H} image")
    if w < 8 or h < 8:
        raise MffError(f"region {w}x{h} is too small; draw at least 8x8 pixels")
    srcs = [crop(g, request.rect) for g in data.grays]
    gt = None if data.ground_truth is None else crop(data.ground_truth, request.rect)
    ok = [r for r in runs if r.result is not None]
    out: dict[str, dict[str, float]] = {}
    for i, r in enumerate(ok):
        cancel.raise_if_cancelled()
        progress(i, len(ok), f"Region metrics: {r.run.label}")
        out[r.run.label] = score(
            crop(r.result.fused, request.rect),
            srcs,
            gt,  # type: ignore[union-attr]
            request.metrics,
        )
    progress(1.0, 1.0, "Done")
    return RegionScores(request, out)


def entries(
    runs: Sequence[RunOutcome], scores: dict[str, dict[str, float]] | None = None
) -> list[CompareEntry]:
    """The runs as :class:`mffgui.compare.CompareEntry` (for the grid and the tables).

    ``scores`` replaces the whole-image scores (e.g. region scores) by run label.
    """
    from mffgui.compare import CompareEntry

    out = []
    for r in runs:
        s = dict(r.scores) if scores is None else dict(scores.get(r.run.label, {}))
        out.append(
            CompareEntry(
                r.run.label, None if r.result is None else r.result.fused, s, r.seconds, r.error
            )
        )
    return out


def safe_stem(label: str) -> str:
    """A file-name-safe version of a run label."""
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", label).strip("._")
    return stem or "result"


REPORT_FILES = ("grid.png", "metrics.csv", "metrics.md")
"""Files every report has, besides ``<label>.png`` and ``<label>_<map>.png`` per result."""


def write_report(
    outcome: CompareOutcome,
    runs: Sequence[RunOutcome],
    folder: Path,
    progress: ProgressCb,
    cancel: CancelToken,
    region: RegionScores | None = None,
) -> tuple[Path, ...]:
    """Save the comparison into ``folder`` (worker thread); every file is written atomically.

    Written: ``grid.png`` (labelled grid), ``<label>.png`` per result (8 or 16 bits like the
    sources), ``<label>_index.png`` / ``_decision.png`` / ``_focus_NNN.png`` (the maps, see
    :func:`mffgui.io.write_maps`), ``metrics.csv`` and ``metrics.md`` (whole image; with a region
    also ``region-metrics.csv`` / ``.md``).

    Raises
    ------
    ExportError
        The folder is missing or not writable, or a file would overwrite a source.
    """
    from mffgui.compare import comparison_csv, comparison_grid, comparison_markdown
    from mffgui.io import write_image, write_maps
    from mffgui.metrics.report import write_text_atomic

    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError("the report folder does not exist", folder)
    stack = outcome.data.stack
    sources = [m.path for m in stack.metas if m.path is not None]
    ok = [r for r in runs if r.result is not None]
    if not ok:
        raise ExportError("no method produced a result to export", folder)
    written: list[Path] = []
    ents = entries(runs)
    progress(0.0, 1.0, "Writing the grid")
    labels = [f"{e.label} ({e.seconds:.1f} s)" for e in ents if e.fused is not None]
    grid = comparison_grid(
        [
            replace(e, label=lab)
            for e, lab in zip([e for e in ents if e.fused is not None], labels, strict=True)
        ]
    )
    written.append(write_image(folder / "grid.png", grid, bit_depth=8, sources=sources))
    depth = 16 if stack.bit_depth > 8 else 8
    for i, r in enumerate(ok):
        cancel.raise_if_cancelled()
        progress((i + 1) / (len(ok) + 1), 1.0, f"Writing {r.run.label}")
        stem = safe_stem(r.run.label)
        written.append(
            write_image(
                folder / f"{stem}.png",
                r.result.fused,  # type: ignore[union-attr]
                bit_depth=depth,
                sources=sources,
            )
        )
        written += write_maps(r.result, folder, stem, sources=sources)  # type: ignore[arg-type]
    try:
        written.append(write_text_atomic(folder / "metrics.csv", comparison_csv(ents)))
        written.append(
            write_text_atomic(
                folder / "metrics.md", _markdown_header(outcome, None) + comparison_markdown(ents)
            )
        )
        if region is not None:
            rents = entries(runs, region.scores)
            written.append(write_text_atomic(folder / "region-metrics.csv", comparison_csv(rents)))
            written.append(
                write_text_atomic(
                    folder / "region-metrics.md",
                    _markdown_header(outcome, region) + comparison_markdown(rents),
                )
            )
    except OSError as err:
        raise ExportError(
            f"could not write the metrics table: {err.strerror or err}", folder
        ) from None
    progress(1.0, 1.0, "Done")
    return tuple(written)


def _markdown_header(outcome: CompareOutcome, region: RegionScores | None) -> str:
    stack = outcome.data.stack
    h, w = stack.shape
    first = stack.metas[0].path if stack.metas else None
    where = f" of {first.parent}" if first is not None else ""
    lines = [
        f"# Comparison{where}",
        "",
        f"{len(stack)} frames, {w}x{h} pixels. Metrics on 8-bit gray images; "
        "↑ higher is better, ↓ lower is better; the best value is bold.",
        "",
    ]
    if outcome.data.ground_truth is not None:
        lines += [f"Ground truth: {outcome.request.ground_truth}", ""]
    if region is not None:
        x, y, rw, rh = region.request.rect
        lines += [f"Region: {rw}x{rh} pixels at ({x}, {y}).", ""]
    for r in outcome.runs:
        lines.append(f"- **{r.run.label}**: {r.run.method}, {r.run.params_text()}")
    return "\n".join(lines) + "\n\n"


class CompareWorker(TaskWorker):
    """Runs :func:`run_compare`, posting each finished run at once.

    Signals
    -------
    runReady(int, int)
        Generation, mailbox key of a :class:`RunOutcome` (see :func:`mffgui.gui.tasks.take`).
    """

    runReady = Signal(int, int)

    def __init__(self, request: CompareRequest, cancel: CancelToken) -> None:
        super().__init__(self._work, request.generation, cancel, "comparison")
        self.request = request
        self.data_key: int | None = None

    def _work(self, progress: ProgressCb, cancel: CancelToken) -> CompareOutcome:
        def on_run(out: RunOutcome, data: StackData) -> None:
            self.runReady.emit(self.generation, post((out, data)))

        return run_compare(self.request, progress, cancel, on_run)


__all__ = [
    "REPORT_FILES",
    "SLOW_METRICS",
    "CompareOutcome",
    "CompareRequest",
    "CompareRun",
    "CompareWorker",
    "RegionRequest",
    "RegionScores",
    "RunOutcome",
    "StackData",
    "crop",
    "entries",
    "fused_qimage",
    "load_stack_data",
    "run_compare",
    "run_error_text",
    "run_region_scores",
    "safe_stem",
    "score_result",
    "write_report",
]
