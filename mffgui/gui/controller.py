"""Session state of the app and the only place that starts or cancels background work.

The window calls the controller (``add_sources``, ``fuse``, ``cancel``, ``export``) and listens
to its signals; the controller never touches a widget. Each fusion run gets a frozen
:class:`~mffgui.gui.worker.FusionRequest` with a new generation number from a
:class:`~mffgui.core.runs.RunTracker`; a new run cancels the previous one and results of older
generations are dropped. The source frames themselves are :mod:`mffgui.gui.sources`; what the
result panel asks for later (overlays, weights, the height map) is made by its
:class:`~mffgui.gui.result_jobs.ResultJobs` (``controller.result_jobs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from mffgui.core.eta import EtaEstimator
from mffgui.core.progress import CancelToken
from mffgui.core.runs import RunState, RunTracker
from mffgui.errors import MffError
from mffgui.gui.channels import ChannelInfo, channel_info, choice_for
from mffgui.gui.result_jobs import ResultJobs
from mffgui.gui.sources import (
    AlignmentNote,
    Source,
    discover_tolerant,
    problem_text,
    with_size_warnings,
)
from mffgui.gui.tasks import TaskRunner, TaskWorker, take
from mffgui.gui.worker import (
    ExportOutcome,
    ExportRequest,
    FusionOutcome,
    FusionRequest,
    ThumbnailWorker,
    run_export,
    run_fusion,
    run_height_export,
)
from mffgui.types import ImageMeta, strategy_note

if TYPE_CHECKING:
    from mffgui.core.channels import GuideChannel
    from mffgui.methods.base import Params

log = logging.getLogger(__name__)


class Controller(QObject):
    """Holds sources, method choice and the current result; runs fusion and export.

    Signals
    -------
    sourcesChanged()
        The list of sources (order, inclusion, problems) changed.
    thumbnailReady(int, object)
        ``(source id, (h, w[, 3]) uint8 array)`` made in the background.
    stateChanged(str)
        ``idle``, ``running``, ``cancelling``, ``done``, ``cancelled`` or ``failed``.
    progressChanged(float, str, float)
        Fraction done, stage text and estimated seconds left (``-1`` = unknown).
    resultChanged(object)
        A new :class:`FusionOutcome` (only the newest generation), or ``None`` when cleared.
    errorOccurred(str)
        A message for the user (names the file); never a traceback.
    message(str)
        Informational status text.
    exportFinished(object)
        An :class:`ExportOutcome`.
    """

    sourcesChanged = Signal()
    thumbnailReady = Signal(int, object)
    stateChanged = Signal(str)
    progressChanged = Signal(float, str, float)
    resultChanged = Signal(object)
    errorOccurred = Signal(str)
    message = Signal(str)
    exportFinished = Signal(object)
    exportStateChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sources: list[Source] = []
        self.method: str = ""
        self.params: dict[str, Params] = {}
        self.device: str = "auto"
        self.align: str = "auto"
        self.align_interpolation: str = "linear"
        self.align_crop: bool = True
        self.channel: str = "sum"
        """Guide channel of multi-channel stacks as the CLI's ``--channel`` spells it
        (``"sum"`` or a 1-based number); see :attr:`guide_channel`."""
        self._channel_counts: dict[Path, int] = {}
        self.outcome: FusionOutcome | None = None
        self.last_error = ""
        self.runs = RunTracker()
        """Generation, cancel token and state of the fusion runs."""
        self._next_id = 0
        self._run_started = 0.0
        self._eta = EtaEstimator()
        self._last_progress: tuple[float, str] = (0.0, "")
        self._eta_timer = QTimer(self)  # counts the time left down between progress reports
        self._eta_timer.setInterval(1000)
        self._eta_timer.timeout.connect(self._tick_eta)
        self._runner = TaskRunner(self)
        self.thumbnails: dict[int, np.ndarray] = {}
        self._thumb_gen = 0
        self._export_gen = 0
        self._exporting = False
        self.result_jobs = ResultJobs(self._runner, lambda: self.outcome, self)
        """Overlay, weights and height map of the shown result, made when asked for."""
        self.result_jobs.failed.connect(self._error)
        self.skipped: list[tuple[Path, str]] = []
        """Files of opened folders that were not added, with the reason (listed to the user)."""

    # ------------------------------------------------------------------ sources
    def open_sources(self, paths: Iterable[str | Path]) -> bool:
        """Replace the sources with ``paths`` (files, folders, multi-page TIFFs)."""
        self.clear_sources()
        return self.add_sources(paths)

    def clear_sources(self) -> None:
        """Remove every source and the result; cancels a running fusion."""
        self.cancel()
        self.sources = []
        self.skipped = []
        self._set_outcome(None)
        self.sourcesChanged.emit()

    def add_sources(self, paths: Iterable[str | Path]) -> bool:
        """Append the images found in ``paths`` (files, folders, multi-page TIFFs).

        Unreadable files become sources with a ``problem``; frames whose size differs from the
        rest get a ``warning``. Thumbnails are made in the background.

        Returns
        -------
        bool
            Whether at least one readable frame was added.
        """
        paths = [Path(p) for p in paths]
        if not paths:
            return False
        frames, skipped, problems = discover_tolerant(paths)
        known = {s.key for s in self.sources}
        added: list[Source] = []
        for (path, page), meta in frames:
            if (path, page) in known:
                continue
            known.add((path, page))
            added.append(self._new_source(path, page, meta))
        for path, err in problems:
            added.append(self._new_source(path, None, None, problem=problem_text(err, path)))
        self.sources.extend(added)
        self.skipped += [(p, why) for p, why in skipped if p not in {q for q, _ in self.skipped}]
        self._update_warnings()
        self.sourcesChanged.emit()
        n_ok = sum(1 for s in added if not s.problem)
        notes = []
        if n_ok:
            notes.append(f"Added {n_ok} image{'s' if n_ok != 1 else ''}")
        if skipped:
            names = ", ".join(p.name for p, _why in skipped[:3])
            more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
            notes.append(f"skipped {len(skipped)} file(s): {names}{more}")
        if notes:
            self.message.emit("; ".join(notes))
        if problems:
            msgs = [str(err) for _p, err in problems]
            self._error(
                msgs[0]
                if len(msgs) == 1
                else f"{len(msgs)} files cannot be read:\n" + "\n".join(msgs[:8])
            )
        elif not added and not frames:
            self._error("No images found in " + ", ".join(str(p) for p in paths))
        self._start_thumbnails([s for s in added if not s.problem])
        return n_ok > 0

    def _new_source(
        self, path: Path, page: int | None, meta: ImageMeta | None, problem: str = ""
    ) -> Source:
        self._next_id += 1
        return Source(self._next_id, path, page, meta, included=not problem, problem=problem)

    def _update_warnings(self) -> None:
        self.sources = with_size_warnings(self.sources, self.align)

    def set_align(self, mode: str) -> None:
        """Choose Align: ``"off"``, ``"auto"`` or a motion model (size warnings follow)."""
        self.align = mode
        before = [s.warning for s in self.sources]
        self._update_warnings()
        if [s.warning for s in self.sources] != before:
            self.sourcesChanged.emit()

    def source(self, source_id: int) -> Source | None:
        """The source with ``source_id`` (or ``None``)."""
        return next((s for s in self.sources if s.id == source_id), None)

    def set_included(self, source_id: int, included: bool) -> None:
        """Include or exclude one source (unreadable sources stay excluded)."""
        self.sources = [
            replace(s, included=included and not s.problem) if s.id == source_id else s
            for s in self.sources
        ]
        self._update_warnings()
        self.sourcesChanged.emit()

    def reorder(self, ids: Sequence[int]) -> None:
        """Put the sources in the order of ``ids`` (ids not listed keep their relative order)."""
        by_id = {s.id: s for s in self.sources}
        ordered = [by_id[i] for i in ids if i in by_id]
        rest = [s for s in self.sources if s.id not in set(ids)]
        new = ordered + rest
        if [s.id for s in new] != [s.id for s in self.sources]:
            self.sources = new
            self.sourcesChanged.emit()

    def remove(self, ids: Iterable[int]) -> None:
        """Remove the sources with ``ids``."""
        drop = set(ids)
        if not drop:
            return
        self.sources = [s for s in self.sources if s.id not in drop]
        self._update_warnings()
        self.sourcesChanged.emit()

    @property
    def included_sources(self) -> list[Source]:
        """Sources that would be fused, in order."""
        return [s for s in self.sources if s.usable]

    @property
    def channel_info(self) -> ChannelInfo | None:
        """The channels of the file when the included sources are the planes of one
        multi-channel file (``None`` for ordinary photos)."""
        return channel_info(self.sources, self._channel_counts)

    @property
    def guide_channel(self) -> GuideChannel | None:
        """The channel the depth map is computed from (0-based or ``"sum"``); ``None`` when
        the stack is not multi-channel."""
        info = self.channel_info
        return None if info is None else choice_for(self.channel, info)

    @property
    def input_bit_depth(self) -> int:
        """Largest bit depth of the included sources (8 when unknown)."""
        depths = [s.meta.bit_depth for s in self.included_sources if s.meta]
        return max(depths) if depths else 8

    # ------------------------------------------------------------------ thumbnails
    def _start_thumbnails(self, sources: list[Source]) -> None:
        if not sources:
            return
        jobs = tuple((s.id, s.path, s.page) for s in sources)
        self._thumb_gen += 1
        worker = ThumbnailWorker(jobs, self._thumb_gen, CancelToken())
        worker.thumbnailReady.connect(self._on_thumbnail)
        self._runner.start(worker)

    @Slot(int, int)
    def _on_thumbnail(self, source_id: int, key: int) -> None:
        thumb = take(key)
        if self.source(source_id) is not None and thumb is not None:
            self.thumbnails[source_id] = thumb
            self.thumbnailReady.emit(source_id, thumb)

    # ------------------------------------------------------------------ fusion
    def build_request(self) -> FusionRequest:
        """Freeze the current choices into a request with the next generation number.

        Raises
        ------
        MffError
            Fewer than two usable sources, or no method chosen.
        """
        included = self.included_sources
        if len(included) < 2:
            raise MffError(
                f"A focus stack needs at least two images; {len(included)} "
                f"{'is' if len(included) == 1 else 'are'} included."
            )
        if not self.method:
            raise MffError("Choose a fusion method first.")
        params = self.params.get(self.method)
        if params is None:
            from mffgui.methods import get_method

            params = get_method(self.method).info.params()
        if "device" in {f for f in getattr(params, "__dataclass_fields__", {})}:
            try:
                params = replace(params, device=self.device)
            except (MffError, TypeError, ValueError):
                pass
        return FusionRequest(
            self.runs.next_generation,
            tuple(s.key for s in included),
            tuple(s.meta for s in included if s.meta is not None),
            self.method,
            params,
            self.device,
            self.align,
            self.result_jobs.overlay_source,
            self.align_interpolation,
            self.align_crop,
            self.guide_channel,
        )

    def fuse(self) -> bool:
        """Start fusing the included sources; a running fusion is cancelled first.

        Returns
        -------
        bool
            False when the request could not be built (the reason goes to ``errorOccurred``).
        """
        try:
            request = self.build_request()
        except MffError as err:
            self._error(str(err))
            return False
        gen, token = self.runs.start()  # cancels the previous run
        request = replace(request, generation=gen)
        worker = TaskWorker(
            lambda progress, cancel: run_fusion(request, progress, cancel),
            request.generation,
            token,
            f"fusion with {request.method}",
        )
        worker.progressed.connect(self._on_progress)
        worker.resultReady.connect(self._on_result)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._run_started = time.monotonic()
        self._eta.reset()
        self._eta.update(0.0, self._run_started)
        self._set_state(self.runs.state)
        n = len(request.frames)
        self._last_progress = (0.0, f"Fusing {n} images with {request.method}")
        self.progressChanged.emit(0.0, self._last_progress[1], -1.0)
        self._eta_timer.start()
        self._runner.start(worker)
        return True

    def cancel(self) -> None:
        """Ask the running fusion to stop (takes effect at its next cancel check)."""
        if self.runs.cancel():
            self._set_state(self.runs.state)

    @property
    def running(self) -> bool:
        """Whether a fusion of the current generation is in progress."""
        return self.runs.running

    @property
    def state(self) -> RunState:
        """State of the newest fusion run (see :data:`~mffgui.core.runs.RunState`)."""
        return self.runs.state

    @property
    def generation(self) -> int:
        """Generation number of the newest fusion run."""
        return self.runs.generation

    @Slot(int, float, str)
    def _on_progress(self, gen: int, frac: float, stage: str) -> None:
        if not self.runs.accepts_progress(gen):
            return
        eta = self._eta.update(frac, time.monotonic())
        self._last_progress = (frac, stage)
        self.progressChanged.emit(frac, stage, -1.0 if eta is None else eta)

    @Slot()
    def _tick_eta(self) -> None:
        eta = self._eta.estimate(time.monotonic()) if self.state == "running" else None
        if eta is None:
            return
        self.progressChanged.emit(*self._last_progress, eta)

    @Slot(int, int)
    def _on_result(self, gen: int, key: int) -> None:
        outcome = take(key)
        state = self.runs.finish(gen)
        if state is None:
            log.debug("dropping stale result of generation %d", gen)
            return
        if state == "cancelled":  # finished after the user cancelled: discard
            self._report_cancelled()
            return
        self._set_outcome(outcome)
        self._set_alignment(outcome)
        self._set_state(state)
        align = outcome.request.align
        if align == "auto":
            aligned = f"; align {outcome.align_summary}" if outcome.align_summary else ""
        else:
            aligned = f", aligned ({align})" if outcome.alignment is not None else ""
        notes = f"; {'; '.join(outcome.notes)}" if outcome.notes else ""
        self.message.emit(
            f"Fused {len(outcome.metas)} images with {outcome.request.method}"
            f"{strategy_note(outcome.result.meta)}"
            f" in {outcome.seconds:.1f} s{aligned}{notes}"
        )

    @Slot(int, str)
    def _on_failed(self, gen: int, msg: str) -> None:
        if self.runs.fail(gen):
            self._set_state(self.runs.state)
            self._error(msg)

    @Slot(int)
    def _on_cancelled(self, gen: int) -> None:
        if self.runs.cancelled(gen):
            self._report_cancelled()

    def _report_cancelled(self) -> None:
        self._set_state(self.runs.state)
        self.message.emit("Fusion cancelled")

    def _set_alignment(self, outcome: FusionOutcome) -> None:
        """Attach the per-frame alignment report of ``outcome`` to the sources it fused."""
        notes: dict[tuple[Path, int | None], AlignmentNote] = {}
        report = outcome.alignment
        if report is not None:
            for k, key in enumerate(outcome.request.frames[: len(report.frames)]):
                notes[key] = AlignmentNote.from_report(report, k)
        new = [replace(s, alignment=notes.get(s.key)) for s in self.sources]
        if new != self.sources:
            self.sources = new
            self.sourcesChanged.emit()

    def _set_state(self, state: RunState) -> None:
        if state != "running":
            self._eta_timer.stop()
        self.runs.state = state
        self.stateChanged.emit(state)

    def _set_outcome(self, outcome: FusionOutcome | None) -> None:
        self.outcome = outcome
        self.result_jobs.invalidate()  # overlays of an older result are dropped
        self.resultChanged.emit(outcome)

    def _error(self, msg: str) -> None:
        self.last_error = msg
        self.errorOccurred.emit(msg)

    # ------------------------------------------------------------------ export
    def export(self, request: ExportRequest) -> bool:
        """Write the current result as ``request`` asks, in the background."""
        outcome = self.outcome
        return self._start_export(
            lambda progress, cancel: run_export(outcome, request, progress, cancel), request.path
        )

    def export_height(self, path: Path) -> bool:
        """Write the current result's height map (32-bit float TIFF, µm) and its colour
        preview ``<stem>_preview.png`` in the background."""
        outcome = self.outcome
        height = self.result_jobs.height_of(outcome)
        return self._start_export(
            lambda progress, cancel: run_height_export(outcome, path, progress, cancel, height),
            path,
        )

    def _start_export(self, fn: Callable[[Any, CancelToken], ExportOutcome], path: Path) -> bool:
        """Run the export ``fn(progress, cancel)`` writing ``path`` in the background."""
        if self.outcome is None:
            self._error("Nothing to export yet: fuse the stack first.")
            return False
        if self._exporting:
            self._error("An export is already running.")
            return False
        self._export_gen += 1
        worker = TaskWorker(fn, self._export_gen, CancelToken(), f"export to {path}")
        worker.progressed.connect(self._on_export_progress)
        worker.resultReady.connect(self._on_export_done)
        worker.failed.connect(self._on_export_failed)
        worker.cancelled.connect(self._on_export_cancelled)
        self._exporting = True
        self.exportStateChanged.emit(True)
        self.message.emit(f"Exporting {path.name}…")
        self._runner.start(worker)
        return True

    @Slot(int, float, str)
    def _on_export_progress(self, _gen: int, frac: float, stage: str) -> None:
        if not self.running:  # a fusion's progress has the bar first
            self.progressChanged.emit(frac, f"Export: {stage}", -1.0)

    @Slot(int, int)
    def _on_export_done(self, _gen: int, key: int) -> None:
        outcome: ExportOutcome = take(key)
        self._exporting = False
        self.exportStateChanged.emit(False)
        names = ", ".join(p.name for p in outcome.written)
        self.message.emit(f"Exported {names}")
        self.exportFinished.emit(outcome)

    @Slot(int)
    def _on_export_cancelled(self, gen: int) -> None:
        self._on_export_failed(gen, "cancelled")

    @Slot(int, str)
    def _on_export_failed(self, _gen: int, msg: str) -> None:
        self._exporting = False
        self.exportStateChanged.emit(False)
        self._error(f"Export failed: {msg}")

    @property
    def exporting(self) -> bool:
        """Whether an export is being written."""
        return self._exporting

    def shutdown(self) -> None:
        """Cancel all background work and wait for it (window close)."""
        self.runs.shutdown()
        self._runner.shutdown()


__all__ = ["AlignmentNote", "Controller", "Source"]
