"""The Train dialog's *Setup* group: network, start weights, data, schedule, options.

:meth:`SettingsForm.values` reads the form into a :class:`mffgui.training.session.RunSettings`
(what the session turns into the trainer's command line); :meth:`SettingsForm.apply_settings`
shows the settings of an earlier run.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from mffgui.errors import MffError
from mffgui.gui.training.folder_list import FolderList, folder_row
from mffgui.training.run_setup import (
    TRAINABLE_NETWORKS,
    RunSettings,
    data_hint,
    stack_network,
    task_defaults,
    trainable_network,
)
from mffgui.user_weights import WeightsLibrary

__all__ = ["DEVICES", "SettingsForm"]

DEVICES = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA"), ("mps", "MPS"))
"""The device choices: ``--device`` value and label."""


def _spin(lo: int, hi: int, step: int = 1) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    return s


def _edit(placeholder: str) -> QLineEdit:
    e = QLineEdit()
    e.setPlaceholderText(placeholder)
    return e


def _browse_button(slot: Any) -> QToolButton:
    b = QToolButton()
    b.setText("…")
    b.clicked.connect(slot)
    return b


def _row(*widgets: QWidget, stretch: tuple[int, ...] = ()) -> QHBoxLayout:
    lay = QHBoxLayout()
    for i, w in enumerate(widgets):
        lay.addWidget(w, stretch[i] if i < len(stretch) else 0)
    return lay


class SettingsForm(QGroupBox):
    """The settings of a new run (every widget is a public attribute, as the tests drive them).

    Parameters
    ----------
    library : WeightsLibrary
        Offers the user's trained weights as start weights.
    """

    WIDGETS = (
        *("network", "init_combo", "init_edit", "sharp_list", "stacks_list", "val_edit"),
        *("epochs", "minutes", "device", "steps", "batch", "patch", "threads", "log_every"),
        *("extra_edit", "name_edit", "notes_edit", "keep_best", "data_hint"),
    )
    """The input widgets (the dialog exposes them under the same names)."""

    def __init__(self, library: WeightsLibrary, parent: QWidget | None = None) -> None:
        super().__init__("Setup", parent)
        self.library = library
        self.network_chosen = False  # the user picked a network: a loaded stack does not switch
        self.auto_folders: list[str] = []  # the stack folders filled in by set_default_folders
        self.network = QComboBox()
        for net in TRAINABLE_NETWORKS.values():
            self.network.addItem(net.title, net.arch)
        self.network.currentIndexChanged.connect(self._on_network)
        self.network.activated.connect(lambda _i: setattr(self, "network_chosen", True))
        self.init_combo = QComboBox()
        self.init_combo.setToolTip(
            "Weights the training starts from (fine-tuning is much "
            "faster than training from scratch)"
        )
        self.init_edit = _edit("checkpoint file (.pt / .pth)")
        self.init_browse = _browse_button(self._browse_init)
        self.init_combo.currentIndexChanged.connect(self._on_init_choice)
        self.sharp_list = FolderList(
            "Folders of sharp, in-focus images; the trainer makes synthetic focus pairs from them"
        )
        self.stacks_list = FolderList(
            "Folders of your focus stacks or pairs, one sub-folder per scene (Fusion2Void)"
        )
        self.val_edit = _edit("optional: real pairs/stacks scored every epoch")
        self.epochs = _spin(1, 100_000)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0, 10_000)
        self.minutes.setDecimals(1)
        self.minutes.setSpecialValueText("no limit")
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Stop cleanly (with a checkpoint) after this much time")
        self.device = QComboBox()
        for key, text in DEVICES:
            self.device.addItem(text, key)
        self.steps = _spin(1, 1_000_000)
        self.batch = _spin(1, 1024)
        self.patch = _spin(16, 4096, 16)
        self.threads = _spin(0, 256)
        self.threads.setSpecialValueText("auto")
        self.log_every = _spin(1, 10_000)
        self.log_every.setValue(5)
        self.name_edit = _edit("e.g. my microscope")
        self.notes_edit = _edit("optional notes (objective, sample, ...)")
        self.extra_edit = _edit("more trainer options, e.g. --lr 5e-4 --val-count 16")
        self.extra_edit.setToolTip("Passed to python -m mffgui.training as typed (see its --help)")
        self.keep_best = QCheckBox("Keep the best epoch (by validation) rather than the last")
        self.keep_best.setChecked(True)
        self.data_hint = QLabel("")
        self.data_hint.setWordWrap(True)
        self.data_hint.setStyleSheet("color: #d08a1a")
        self.data_hint.setVisible(False)
        for lst in (self.sharp_list, self.stacks_list):
            lst.changed.connect(self._update_data_hint)
        self._layout()
        self._on_network()

    def _layout(self) -> None:
        form = QFormLayout(self)
        form.addRow("Network", self.network)
        init_row = _row(self.init_combo, self.init_edit, self.init_browse, stretch=(1, 1))
        form.addRow("Start from", init_row)
        form.addRow("Sharp images", folder_row(self.sharp_list, "Folder of sharp images"))
        self.stacks_row = folder_row(self.stacks_list, "Folder of stacks or pairs")
        self.stacks_label = QLabel("Stacks / pairs")
        form.addRow(self.stacks_label, self.stacks_row)
        form.addRow(self.data_hint)
        form.addRow(
            "Validation", _row(self.val_edit, _browse_button(self._browse_val), stretch=(1,))
        )
        for pairs in (
            (("Epochs", self.epochs), ("Time budget", self.minutes), ("Device", self.device)),
            (
                ("Steps/epoch", self.steps),
                ("Batch", self.batch),
                ("Patch", self.patch),
                ("Threads", self.threads),
            ),
        ):
            lay = QHBoxLayout()
            for label, w in pairs:
                lay.addWidget(QLabel(label))
                lay.addWidget(w)
            form.addRow(lay)
        form.addRow("Options", self.extra_edit)
        form.addRow("Name", self.name_edit)
        form.addRow("Notes", self.notes_edit)
        form.addRow(self.keep_best)

    # ------------------------------------------------------------------ network and data
    @property
    def arch(self) -> str:
        """The chosen network (a key of :data:`~mffgui.training.session.TRAINABLE_NETWORKS`)."""
        return self.network.currentData()

    def _on_network(self, *_a: Any) -> None:
        d = task_defaults(self.arch)
        self.epochs.setValue(int(d["epochs"]))
        self.steps.setValue(int(d["steps_per_epoch"]))
        self.batch.setValue(int(d["batch_size"]))
        self.patch.setValue(int(d["patch_size"]))
        stacks = trainable_network(self.arch).uses_stacks
        self.stacks_row.setEnabled(stacks)
        self.stacks_label.setEnabled(stacks)
        self._fill_init()
        self._update_data_hint()

    def _update_data_hint(self) -> None:
        text = data_hint(self.arch, self.sharp_list.paths(), self.stacks_list.paths())
        self.data_hint.setText(text)
        self.data_hint.setVisible(bool(text))

    def set_default_folders(self, folders: list[str]) -> None:
        """Use ``folders`` (the loaded focus stack's) as the training data, unless the user
        chose other data.

        A focus stack is real data for Fusion2Void (``--pairs``), not sharp images for GACN:
        it goes under *Stacks / pairs*, and the network that uses stacks is chosen unless the
        user picked a network or listed sharp images (with GACN, a hint says the stack is not
        used).
        """
        if self.stacks_list.paths() not in ([], self.auto_folders):
            return
        self.stacks_list.clear()
        for f in folders:
            self.stacks_list.add_path(f)
        self.auto_folders = self.stacks_list.paths()
        if folders and not self.network_chosen and not self.sharp_list.paths():
            self.network.setCurrentIndex(self.network.findData(stack_network()))
        self._update_data_hint()

    def _fill_init(self) -> None:
        from mffgui.models.weights import bundled_weights

        self.init_combo.blockSignals(True)
        self.init_combo.clear()
        bundled = bundled_weights(self.arch)
        if bundled is not None:
            self.init_combo.addItem("Bundled weights", str(bundled))
        self.init_combo.addItem("From scratch", "")
        try:
            entries = self.library.entries(self.arch)
        except MffError:
            entries = []
        for e in entries:
            self.init_combo.addItem(e.title, str(e.path))
        self.init_combo.addItem("Other checkpoint…", "other")
        self.init_combo.blockSignals(False)
        self.init_combo.setCurrentIndex(0)
        self._on_init_choice()

    def _on_init_choice(self, *_a: Any) -> None:
        other = self.init_combo.currentData() == "other"
        self.init_edit.setVisible(other)
        self.init_browse.setVisible(other)

    def _browse_init(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Start from checkpoint", "", "Checkpoints (*.pt *.pth *.pkl);;All files (*)"
        )
        if path:
            self.init_edit.setText(path)

    def _browse_val(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Validation folder")
        if d:
            self.val_edit.setText(d)

    def init_path(self) -> str:
        """Checkpoint to start from ("" = from scratch)."""
        data = self.init_combo.currentData()
        if data == "other":
            return self.init_edit.text().strip()
        return data or ""

    def set_busy(self, busy: bool) -> None:
        """Lock what a running trainer cannot change (network, data, steps, batch, patch)."""
        for w in (
            self.network,
            self.init_combo,
            self.sharp_list,
            self.stacks_list,
            self.steps,
            self.batch,
            self.patch,
        ):
            w.setEnabled(not busy)

    # ------------------------------------------------------------------ settings
    def values(self) -> RunSettings:
        """The form's settings."""
        return RunSettings(
            arch=self.arch,
            sharp=self.sharp_list.paths(),
            stacks=self.stacks_list.paths(),
            val=self.val_edit.text().strip(),
            epochs=self.epochs.value(),
            steps_per_epoch=self.steps.value(),
            batch_size=self.batch.value(),
            patch_size=self.patch.value(),
            init=self.init_path(),
            device=self.device.currentData(),
            minutes=self.minutes.value(),
            threads=self.threads.value(),
            log_every=self.log_every.value(),
            options=self.extra_edit.text(),
            name=self.name_edit.text().strip(),
            notes=self.notes_edit.text().strip(),
            keep_best=self.keep_best.isChecked(),
        )

    def apply_settings(self, arch: str, settings: dict[str, Any]) -> None:
        """Show the settings of a run (``RunSettings.side_file()`` of the run)."""
        idx = self.network.findData(arch)
        if idx >= 0:
            self.network.setCurrentIndex(idx)
        for lst, key in ((self.sharp_list, "sharp"), (self.stacks_list, "stacks")):
            paths = settings.get(key)
            if isinstance(paths, list):
                lst.clear()
                for f in paths:
                    lst.add_path(str(f))
        self.auto_folders = []
        for edit, key in (
            (self.val_edit, "val"),
            (self.name_edit, "name"),
            (self.notes_edit, "notes"),
            (self.extra_edit, "options"),
        ):
            if isinstance(settings.get(key), str):
                edit.setText(settings[key])
        if isinstance(settings.get("keep_best"), bool):
            self.keep_best.setChecked(settings["keep_best"])
        didx = self.device.findData(settings.get("device"))
        if didx >= 0:
            self.device.setCurrentIndex(didx)
        for spin, key in (
            (self.minutes, "minutes"),
            (self.threads, "threads"),
            (self.log_every, "log_every"),
        ):
            value = settings.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                spin.setValue(type(spin.value())(value))
