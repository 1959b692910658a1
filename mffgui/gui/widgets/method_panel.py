"""Method choice, a parameter form generated from the method's Params, and the device selector."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.errors import MffError, ParamsError

if TYPE_CHECKING:
    from mffgui.methods.base import MethodInfo, Params

ALIGN_MODELS = (
    ("translation", "Shift"),
    ("similarity", "Shift, rotation, scale"),
    ("affine", "Affine"),
    ("homography", "Perspective"),
)
"""Alignment motion models of :func:`mffgui.core.align.align_stack`, with labels."""
ALIGN_INTERPOLATIONS = (
    ("linear", "Linear"),
    ("cubic", "Cubic"),
    ("lanczos", "Lanczos"),
    ("nearest", "Nearest"),
)
"""Resampling kernels of :data:`mffgui.core.align.INTERPOLATIONS`, with labels."""
DEVICES = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA"), ("mps", "MPS"))
HIDDEN_FIELDS = {"device"}  # chosen by the device selector for every network method


def _base_type(typ: Any) -> Any:
    """``Optional[X]`` -> X; other types unchanged."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        return args[0] if len(args) == 1 else typ
    return typ


def _needs_scientific(desc: dict[str, Any]) -> bool:
    """Whether a float field has values too small for a 4-decimal spin box (e.g. 1e-6)."""
    values = [desc.get("min"), desc.get("max"), desc.get("default"), desc.get("step")]
    small = [abs(float(v)) for v in values if isinstance(v, int | float) and v]
    return any(v < 1e-3 for v in small)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


