"""The Train dialog's preview: the latest epoch checkpoint fused on a small pair, in a worker.

The numpy work (choosing the pair, fusing it, the ``A | B | fused`` strip) is Qt-free, in
:mod:`mffgui.training.preview`; this label only runs it off the GUI thread (one at a time; a
request during a run keeps only the newest) and shows the strip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QWidget

from mffgui.core.progress import CancelToken
from mffgui.gui.tasks import TaskRunner, TaskWorker, take
from mffgui.training.preview import PREVIEW_SIZE, fuse_preview, preview_pair, preview_strip

__all__ = ["PreviewPane"]

PairSource = Callable[[], tuple[str, list[str]]]
"""Returns ``(validation folder, training data folders)`` when a preview starts."""


def _pixmap(img: np.ndarray) -> QPixmap:
    from mffgui.gui.convert import to_qimage, to_uint8

    return QPixmap.fromImage(to_qimage(to_uint8(img)))


class PreviewPane(QLabel):
    """Shows ``A | B | fused`` for the newest checkpoint asked for.

    Parameters
    ----------
    sources : callable
        Where the preview pair comes from (read when the first preview of a run starts).

    Signals
    -------
    updated(int)
        Epoch whose checkpoint the preview now shows.
    """

    updated = Signal(int)

    def __init__(self, sources: PairSource, parent: QWidget | None = None) -> None:
        super().__init__("Preview after the first epoch", parent)
        self._sources = sources
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.setToolTip("The validation pair (or a synthetic pair) fused by the latest checkpoint")
        self.pair: tuple[np.ndarray, np.ndarray] | None = None
        self._busy = False
        self._pending: tuple[str, str, int] | None = None
        self._runner = TaskRunner(self)
        self._worker: TaskWorker | None = None

    def reset(self) -> None:
        """A new run: choose the pair again at its first preview."""
        self.pair = None

    def request(self, arch: str, checkpoint: str, epoch: int) -> None:
        """Preview ``checkpoint`` (of network ``arch``, after ``epoch``)."""
        if self._busy:
            self._pending = (arch, checkpoint, epoch)
            return
        self._busy = True
        val, data = self._sources()
        cached = self.pair

        def work(_progress: Any, _cancel: CancelToken) -> tuple[Any, ...]:
            pair = cached if cached is not None else preview_pair(val, data)
            return pair, fuse_preview(arch, checkpoint, pair), epoch

        worker = TaskWorker(work, epoch, CancelToken(), "the training preview")
        worker.resultReady.connect(self._on_result)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_done)
        self._worker = worker
        self._runner.start(worker)

    def _on_result(self, _gen: int, key: int) -> None:
        out = take(key)
        if out is None:
            return
        pair, fused, epoch = out
        self.pair = pair
        pm = _pixmap(preview_strip(pair, fused))
        self.setPixmap(
            pm.scaled(
                max(PREVIEW_SIZE, self.width()),
                max(PREVIEW_SIZE, self.height()),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.setToolTip(f"A | B | fused with the checkpoint of epoch {epoch}")
        self.updated.emit(int(epoch))

    def _on_failed(self, _gen: int, message: str) -> None:
        self.setText(f"No preview: {message}")

    def _on_done(self) -> None:
        self._busy = False
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.request(*pending)

    def shutdown(self, timeout_ms: int = 5_000) -> None:
        """Wait for a preview in progress (before the dialog closes)."""
        self._runner.shutdown(timeout_ms)
