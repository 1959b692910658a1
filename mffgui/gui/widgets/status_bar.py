"""The main window's status bar widgets: hover read-out, stage, progress bar, time left."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar


def format_eta(seconds: float) -> str:
    """``~12 s left`` / ``~3 min 05 s left``; empty for an unknown time (negative)."""
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"~{seconds:.0f} s left"
    return f"~{seconds // 60:.0f} min {seconds % 60:02.0f} s left"


class ProgressStatus:
    """The widgets the main window puts into its status bar.

    Attributes
    ----------
    hover_label : QLabel
        The pixel read-out under the mouse (stretches).
    stage_label, progress, eta_label : QLabel, QProgressBar, QLabel
        Stage text, progress and time left of a running task (hidden when idle).
    """

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.hover_label = QLabel()
        self.stage_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.eta_label = QLabel()
        bar.addWidget(self.hover_label, 1)
        bar.addPermanentWidget(self.stage_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.eta_label)
        self.set_busy(False)

    def set_busy(self, on: bool) -> None:
        """Show (a task runs) or hide the stage, progress and time left."""
        for w in (self.stage_label, self.progress, self.eta_label):
            w.setVisible(on)
        if not on:
            self.progress.setValue(0)

    def show_progress(self, frac: float, stage: str, eta: float) -> None:
        """Fraction done, stage text and seconds left (negative: unknown)."""
        self.progress.setValue(int(frac * 1000))
        self.stage_label.setText(stage)
        self.eta_label.setText(format_eta(eta))

    def show_hover(self, text: str) -> None:
        """The pixel read-out (a temporary message would hide it: cleared)."""
        if text:
            self.bar.clearMessage()
        self.hover_label.setText(text)


__all__ = ["ProgressStatus", "format_eta"]