class _Field:
    """One generated editor and how to read/write its value."""

    def __init__(self, desc: dict[str, Any], parent: QWidget) -> None:
        self.name: str = desc["name"]
        self.desc = desc
        typ = _base_type(desc["type"])
        choices = desc.get("choices")
        if choices is None and typing.get_origin(typ) is Literal:
            choices = typing.get_args(typ)
        self.kind: str
        tip = desc.get("help") or ""
        lo, hi = desc.get("min"), desc.get("max")
        if lo is not None or hi is not None:
            tip += f" (range {lo if lo is not None else '−∞'} … {hi if hi is not None else '∞'})"
        if choices is not None:
            self.kind = "choice"
            w = QComboBox(parent)
            self.choices = tuple(choices)
            w.addItems([str(c) for c in self.choices])
        elif typ is bool:
            self.kind = "bool"
            w = QCheckBox(parent)
        elif typ is int:
            self.kind = "int"
            w = QSpinBox(parent)
            w.setRange(
                int(lo) if lo is not None else -1_000_000, int(hi) if hi is not None else 1_000_000
            )
            if desc.get("step"):
                w.setSingleStep(int(desc["step"]))
            if lo == 0 and "0 =" in tip:  # e.g. tile size, memory, threads: 0 = automatic
                w.setSpecialValueText("0 (automatic)")
                tip += "; 0 means automatic"

        elif typ is float and _needs_scientific(desc):
            self.kind = "sci"
            w = QLineEdit(parent)
            val = QDoubleValidator(w)
            val.setNotation(QDoubleValidator.Notation.ScientificNotation)
            if lo is not None:
                val.setBottom(float(lo))
            if hi is not None:
                val.setTop(float(hi))
            w.setValidator(val)
        elif typ is float:
            self.kind = "float"
            w = QDoubleSpinBox(parent)
            w.setDecimals(4)
            w.setRange(float(lo) if lo is not None else -1e9, float(hi) if hi is not None else 1e9)
            step = desc.get("step")
            if step is None and lo is not None and hi is not None:
                step = (float(hi) - float(lo)) / 100 or 0.01
            w.setSingleStep(float(step) if step else 0.01)
        elif self.name in ("weights", "checkpoint") or typ is Path:
            self.kind = "file"
            w = QWidget(parent)
            row = QHBoxLayout(w)
            row.setContentsMargins(0, 0, 0, 0)
            self.edit = QLineEdit()
            self.edit.setPlaceholderText("bundled weights")
            browse = QToolButton()
            browse.setText("…")
            browse.setToolTip("Choose a weights file (.pt / .pth)")
            browse.clicked.connect(self._browse)
            row.addWidget(self.edit, 1)
            row.addWidget(browse)
        else:
            self.kind = "text"
            w = QLineEdit(parent)
        self.widget = w
        w.setToolTip(tip.strip())
        self.set(desc["default"])

    # --- user weights: trained weights offered as variants of a network method ---
    def add_variants(self, arch: str) -> None:
        """Offer the user's trained weights for ``arch`` in a combo before the file editor."""
        if self.kind != "file":
            return
        from mffgui.user_weights import WeightsLibrary

        if not hasattr(self, "variants"):
            self.variants = QComboBox()
            self.variants.setToolTip("Bundled weights, your trained weights, or a file")
            self.widget.layout().insertWidget(0, self.variants, 1)
            self.variants.currentIndexChanged.connect(self._on_variant)
            self.edit.textChanged.connect(self._sync_variant)
        self._arch = arch
        current = self.edit.text().strip()
        self.variants.blockSignals(True)
        self.variants.clear()
        self.variants.addItem("Bundled", "")
        try:
            entries = WeightsLibrary().entries(arch)
        except MffError:
            entries = []
        for e in entries:
            self.variants.addItem(e.title, str(e.path))
            self.variants.setItemData(
                self.variants.count() - 1, e.notes or e.title, Qt.ItemDataRole.ToolTipRole
            )
        self.variants.addItem("Other file…", None)
        idx = self.variants.findData(current) if current else 0
        self.variants.setCurrentIndex(idx if idx >= 0 else self.variants.count() - 1)
        self.variants.blockSignals(False)

    def _sync_variant(self, text: str) -> None:
        idx = self.variants.findData(text.strip()) if text.strip() else 0
        self.variants.blockSignals(True)
        self.variants.setCurrentIndex(idx if idx >= 0 else self.variants.count() - 1)
        self.variants.blockSignals(False)

    def _on_variant(self, _index: int) -> None:
        data = self.variants.currentData()
        if data is not None:
            self.edit.setText(data)

    # --- end user weights ---

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.widget,
            "Choose weights",
            self.edit.text(),
            "Checkpoints (*.pt *.pth *.ckpt);;All files (*)",
        )
        if path:
            self.edit.setText(path)

    def set(self, value: Any) -> None:
        """Show ``value`` in the editor."""
        w = self.widget
        if self.kind == "choice":
            idx = next(
                (i for i, c in enumerate(self.choices) if c == value or str(c) == str(value)), 0
            )
            w.setCurrentIndex(idx)
        elif self.kind == "bool":
            w.setChecked(bool(value))
        elif self.kind == "int":
            w.setValue(int(value) if value is not None else 0)
        elif self.kind == "float":
            w.setValue(float(value) if value is not None else 0.0)
        elif self.kind == "sci":
            w.setText("" if value is None else repr(float(value)))
        elif self.kind == "file":
            self.edit.setText("" if value in (None, "") else str(value))
        else:
            w.setText("" if value is None else str(value))

    def get(self) -> Any:
        """The editor's value, typed for the Params field."""
        w = self.widget
        if self.kind == "choice":
            return self.choices[w.currentIndex()]
        if self.kind == "bool":
            return w.isChecked()
        if self.kind == "int":
            return int(w.value())
        if self.kind == "float":
            return float(w.value())
        if self.kind == "sci":
            text = w.text().strip()
            try:
                return float(text)
            except ValueError:
                raise ParamsError(f"parameter {self.name}={text!r} is not a number") from None
        if self.kind == "file":
            text = self.edit.text().strip()
            return text or self.desc["default"]
        return w.text()

    def changed_signal(self) -> Any:
        """Qt signal emitted when the user edits the value."""
        w = self.widget
        return {
            "choice": getattr(w, "currentIndexChanged", None),
            "bool": getattr(w, "toggled", None),
            "int": getattr(w, "valueChanged", None),
            "float": getattr(w, "valueChanged", None),
            "sci": getattr(w, "textChanged", None),
            "file": getattr(self, "edit", w).textChanged if self.kind == "file" else None,
            "text": getattr(w, "textChanged", None),
        }[self.kind]


