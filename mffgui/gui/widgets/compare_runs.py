"""The compare window's run list: methods with parameters to compare, and an editor to add more.

Below the editor, a preset picker adds a run from a named preset of the editor's method
(built-in ones from :mod:`mffgui.gui.widgets.compare_presets`, or the user's own); the
editor's current parameters can be saved as a user preset and user presets deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.errors import MffError
from mffgui.gui.compare_worker import CompareRun
from mffgui.gui.widgets.compare_presets import Preset, PresetStore

if TYPE_CHECKING:
    from mffgui.methods.base import MethodInfo, Params

FAST_DEFAULTS = ("laplacian", "gff", "depthmap", "halofree")
"""Methods ticked when the list is filled (fast classical ones)."""


class RunPanel(QWidget):
    """Checkable list of runs (method + parameters) above a method/parameter editor.

    The editor is the main window's :class:`~mffgui.gui.widgets.method_panel.MethodPanel`
    (without its Fuse button and alignment); *Add run* appends its method and parameters.

    Signals
    -------
    errorOccurred(str)
        An invalid parameter in the editor, or a preset that could not be saved.
    deviceChanged(str)
        The device chosen in the editor (network methods).
    presetsChanged()
        A user preset was saved or deleted.

    Parameters
    ----------
    presets : PresetStore, optional
        Where user presets live (default: the config folder).
    """

    errorOccurred = Signal(str)
    deviceChanged = Signal(str)
    presetsChanged = Signal()

    def __init__(self, parent: QWidget | None = None, presets: PresetStore | None = None) -> None:
        from mffgui.gui.widgets.method_panel import MethodPanel

        super().__init__(parent)
        self.preset_store = presets or PresetStore()
        self.run_list = QListWidget()
        self.run_list.setToolTip("Tick the runs to compare; each is a method with parameters")
        self.editor = MethodPanel([])
        self.editor.fuse_button.hide()
        top = self.editor.layout().itemAt(0).layout()
        top.labelForField(self.editor.align).hide()
        self.editor.align.hide()
        self.editor.align_options.hide()  # shown by default now that Align defaults to Auto
        self.editor.deviceChanged.connect(self.deviceChanged)
        self.add_button = QPushButton("Add run")
        self.add_button.setToolTip(
            "Add the method above with these parameters (e.g. custom "
            "weights) as another run; presets are below"
        )
        self.add_button.clicked.connect(self.add_from_editor)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected runs from the list")
        self.remove_button.clicked.connect(self._remove_selected)
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip(
            "Choose a named preset of the method above to add it as "
            "a run (built-in presets and your own)"
        )
        self.preset_combo.activated.connect(self._on_preset_chosen)
        self.preset_combo.currentIndexChanged.connect(lambda _i: self._update_preset_buttons())
        self.save_preset_button = QPushButton("Save preset…")
        self.save_preset_button.setToolTip(
            "Save the parameters above under a name, as a preset of this method"
        )
        self.save_preset_button.clicked.connect(self._ask_save_preset)
        self.delete_preset_button = QPushButton("Delete preset")
        self.delete_preset_button.setToolTip("Delete the chosen preset (your own presets only)")
        self.delete_preset_button.clicked.connect(self._delete_chosen_preset)
        self.editor.methodChanged.connect(lambda _m: self._fill_presets())
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
        prow = QHBoxLayout()
        prow.addWidget(QLabel("Preset"))
        prow.addWidget(self.preset_combo, 1)
        lay.addLayout(prow)
        brow = QHBoxLayout()
        brow.addWidget(self.save_preset_button)
        brow.addWidget(self.delete_preset_button)
        lay.addLayout(brow)
        lay.addWidget(self.gt_label)
        self._fill_presets()

    def set_methods(
        self, infos: Sequence[MethodInfo], params: dict[str, Params] | None = None
    ) -> None:
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

    def add(
        self, method: str, params: Params, label: str | None = None, checked: bool = True
    ) -> CompareRun:
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

    # ------------------------------------------------------------------ presets
    def presets(self, method: str | None = None) -> list[Preset]:
        """Built-in, then user presets of ``method`` (default: the editor's method)."""
        return self.preset_store.presets(method or self.editor.method)

    def add_preset(self, method: str, name: str, checked: bool = True) -> CompareRun | None:
        """Add a run from preset ``name`` of ``method``, labelled ``"<method> (<name>)"``.

        Returns ``None`` (and emits ``errorOccurred``) for an unknown preset or one whose
        values the method no longer accepts.
        """
        info = self.editor.methods.get(method)
        preset = next((p for p in self.presets(method) if p.name == name), None)
        if info is None or preset is None:
            self.errorOccurred.emit(f"No preset “{name}” for {method}.")
            return None
        try:
            params = preset.params(info.params)
        except MffError as err:
            self.errorOccurred.emit(f"Preset “{name}” of {method} is invalid: {err}")
            return None
        return self.add(method, params, label=f"{method} ({name})", checked=checked)

    def save_preset(self, name: str) -> Preset | None:
        """Save the editor's method and parameters as user preset ``name`` (replacing one of
        the same name); ``None`` and ``errorOccurred`` on an invalid form or name."""
        method = self.editor.method
        if not method:
            return None
        try:
            params = self.editor.params()
            values = {k: v for k, v in params.to_dict().items() if k != "device"}
            preset = self.preset_store.save(method, name, values)
        except MffError as err:
            self.errorOccurred.emit(f"Could not save the preset: {err}")
            return None
        self._fill_presets(select=preset.name)
        self.presetsChanged.emit()
        return preset

    def delete_preset(self, method: str, name: str) -> bool:
        """Delete the user preset ``name`` of ``method`` (``errorOccurred`` if there is none)."""
        try:
            self.preset_store.delete(method, name)
        except MffError as err:
            self.errorOccurred.emit(str(err))
            return False
        self._fill_presets()
        self.presetsChanged.emit()
        return True

    def chosen_preset(self) -> Preset | None:
        """The preset shown in the preset picker (``None`` on its placeholder)."""
        data = self.preset_combo.currentData()
        return data if isinstance(data, Preset) else None

    def _fill_presets(self, select: str | None = None) -> None:
        method = self.editor.method
        combo = self.preset_combo
        combo.blockSignals(True)
        combo.clear()
        presets = self.presets(method) if method else []
        combo.addItem("Add a preset run…" if presets else "No presets for this method", None)
        for p in presets:
            combo.addItem(p.name if p.builtin else f"{p.name} (yours)", p)
            combo.setItemData(
                combo.count() - 1,
                p.description or ", ".join(f"{k}={v}" for k, v in p.values.items()),
                Qt.ItemDataRole.ToolTipRole,
            )
        idx = next(
            (
                i
                for i in range(1, combo.count())
                if select is not None and combo.itemData(i).name == select
            ),
            0,
        )
        combo.setCurrentIndex(idx)
        combo.setEnabled(bool(presets))
        combo.blockSignals(False)
        self._update_preset_buttons()

    def _update_preset_buttons(self) -> None:
        p = self.chosen_preset()
        self.save_preset_button.setEnabled(bool(self.editor.method))
        self.delete_preset_button.setEnabled(p is not None and not p.builtin)

    def _on_preset_chosen(self, index: int) -> None:
        p = self.preset_combo.itemData(index)
        if isinstance(p, Preset):
            self.add_preset(p.method, p.name)

    def _ask_save_preset(self) -> None:
        name, ok = QInputDialog.getText(
            self, "Save preset", f"Name of the preset of {self.editor.method}"
        )
        if ok and name.strip():
            self.save_preset(name)

    def _delete_chosen_preset(self) -> None:
        p = self.chosen_preset()
        if p is not None and not p.builtin:
            self.delete_preset(p.method, p.name)

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
            item.setCheckState(
                Qt.CheckState.Checked if item.text() in labels else Qt.CheckState.Unchecked
            )


__all__ = ["FAST_DEFAULTS", "RunPanel"]
