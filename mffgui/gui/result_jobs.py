"""What the result panel shows of the current result beyond its first images, made in the
background when asked for: a source's focus overlay, a source's weights (maps a method
computes on demand are never read on the GUI thread) and the height map.

The controller owns one :class:`ResultJobs`, gives it the current result (its ``outcome``, which
retouching replaces) and starts it afresh for every new result (:meth:`ResultJobs.invalidate`):
answers for an older result are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from mffgui.core.progress import CancelToken
from mffgui.core.runs import Generation
from mffgui.gui.tasks import TaskRunner, TaskWorker, take
from mffgui.gui.worker import FusionOutcome, height_of, prepare_overlay, source_maps


class ResultJobs(QObject):
    """Overlay, weights and height map of the current result, made on worker threads.

    Parameters
    ----------
    runner : TaskRunner
        Runs the workers (the controller's, so closing the window waits for them too).
    current : callable
        ``current()`` is the result shown now (or ``None``).

    Signals
    -------
    overlayReady(object)
        :class:`~mffgui.gui.worker.OverlayImages` asked for with :meth:`request_overlay`.
    weightsReady(int, object)
        ``(source, (H, W) float32 weights)`` asked for with :meth:`request_weights`.
    heightReady(object, object)
        ``(outcome, (H, W) float32 height map)`` asked for with :meth:`request_height`.
    failed(str)
        A message for the user (an overlay frame could not be read, the height map failed).
    """

    overlayReady = Signal(object)
    weightsReady = Signal(int, object)
    heightReady = Signal(object, object)
    failed = Signal(str)

    def __init__(
        self,
        runner: TaskRunner,
        current: Callable[[], FusionOutcome | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._current = current
        self.overlay_source = 0
        """The source whose overlay was asked for last (the next fusion prepares it first)."""
        self._overlays = Generation()  # overlays and weights of the current result
        self.height: np.ndarray | None = None
        """Height map of :attr:`height_outcome` once made (:meth:`request_height`)."""
        self.height_outcome: FusionOutcome | None = None
        self._height_asked: FusionOutcome | None = None

    def invalidate(self) -> None:
        """A new result is shown: overlays and weights asked for before are dropped."""
        self._overlays.invalidate()

    def height_of(self, outcome: FusionOutcome | None) -> np.ndarray | None:
        """The height map of ``outcome`` when already made, else ``None``."""
        return self.height if outcome is not None and self.height_outcome is outcome else None

    def request_overlay(self, source: int) -> None:
        """Prepare the focus overlay of ``source`` in the background (``overlayReady``)."""
        outcome = self._current()
        if outcome is None or not 0 <= source < len(outcome.stack):
            return
        self.overlay_source = source
        gen, token = self._overlays.next()
        levels = outcome.display.levels if outcome.display is not None else None
        worker = TaskWorker(
            lambda _p, _c: prepare_overlay(outcome.result, outcome.stack, source, levels),
            gen,
            token,
            f"reading frame {source + 1}",
        )
        worker.resultReady.connect(self._on_overlay)
        worker.failed.connect(self._on_overlay_failed)
        self._runner.start(worker)

    def request_height(self) -> None:
        """Make the current result's height map in the background (``heightReady``); at once
        when it is already made. Reading every focus map costs about a fusion's time, so it
        is made when first needed (hover, the depth view's height, the height export)."""
        outcome = self._current()
        if outcome is None:
            return
        if self.height_outcome is outcome and self.height is not None:
            self.heightReady.emit(outcome, self.height)
            return
        if self._height_asked is outcome:
            return
        self._height_asked = outcome
        worker = TaskWorker(
            lambda _p, _c: (outcome, height_of(outcome)), 0, CancelToken(), "height map"
        )
        worker.resultReady.connect(self._on_height)
        worker.failed.connect(lambda _g, msg: self.failed.emit(f"Height map: {msg}"))
        self._runner.start(worker)

    @Slot(int, int)
    def _on_height(self, _gen: int, key: int) -> None:
        outcome, height = take(key)
        if outcome is self._current():  # a newer (or retouched) result asks again
            self.height, self.height_outcome = height, outcome
            self.heightReady.emit(outcome, height)

    def request_weights(self, source: int) -> None:
        """Read the decision weights of ``source`` in the background (``weightsReady``).

        Used for the hover read-out when a method computes its maps on demand.
        """
        outcome = self._current()
        if outcome is None:
            return
        weights = outcome.result.weights
        worker = TaskWorker(
            lambda _p, _c: (source, source_maps(weights, source)),
            self._overlays.number,  # answered along with the overlay of the same result
            CancelToken(),
            f"weights of frame {source + 1}",
        )
        worker.resultReady.connect(self._on_weights)
        self._runner.start(worker)

    @Slot(int, int)
    def _on_weights(self, gen: int, key: int) -> None:
        source, weights = take(key)
        if self._overlays.is_current(gen):
            self.weightsReady.emit(source, weights)

    @Slot(int, int)
    def _on_overlay(self, gen: int, key: int) -> None:
        overlay = take(key)
        if self._overlays.answer(gen):
            self.overlayReady.emit(overlay)

    @Slot(int, str)
    def _on_overlay_failed(self, gen: int, msg: str) -> None:
        if self._overlays.answer(gen):
            self.failed.emit(msg)
