"""Session state of the app and the only place that starts or cancels background work.

The window calls the controller (``add_sources``, ``fuse``, ``cancel``, ``export``) and listens
to its signals; the controller never touches a widget. Each fusion run gets a frozen
:class:`~mffgui.gui.worker.FusionRequest` with a new generation number; a new run cancels the
previous one and results of older generations are dropped.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from mffgui.core.eta import EtaEstimator
from mffgui.core.progress import CancelToken
from mffgui.errors import MffError
from mffgui.gui.worker import (
    ExportOutcome,
    ExportRequest,
    FusionOutcome,
    FusionRequest,
    TaskRunner,
    TaskWorker,
    ThumbnailWorker,
    prepare_overlay,
    run_export,
    run_fusion,
    source_maps,
    take,
)
from mffgui.types import ImageMeta, strategy_note

if TYPE_CHECKING:
    from mffgui.core.align import AlignmentReport
    from mffgui.methods.base import Params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignmentNote:
    """One frame's line of the alignment report, as the source list shows it.

    Attributes
    ----------
    status : str
        ``"reference"``, ``"ok"``, ``"failed"`` or ``"implausible"``.
    dx, dy : float
        Shift of the frame's centre onto the reference, in pixels.
    scale : float
        Scale onto the reference (1 = none).
    rotation_deg : float
        Rotation onto the reference, in degrees.
    correlation : float
        ECC correlation with the frame it was registered to (NaN when not measured).
    reason : str
        Why a failed or implausible frame was excluded (empty otherwise).
    model : str
        The motion model of the run.
    """

    status: str
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    rotation_deg: float = 0.0
    correlation: float = math.nan
    reason: str = ""
    model: str = ""

    @property
    def excluded(self) -> bool:
        """Whether the frame was left out of the fusion (failed or implausible)."""
        return self.status not in ("reference", "ok")

    @property
    def summary(self) -> str:
        """One short line: the transform and correlation, or the exclusion flag."""
        if self.excluded:
            return f"⚠ excluded: alignment {self.status}"
        if self.status == "reference":
            return "alignment reference"
        text = f"shift {self.dx:+.1f}, {self.dy:+.1f} px"
        if self.model != "translation":
            text += f" · ×{self.scale:.3f} · {self.rotation_deg:+.2f}°"
        if not math.isnan(self.correlation):
            text += f" · r {self.correlation:.3f}"
        return text

    @property
    def detail(self) -> str:
        """Tooltip text: the full report of the frame, with the reason for an exclusion."""
        if self.excluded:
            return (
                f"Alignment ({self.model}) {self.status}; excluded from the fusion: {self.reason}"
            )
        if self.status == "reference":
            return f"Alignment ({self.model}): the reference frame the others are aligned to"
        corr = "" if math.isnan(self.correlation) else f", correlation {self.correlation:.3f}"
        return (
            f"Alignment ({self.model}): shift {self.dx:+.2f}, {self.dy:+.2f} px, "
            f"scale {self.scale:.4f}, rotation {self.rotation_deg:+.3f}°{corr}"
        )

    @classmethod
    def from_report(cls, report: AlignmentReport, index: int) -> AlignmentNote:
        """The note of frame ``index`` of ``report``."""
        from mffgui.core.align_geometry import decompose

        f = report.frames[index]
        d = decompose(f.matrix, report.width, report.height)
        return cls(
            f.status, d.dx, d.dy, d.scale, d.rotation_deg, f.correlation, f.reason, report.model
        )


@dataclass(frozen=True)
class Source:
    """One frame in the source list.

    Attributes
    ----------
    id : int
        Stable identifier within the session (list rows move, ids do not).
    path : Path
        The file.
    page : int or None
        Page inside a multi-page file.
    meta : ImageMeta or None
        Header information; ``None`` when the file could not be read.
    included : bool
        Whether the frame takes part in the fusion.
    problem : str
        Why the file cannot be used (unreadable); such a source is never included.
    warning : str
        A problem that makes fusion fail unless fixed (e.g. a different size).
    alignment : AlignmentNote or None
        How the frame aligned in the last aligned fusion (``None``: not aligned).
    """

    id: int
    path: Path
    page: int | None = None
    meta: ImageMeta | None = None
    included: bool = True
    problem: str = ""
    warning: str = ""
    alignment: AlignmentNote | None = None

    @property
    def key(self) -> tuple[Path, int | None]:
        """``(path, page)``, the frame's identity in a read stack."""
        return (self.path, self.page)

    @property
    def name(self) -> str:
        """Display name (file name, ``[page]`` for pages)."""
        return f"{self.path.name} [{self.page + 1}]" if self.page is not None else self.path.name

    @property
    def usable(self) -> bool:
        """Included and readable."""
        return self.included and not self.problem


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
    overlayReady(object)
        :class:`~mffgui.gui.worker.OverlayImages` asked for with :meth:`request_overlay`.
    weightsReady(int, object)
        ``(source, (H, W) float32 weights)`` asked for with :meth:`request_weights`.
    """

    sourcesChanged = Signal()
    thumbnailReady = Signal(int, object)
    stateChanged = Signal(str)
    progressChanged = Signal(float, str, float)
    resultChanged = Signal(object)
    errorOccurred = Signal(str)
    message = Signal(str)
    exportFinished = Signal(object)
    overlayReady = Signal(object)
    weightsReady = Signal(int, object)
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
        self.outcome: FusionOutcome | None = None
        self.state = "idle"
        self.last_error = ""
        self.generation = 0
        self._next_id = 0
        self._token: CancelToken | None = None
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
        self.overlay_source = 0
        self._overlay_gen = 0
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
        frames, skipped, problems = _discover_tolerant(paths)
        known = {s.key for s in self.sources}
        added: list[Source] = []
        for (path, page), meta in frames:
            if (path, page) in known:
                continue
            known.add((path, page))
            added.append(self._new_source(path, page, meta))
        for path, err in problems:
            added.append(self._new_source(path, None, None, problem=_reason(err, path)))
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
        sizes = collections.Counter(
            (s.meta.width, s.meta.height) for s in self.sources if s.usable and s.meta
        )
        if not sizes:
            self.sources = [replace(s, warning="") for s in self.sources]
            return
        (w0, h0), _ = sizes.most_common(1)[0]
        out = []
        for s in self.sources:
            warn = ""
            if s.meta and (s.meta.width, s.meta.height) != (w0, h0):
                warn = (
                    f"size {s.meta.width}×{s.meta.height} differs from {w0}×{h0} of the "
                    "other images; "
                    + (
                        "Align resamples it onto the reference frame"
                        if self.align not in ("", "off")
                        else "exclude it, or turn Align on"
                    )
                )
            out.append(replace(s, warning=warn))
        self.sources = out

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
        """Freeze the current choices into a request with a new generation number.

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
        self.generation += 1
        return FusionRequest(
            self.generation,
            tuple(s.key for s in included),
            tuple(s.meta for s in included if s.meta is not None),
            self.method,
            params,
            self.device,
            self.align,
            self.overlay_source,
            self.align_interpolation,
            self.align_crop,
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
        if self._token is not None:
            self._token.cancel()
        token = CancelToken()
        self._token = token
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
        self._set_state("running")
        n = len(request.frames)
        self._last_progress = (0.0, f"Fusing {n} images with {request.method}")
        self.progressChanged.emit(0.0, self._last_progress[1], -1.0)
        self._eta_timer.start()
        self._runner.start(worker)
        return True

    def cancel(self) -> None:
        """Ask the running fusion to stop (takes effect at its next cancel check)."""
        if self._token is not None and self.state == "running":
            self._token.cancel()
            self._set_state("cancelling")

    @property
    def running(self) -> bool:
        """Whether a fusion of the current generation is in progress."""
        return self.state in ("running", "cancelling")

    @Slot(int, float, str)
    def _on_progress(self, gen: int, frac: float, stage: str) -> None:
        if gen != self.generation or not self.running:
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
        if gen != self.generation:
            log.debug("dropping stale result of generation %d", gen)
            return
        if self._token is not None and self._token.cancelled:
            self._on_cancelled(gen)  # finished after the user cancelled: discard
            return
        self._token = None
        self._set_outcome(outcome)
        self._set_alignment(outcome)
        self._set_state("done")
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
        if gen != self.generation:
            return
        self._token = None
        self._set_state("failed")
        self._error(msg)

    @Slot(int)
    def _on_cancelled(self, gen: int) -> None:
        if gen != self.generation:
            return
        self._token = None
        self._set_state("cancelled")
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

    def _set_state(self, state: str) -> None:
        if state != "running":
            self._eta_timer.stop()
        self.state = state
        self.stateChanged.emit(state)

    def _set_outcome(self, outcome: FusionOutcome | None) -> None:
        self.outcome = outcome
        self._overlay_gen += 1  # overlays of an older result are dropped
        self.resultChanged.emit(outcome)

    def _error(self, msg: str) -> None:
        self.last_error = msg
        self.errorOccurred.emit(msg)

    def request_overlay(self, source: int) -> None:
        """Prepare the focus overlay of ``source`` in the background (``overlayReady``)."""
        outcome = self.outcome
        if outcome is None or not 0 <= source < len(outcome.stack):
            return
        self.overlay_source = source
        self._overlay_gen += 1
        levels = outcome.display.levels if outcome.display is not None else None
        worker = TaskWorker(
            lambda _p, _c: prepare_overlay(outcome.result, outcome.stack, source, levels),
            self._overlay_gen,
            CancelToken(),
            f"reading frame {source + 1}",
        )
        worker.resultReady.connect(self._on_overlay)
        worker.failed.connect(self._on_overlay_failed)
        self._runner.start(worker)

    def request_weights(self, source: int) -> None:
        """Read the decision weights of ``source`` in the background (``weightsReady``).

        Used for the hover read-out when a method computes its maps on demand.
        """
        outcome = self.outcome
        if outcome is None:
            return
        weights = outcome.result.weights
        worker = TaskWorker(
            lambda _p, _c: (source, source_maps(weights, source)),
            self._overlay_gen,
            CancelToken(),
            f"weights of frame {source + 1}",
        )
        worker.resultReady.connect(self._on_weights)
        self._runner.start(worker)

    @Slot(int, int)
    def _on_weights(self, gen: int, key: int) -> None:
        source, weights = take(key)
        if gen == self._overlay_gen:
            self.weightsReady.emit(source, weights)

    @Slot(int, int)
    def _on_overlay(self, gen: int, key: int) -> None:
        overlay = take(key)
        if gen == self._overlay_gen:
            self.overlayReady.emit(overlay)

    @Slot(int, str)
    def _on_overlay_failed(self, gen: int, msg: str) -> None:
        if gen == self._overlay_gen:
            self._error(msg)

    # ------------------------------------------------------------------ export
    def export(self, request: ExportRequest) -> bool:
        """Write the current result as ``request`` asks, in the background."""
        outcome = self.outcome
        if outcome is None:
            self._error("Nothing to export yet: fuse the stack first.")
            return False
        if self._exporting:
            self._error("An export is already running.")
            return False
        self._export_gen += 1
        worker = TaskWorker(
            lambda progress, cancel: run_export(outcome, request, progress, cancel),
            self._export_gen,
            CancelToken(),
            f"export to {request.path}",
        )
        worker.progressed.connect(self._on_export_progress)
        worker.resultReady.connect(self._on_export_done)
        worker.failed.connect(self._on_export_failed)
        worker.cancelled.connect(self._on_export_cancelled)
        self._exporting = True
        self.exportStateChanged.emit(True)
        self.message.emit(f"Exporting {request.path.name}…")
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
        if self._token is not None:
            self._token.cancel()
        self._runner.shutdown()


def _reason(err: MffError, path: Path) -> str:
    """The message of ``err`` without the leading path (the list item shows the name)."""
    msg = getattr(err, "message", None) or str(err)
    prefix = f"{path}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg


def _discover_tolerant(
    paths: list[Path],
) -> tuple[
    list[tuple[tuple[Path, int | None], ImageMeta]],
    list[tuple[Path, str]],
    list[tuple[Path, MffError]],
]:
    """:func:`mffgui.io.discover` that keeps going past unreadable files.

    Returns
    -------
    frames : list of ((path, page), ImageMeta)
        Readable frames, natural-sorted as ``discover`` sorts them.
    skipped : list of (Path, str)
        Non-image files of the folders (and ground-truth images), with the reason.
    problems : list of (Path, MffError)
        Files that look like images but cannot be read.
    """
    from mffgui.io import discover, is_image_file, natural_key

    def run(inputs: list[Path]) -> tuple[list, list]:
        d = discover(inputs)
        gt = [(p, "ground-truth image, not an input") for p in d.ground_truth]
        return list(zip(d.frames, d.metas, strict=True)), list(d.skipped) + gt

    try:
        frames, skipped = run(paths)
        return frames, skipped, []
    except MffError:
        pass
    # Something in there is unreadable: go file by file so the rest still opens.
    frames, skipped, problems = [], [], []
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            for entry in sorted(p.iterdir(), key=lambda e: natural_key(e.name)):
                if entry.name.startswith(".") or entry.is_dir():
                    continue
                try:
                    image = is_image_file(entry)
                except MffError:
                    image = True  # looks like an image but is damaged: report it
                if image:
                    files.append(entry)
                else:
                    skipped.append((entry, "not an image file"))
        else:
            files.append(p)
    for f in files:
        try:
            fr, sk = run([f])
        except MffError as err:
            problems.append((f, err))
            continue
        frames += fr
        skipped += sk
    frames.sort(key=lambda item: natural_key(str(item[0][0])))
    return frames, skipped, problems
