"""Export dialog: output file, format, bit depth (default: the input's), quality, maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.gui.worker import ExportRequest

FORMATS = {"TIFF": ".tif", "OME-TIFF": ".ome.tif", "PNG": ".png", "JPEG": ".jpg"}
SUFFIX_FORMAT = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def format_of(path: Path) -> str | None:
    """The export format a file name asks for (``.ome.tif`` is OME-TIFF), else ``None``."""
    name = path.name.lower()
    if name.endswith((".ome.tif", ".ome.tiff")):
        return "OME-TIFF"
    return SUFFIX_FORMAT.get(path.suffix.lower())


def with_format_suffix(path: Path, fmt: str) -> Path:
    """``path`` renamed to end in ``fmt``'s suffix (an ``.ome.tif`` ending counts as one)."""
    name = path.name
    low = name.lower()
    for ending in (".ome.tiff", ".ome.tif"):
        if low.endswith(ending):
            return path.with_name(name[: -len(ending)] + FORMATS[fmt])
    return path.with_suffix(FORMATS[fmt])


MAP_CHOICES = (
    ("index", "Index / depth map (16-bit PNG)"),
    ("decision", "Decision map"),
    ("focus", "Focus maps (one per source)"),
)


class ExportDialog(QDialog):
    """Asks where and how to export the fused image; :meth:`request` gives the answer.

    Parameters
    ----------
    default_path : Path
        Suggested output file.
    input_bit_depth : int
        Bit depth of the sources (8 or 16), the default for PNG/TIFF.
    sources : sequence of Path
        Source files, which the export must never overwrite.
    formats : sequence of str, optional
        The formats offered (default all of :data:`FORMATS`; a multi-channel microscopy
        result offers only OME-TIFF).
    """

    def __init__(
        self,
        default_path: Path,
        input_bit_depth: int,
        sources: Sequence[Path],
        parent: QWidget | None = None,
        formats: Sequence[str] = tuple(FORMATS),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export fused image")
        self._sources = {Path(p).resolve() for p in sources}
        self._input_depth = 16 if input_bit_depth > 8 else 8
        self.path_edit = QLineEdit(str(default_path))
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the output file")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.format = QComboBox()
        self.format.addItems([f for f in FORMATS if f in formats])
        self.depth = QComboBox()
        self.depth.addItem("8 bits per channel", 8)
        self.depth.addItem("16 bits per channel", 16)
        self.depth.setToolTip(f"The input is {self._input_depth}-bit")
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(95)
        self.keep_meta = QCheckBox("Keep ICC profile and EXIF of the first source")
        self.keep_meta.setChecked(True)
        form = QFormLayout()
        form.addRow("File", path_row)
        form.addRow("Format", self.format)
        form.addRow("Bit depth", self.depth)
        form.addRow("JPEG quality", self.quality)
        form.addRow("", self.keep_meta)
        maps_box = QGroupBox("Also export, beside the image")
        maps_lay = QVBoxLayout(maps_box)
        self.map_checks: dict[str, QCheckBox] = {}
        for key, text in MAP_CHOICES:
            cb = QCheckBox(text)
            maps_lay.addWidget(cb)
            self.map_checks[key] = cb
        self.error = QLabel()
        self.error.setObjectName("errorLabel")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(maps_box)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

        fmt = format_of(default_path) or "TIFF"
        if fmt not in formats:
            fmt = self.format.itemText(0)
        self.format.setCurrentText(fmt)
        self.format.currentTextChanged.connect(self._on_format)
        self.path_edit.textChanged.connect(self._on_path)
        self._on_format(fmt)
        self.depth.setCurrentIndex(self.depth.findData(self._input_depth))

    def _browse(self) -> None:
        filters = (
            "TIFF (*.tif *.tiff);;OME-TIFF with pixel sizes (*.ome.tif);;PNG (*.png);;"
            "JPEG (*.jpg *.jpeg)"
        )
        path, _ = QFileDialog.getSaveFileName(
            self, "Export fused image", self.path_edit.text(), filters
        )
        if path:
            self.path_edit.setText(path)

    def _on_path(self, text: str) -> None:
        fmt = format_of(Path(text))
        if fmt and fmt != self.format.currentText() and self.format.findText(fmt) >= 0:
            self.format.setCurrentText(fmt)

    def _on_format(self, fmt: str) -> None:
        jpeg = fmt == "JPEG"
        self.quality.setEnabled(jpeg)
        self.depth.model().item(1).setEnabled(not jpeg)
        if jpeg:
            self.depth.setCurrentIndex(0)
        else:
            self.depth.setCurrentIndex(self.depth.findData(self._input_depth))
        p = Path(self.path_edit.text())
        if format_of(p) != fmt and p.name:
            self.path_edit.blockSignals(True)
            self.path_edit.setText(str(with_format_suffix(p, fmt)))
            self.path_edit.blockSignals(False)

    def validate(self) -> str:
        """Why the current choice cannot be exported ("" when it can)."""
        text = self.path_edit.text().strip()
        if not text:
            return "Choose an output file."
        p = Path(text).expanduser()
        if p.resolve() in self._sources:
            return f"{p.name} is one of the source images; choose another name."
        if p.is_dir():
            return f"{p} is a folder; add a file name."
        if not p.parent.is_dir():
            return f"The folder {p.parent} does not exist."
        return ""

    def _accept(self) -> None:
        msg = self.validate()
        self.error.setText(msg)
        if not msg:
            self.accept()

    def request(self) -> ExportRequest:
        """The export the dialog describes."""
        return ExportRequest(
            path=Path(self.path_edit.text().strip()).expanduser(),
            fmt=self.format.currentText(),
            bit_depth=int(self.depth.currentData()),
            quality=int(self.quality.value()),
            maps=tuple(k for k, cb in self.map_checks.items() if cb.isChecked()),
            keep_metadata=self.keep_meta.isChecked(),
        )