class MethodPanel(QWidget):
    """Method combo box, its description, generated parameter form and device selector.

    Signals
    -------
    methodChanged(str)
        Registry name of the newly chosen method.
    paramsEdited()
        The user changed a parameter.
    deviceChanged(str)
        ``auto``/``cpu``/``cuda``/``mps``.
    alignChanged(str)
        ``"off"``, ``"auto"`` or an alignment motion model.
    alignOptionsChanged(str, bool)
        Alignment resampling kernel and whether to crop to the common area (``False``: keep the
        full size; fusion ignores each frame's invalid border).
    """

    methodChanged = Signal(str)
    paramsEdited = Signal()
    deviceChanged = Signal(str)
    alignChanged = Signal(str)
    alignOptionsChanged = Signal(str, bool)

    def __init__(self, methods: list[MethodInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.methods: dict[str, MethodInfo] = {}
        self._fields: list[_Field] = []
        self.combo = QComboBox()
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setObjectName("methodDescription")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.reset_button = QPushButton("Defaults")
        self.reset_button.setToolTip("Reset the parameters of this method to their defaults")
        self.reset_button.clicked.connect(self.reset)
        self.device = QComboBox()
        for key, text in DEVICES:
            self.device.addItem(text, key)
        self.device.setToolTip("Where network methods run; Auto picks CUDA, then MPS, then CPU")
        self.device.currentIndexChanged.connect(
            lambda _i: self.deviceChanged.emit(self.device.currentData())
        )
        self.device_label = QLabel("Device")
        self.align = QComboBox()
        self.align.addItem("Off", "off")
        self.align.addItem("Auto", "auto")
        for key, text in ALIGN_MODELS:
            self.align.addItem(text, key)
        self.align.setCurrentIndex(1)
        self.align.setToolTip(
            "Register the frames to the middle one before fusing (hand-held "
            "shots, focus breathing); the result is cropped to the common "
            "area. Auto checks a few frames for motion first and aligns "
            "(shift, rotation, scale) only when they moved or differ in "
            "size"
        )
        self.align.currentIndexChanged.connect(
            lambda _i: self.alignChanged.emit(self.align.currentData())
        )
        self.align_interp = QComboBox()
        for key, text in ALIGN_INTERPOLATIONS:
            self.align_interp.addItem(text, key)
        self.align_interp.setToolTip("How the aligned frames are resampled")
        self.align_full = QCheckBox("Keep full size")
        self.align_full.setToolTip(
            "Keep the whole reference frame instead of cropping to the "
            "area every frame covers; where a frame has no data, fusion "
            "uses only the frames that do"
        )
        self.align_options = QWidget()
        opts = QHBoxLayout(self.align_options)
        opts.setContentsMargins(0, 0, 0, 0)
        opts.addWidget(self.align_interp)
        opts.addWidget(self.align_full)
        self.align_interp.currentIndexChanged.connect(lambda _i: self._emit_align_options())
        self.align_full.toggled.connect(lambda _b: self._emit_align_options())
        self.align.currentIndexChanged.connect(lambda _i: self._show_align_options())
        self.fuse_button = QPushButton("Fuse")
        self.fuse_button.setObjectName("fuseButton")
        self.fuse_button.setToolTip("Fuse the included images (Ctrl+Enter)")

        lay = QVBoxLayout(self)
        top = QFormLayout()
        top.addRow("Method", self.combo)
        top.addRow(self.device_label, self.device)
        top.addRow("Align", self.align)
        top.addRow(self.align_options)
        self.top_form = top
        """Method, device and alignment rows (the window adds the channel selector here)."""
        lay.addLayout(top)
        # Only once the options have a parent: shown earlier they would open as a window.
        self._show_align_options()
        lay.addWidget(self.description)
        lay.addWidget(self.form_host)
        row = QHBoxLayout()
        row.addWidget(self.reset_button)
        row.addStretch(1)
        row.addWidget(self.fuse_button)
        lay.addLayout(row)
        self.fuse_note = QLabel()
        self.fuse_note.setObjectName("fuseNote")
        self.fuse_note.setWordWrap(True)
        self.fuse_note.hide()
        lay.addWidget(self.fuse_note)
        lay.addStretch(1)
        self.combo.currentIndexChanged.connect(self._on_method)
        self.set_methods(methods)

    def show_fuse_hint(self, hint: str) -> None:
        """Say under Fuse why it is disabled (``""`` hides the note)."""
        self.fuse_button.setToolTip(hint or "Fuse the included images (Ctrl+Enter)")
        self.fuse_note.setText(hint)
        self.fuse_note.setVisible(bool(hint))

    def set_methods(self, methods: list[MethodInfo]) -> None:
        """List ``methods`` in the combo box (the first one is chosen)."""
        self.methods = {m.name: m for m in methods}
        self.combo.blockSignals(True)
        self.combo.clear()
        for m in methods:
            kind = "" if m.kind == "classical" or "(network)" in m.title else "  (network)"
            self.combo.addItem(m.title + kind, m.name)
            self.combo.setItemData(
                self.combo.count() - 1, m.description, Qt.ItemDataRole.ToolTipRole
            )
        self.combo.blockSignals(False)
        self._on_method(0)

    # ------------------------------------------------------------------ method
    @property
    def method(self) -> str:
        """Registry name of the chosen method ("" when none is registered)."""
        return self.combo.currentData() or ""

    def set_method(self, name: str) -> None:
        """Choose method ``name`` if it is registered."""
        idx = self.combo.findData(name)
        if idx >= 0:
            self.combo.setCurrentIndex(idx)

    def _on_method(self, _index: int) -> None:
        info = self.methods.get(self.method)
        while self.form.rowCount():
            self.form.removeRow(0)
        self._fields = []
        if info is None:
            self.description.setText("No fusion methods are installed.")
            return
        cite = f"<br><i>{info.citation}</i>" if info.citation else ""
        self.description.setText(f"{info.description}{cite}")
        for desc in info.params.describe():
            if desc["name"] in HIDDEN_FIELDS:
                continue
            f = _Field(desc, self.form_host)
            if info.kind == "network":
                f.add_variants(info.name)  # the user's trained weights for this network
            label = QLabel(_label(desc["name"]))
            label.setToolTip(f.widget.toolTip())
            self.form.addRow(label, f.widget)
            sig = f.changed_signal()
            if sig is not None:
                sig.connect(lambda *_a: self.paramsEdited.emit())
            self._fields.append(f)
        network = info.kind == "network"
        self.device.setEnabled(network)
        self.device_label.setEnabled(network)
        self.methodChanged.emit(info.name)

    # ------------------------------------------------------------------ params
    def values(self) -> dict[str, Any]:
        """Current form values by field name (hidden fields excluded)."""
        return {f.name: f.get() for f in self._fields}

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the form; unknown names are ignored."""
        for f in self._fields:
            if f.name in values:
                try:
                    f.set(values[f.name])
                except (TypeError, ValueError):
                    pass

    def params(self) -> Params:
        """The chosen method's validated Params from the form.

        Raises
        ------
        ParamsError
            A value out of range or of the wrong type (message names the parameter).
        """
        info = self.methods[self.method]
        return info.params.from_mapping(self.values())

    def reset(self) -> None:
        """Put every parameter of the chosen method back to its default."""
        info = self.methods.get(self.method)
        if info is None:
            return
        defaults = {f.name: f.default for f in dataclasses.fields(info.params)}
        self.set_values(defaults)
        self.paramsEdited.emit()

    def refresh_weights(self) -> None:
        """Re-list the user's trained weights in the weights combo (after training or import)."""
        info = self.methods.get(self.method)
        for f in self._fields:
            if info is not None and hasattr(f, "variants"):
                f.add_variants(info.name)

    # ------------------------------------------------------------------ alignment
    @property
    def align_choice(self) -> str:
        """``"off"``, ``"auto"`` or the alignment motion model."""
        return self.align.currentData() or "off"

    def set_align(self, key: str) -> None:
        """Choose ``key``: ``"off"`` (also ``""``/``"none"``), ``"auto"`` or a motion model;
        anything unknown chooses Auto."""
        key = "off" if key in ("", "none") else key
        idx = self.align.findData(key)
        self.align.setCurrentIndex(idx if idx >= 0 else self.align.findData("auto"))

    @property
    def align_interpolation(self) -> str:
        """Resampling kernel of the alignment (``linear``, ``cubic``, ``lanczos``, ``nearest``)."""
        return self.align_interp.currentData() or "linear"

    @property
    def align_crop(self) -> bool:
        """Crop to the common area (``False``: keep the full size)."""
        return not self.align_full.isChecked()

    def set_align_options(self, interpolation: str, crop: bool) -> None:
        """Choose the alignment resampling kernel and crop mode."""
        idx = self.align_interp.findData(interpolation)
        self.align_interp.setCurrentIndex(max(idx, 0))
        self.align_full.setChecked(not crop)

    def _emit_align_options(self) -> None:
        self.alignOptionsChanged.emit(self.align_interpolation, self.align_crop)

    def _show_align_options(self) -> None:
        self.align_options.setVisible(self.align_choice != "off" and not self.align.isHidden())

    # ------------------------------------------------------------------ device
    @property
    def device_choice(self) -> str:
        """``auto``/``cpu``/``cuda``/``mps``."""
        return self.device.currentData()

    def set_device(self, key: str) -> None:
        """Select device ``key`` if it is enabled."""
        idx = self.device.findData(key)
        item = self.device.model().item(idx) if idx >= 0 else None
        if item is not None and item.isEnabled():
            self.device.setCurrentIndex(idx)

    def set_available_devices(self, available: list[str]) -> None:
        """Enable only Auto and the devices in ``available``; fall back to Auto otherwise."""
        model = self.device.model()
        for i in range(self.device.count()):
            key = self.device.itemData(i)
            model.item(i).setEnabled(key == "auto" or key in available)
        current = self.device_choice
        if current != "auto" and current not in available:
            self.device.setCurrentIndex(0)


def fuse_hint(n_included: int) -> str:
    """Why Fuse is disabled for ``n_included`` included images ("" when it is not)."""
    if n_included >= 2:
        return ""
    if n_included == 1:
        return (
            "A focus stack needs at least two images: add another image (File ▸ Add "
            "images…) or include one more frame."
        )
    return "A focus stack needs at least two images: open or include at least two."


def scrollable(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless, vertically scrolling area (a dock on a small screen)."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def params_error(panel: MethodPanel) -> str:
    """The validation message of the current form, or "" when it is valid."""
    try:
        panel.params()
    except MffError as err:
        return str(err)
    return ""
