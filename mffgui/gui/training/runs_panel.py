"""The Train dialog's *Previous runs* group: resume, delete or clean up earlier runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QPushButton, QWidget

from mffgui.user_weights import TrainingRun

__all__ = ["RunsPanel"]


def _button(text: str, tip: str) -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    return b


class RunsPanel(QGroupBox):
    """The runs in the user's runs folder, newest first, with their buttons.

    Signals
    -------
    resumeRequested()
        *Resume previous run* (the chosen one).
    deleteRequested(str)
        *Delete run*: the chosen run's checkpoint.
    cleanRequested()
        *Clean up saved runs*.
    """

    resumeRequested = Signal()
    deleteRequested = Signal(str)
    cleanRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Previous runs", parent)
        self._busy = False
        self._active: Path | None = None
        self.previous = QComboBox()
        self.previous.setToolTip(
            "Runs of earlier sessions in your data folder: date, network, "
            "epochs done, how the run ended"
        )
        self.previous.currentIndexChanged.connect(lambda _i: self._update_buttons())
        self.resume_previous_button = _button(
            "Resume previous run",
            "Continue the chosen run from its last checkpoint, with its data and settings",
        )
        self.resume_previous_button.clicked.connect(self.resumeRequested)
        self.delete_run_button = _button(
            "Delete run",
            "Delete the chosen run's checkpoints (weights saved to your library stay)",
        )
        self.delete_run_button.clicked.connect(self._delete_chosen)
        self.clean_button = _button(
            "Clean up saved runs",
            "Delete the checkpoints of every run that finished and "
            "whose weights are in your library",
        )
        self.clean_button.clicked.connect(self.cleanRequested)
        row = QHBoxLayout(self)
        row.addWidget(self.previous, 1)
        for b in (self.resume_previous_button, self.delete_run_button, self.clean_button):
            row.addWidget(b)

    def runs(self) -> list[TrainingRun]:
        """The listed runs (newest first)."""
        return [
            self.previous.itemData(i)
            for i in range(self.previous.count())
            if isinstance(self.previous.itemData(i), TrainingRun)
        ]

    def chosen_run(self) -> TrainingRun | None:
        """The chosen run (``None`` when there is none)."""
        data = self.previous.currentData()
        return data if isinstance(data, TrainingRun) else None

    def show_runs(self, runs: Sequence[TrainingRun]) -> None:
        """List ``runs``, keeping the chosen run chosen."""
        current = self.chosen_run()
        self.previous.blockSignals(True)
        self.previous.clear()
        for r in runs:
            self.previous.addItem(r.label, r)
            self.previous.setItemData(
                self.previous.count() - 1, str(r.path), Qt.ItemDataRole.ToolTipRole
            )
        if not runs:
            self.previous.addItem("No earlier runs", None)
        idx = next(
            (i for i, r in enumerate(runs) if current is not None and r.path == current.path), 0
        )
        self.previous.setCurrentIndex(idx)
        self.previous.blockSignals(False)
        self._update_buttons()

    def set_busy(self, busy: bool, active: Path | None) -> None:
        """A trainer is (not) running the run ``active``: it cannot be resumed or deleted."""
        self._busy, self._active = busy, active
        self._update_buttons()

    def _update_buttons(self) -> None:
        run = self.chosen_run()
        self.resume_previous_button.setEnabled(run is not None and not self._busy)
        self.delete_run_button.setEnabled(
            run is not None and not (self._busy and run.path == self._active)
        )
        self.clean_button.setEnabled(any(r.finished_and_saved for r in self.runs()))

    def _delete_chosen(self) -> None:
        run = self.chosen_run()
        if run is not None:
            self.deleteRequested.emit(str(run.path))
