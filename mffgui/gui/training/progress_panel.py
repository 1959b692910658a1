"""The Train dialog's *Progress* group: status, progress bar, time left, loss curve, preview,
validation table and the trainer's log; it renders the session's
:class:`~mffgui.training.session.Update` of every event."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QWidget,
)

from mffgui.gui.training.loss_curve import LossCurve
from mffgui.gui.training.preview import PairSource, PreviewPane
from mffgui.training.session import TrainingSession, Update

__all__ = ["ProgressPanel"]


class ProgressPanel(QGroupBox):
    """What a run shows while it trains (every widget is a public attribute)."""

    def __init__(self, preview_sources: PairSource, parent: QWidget | None = None) -> None:
        super().__init__("Progress", parent)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.eta = QLabel("")
        self.curve = LossCurve()
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.metrics.setTextFormat(Qt.TextFormat.RichText)
        self.preview = PreviewPane(preview_sources)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(500)
        self.log_view.setMaximumHeight(90)
        grid = QGridLayout(self)
        grid.addWidget(self.status, 0, 0, 1, 2)
        grid.addWidget(self.progress, 1, 0)
        grid.addWidget(self.eta, 1, 1)
        grid.addWidget(self.curve, 2, 0)
        grid.addWidget(self.preview, 2, 1)
        grid.addWidget(self.metrics, 3, 0, 1, 2)
        grid.addWidget(self.log_view, 4, 0, 1, 2)
        grid.setColumnStretch(0, 1)

    def new_run(self) -> None:
        """Forget the curve and the preview pair of the previous run."""
        self.curve.clear()
        self.preview.reset()

    def report(self, text: str, error: bool = False) -> None:
        """Show ``text`` as the status line (red when ``error``)."""
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "")

    def log(self, line: str) -> None:
        """Append ``line`` to the log view."""
        self.log_view.appendPlainText(line)

    def show_update(self, up: Update, session: TrainingSession) -> None:
        """Render one event's update (the status line goes through the caller's report)."""
        if up.loss_point is not None:
            self.curve.add(*up.loss_point)
        if up.epoch_mark is not None:
            self.curve.mark_epoch(up.epoch_mark)
        if up.metrics:
            self.metrics.setText(session.metrics_html())
        if up.preview is not None:
            self.preview.request(session.arch, *up.preview)
        if up.log is not None:
            self.log(up.log)
        if up.eta is not None:
            self.eta.setText(up.eta)
        self.progress.setValue(int(1000 * session.progress()))
