"""The compare window's run list: methods with parameters to compare, and an editor to add more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.errors import MffError
from mffgui.gui.compare_worker import CompareRun

if TYPE_CHECKING:
    from mffgui.methods.base import MethodInfo, Params

FAST_DEFAULTS = ("laplacian", "gff", "depthmap")
"""Methods ticked when the list is filled (fast classical ones)."""


class RunPanel(QWidget):
    """Checkable list of runs (method + parameters) above a method/parameter editor.

    The editor is the main window's :class:`~mffgui.gui.widgets.method_panel.MethodPanel`
    (without its Fuse button and alignment); *Add run* appends its method and parameters.

    Signals
    -------
    errorOccurred(str)
        An invalid parameter in the editor.
    deviceChanged(str)
        The device chosen in the editor (network methods).
    """

    errorOccurred = Signal(str)
    deviceChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        from mffgui.gui.widgets.method_panel import MethodPanel

        super().__init__(parent)
        self.run_list = QListWidget()
        self.run_list.setToolTip("Tick the runs to compare; each is a method with parameters")
        self.editor = MethodPanel([])
        self.editor.fuse_button.hide()
        top = self.editor.layout().itemAt(0).layout()
        top.labelForField(self.editor.align).hide()
        self.editor.align.hide()
        self.editor.deviceChanged.connect(self.deviceChanged)
        self.add_button = QPushButton("Add run")
        self.add_button.setToolTip("Add the method above with these parameters (presets, "
                                   "custom weights) as another run")
        self.add_button.clicked.connect(self.add_from_editor)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected runs from the list")
        self.remove_button.clicked.connect(self._remove_selected)
        self.gt_label = QLabel()
        self.gt_label.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Runs</b>"))
        lay.addWidget(self.run_list, 1)
        lay.addWidget(self.editor)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        lay.addWidget(self.gt_label)

    def set_methods(self, infos: Sequence[MethodInfo],
                    params: dict[str, Params] | None = None) -> None:
        """One run per method with its defaults (fast ones ticked), plus ``"<m> (your
        settings)"`` for each of ``params`` that differs from the defaults."""
        self.editor.set_methods(list(infos))
        self.run_list.clear()
        names = {i.name for i in infos}
        for info in infos:
            self.add(info.name, info.params(), checked=info.name in FAST_DEFAULTS)
        for name, p in (params or {}).items():
            if name in names and p != type(p)():
                self.add(name, p, label=f"{name} (your settings)", checked=True)

    def add(self, method: str, params: Params, label: str | None = None,
            checked: bool = True) -> CompareRun:
        """Append a run (its label is made unique)."""
        base = label or method
        taken = {r.label for r in self.runs(all_runs=True)}
        label, k = base, 2
        while label in taken:
            label, k = f"{base} #{k}", k + 1
        run = CompareRun(method, params, label)
        item = QListWidgetItem(label)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        item.setData(Qt.ItemDataRole.UserRole, run)
        item.setToolTip(f"{method}: {run.params_text()}")
        self.run_list.addItem(item)
        return run

    def add_from_editor(self) -> CompareRun | None:
        """Add the editor's method and parameters as a run (*Add run*)."""
        name = self.editor.method
        if not name:
            return None
        try:
            params = self.editor.params()
        except MffError as err:
            self.errorOccurred.emit(f"Invalid parameter: {err}")
            return None
        text = CompareRun(name, params, name).params_text()
        short = text if len(text) <= 40 else text[:39] + "…"
        return self.add(name, params, label=name if text == "defaults" else f"{name} ({short})")

    def _remove_selected(self) -> None:
        for item in self.run_list.selectedItems():
            self.run_list.takeItem(self.run_list.row(item))

    def runs(self, all_runs: bool = False) -> list[CompareRun]:
        """The ticked runs (or all of them), in list order."""
        out = []
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            if all_runs or item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def set_checked(self, labels: Sequence[str]) -> None:
        """Tick exactly the runs labelled ``labels``."""
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in labels
                               else Qt.CheckState.Unchecked)


__all__ = ["FAST_DEFAULTS", "RunPanel"]
