"""The Retouch panel: brush on/off, the source frame to paint from, size, hardness, opacity,
eraser, undo/redo and clear."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


def _slider(lo: int, hi: int, value: int, tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class RetouchPanel(QWidget):
    """Brush settings (no logic: :mod:`mffgui.gui.retouch` reads and wires them).

    Signals
    -------
    radiusChanged(float)
        Brush radius in image pixels.
    """

    radiusChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.brush = QPushButton("Brush")
        self.brush.setCheckable(True)
        self.brush.setToolTip("Paint on the fused image with pixels of the chosen source (B)")
        self.eraser = QCheckBox("Eraser")
        self.eraser.setToolTip("Paint the automatic result back (E)")
        self.source = QComboBox()
        self.source.setToolTip(
            "Frame to paint from: pick it here, in the source list, or "
            "by clicking the decision/depth map"
        )
        self.source.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source.setMinimumContentsLength(10)
        self.size = QSpinBox()
        self.size.setRange(1, 2000)
        self.size.setValue(20)
        self.size.setSuffix(" px")
        self.size.setToolTip("Brush radius in image pixels ([ and ] change it)")
        self.size.valueChanged.connect(lambda v: self.radiusChanged.emit(float(v)))
        self.hardness = _slider(
            0, 100, 100, "Hardness: 100 % is a hard edge, lower values fade the edge softly"
        )
        self.opacity = _slider(1, 100, 100, "Opacity: 100 % copies the source exactly")
        self.undo = QToolButton()
        self.redo = QToolButton()
        self.clear = QToolButton()
        self.clear.setText("Clear")
        self.clear.setToolTip("Remove every stroke (back to the automatic result)")
        self.count = QLabel("No strokes")

        row = QHBoxLayout()
        row.addWidget(self.brush)
        row.addWidget(self.eraser)
        row.addStretch(1)
        form = QFormLayout()
        form.addRow("Paint from", self.source)
        form.addRow("Size", self.size)
        form.addRow("Hardness", self.hardness)
        form.addRow("Opacity", self.opacity)
        hist = QHBoxLayout()
        for w in (self.undo, self.redo, self.clear):
            hist.addWidget(w)
        hist.addWidget(self.count, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addLayout(form)
        lay.addLayout(hist)
        lay.addStretch(1)

    def set_sources(self, names: list[str]) -> None:
        """List the stack's frames (keeps the chosen index when it still exists)."""
        keep = self.source.currentIndex()
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItems([f"{i + 1}: {n}" for i, n in enumerate(names)])
        self.source.setCurrentIndex(min(max(keep, 0), len(names) - 1) if names else -1)
        self.source.blockSignals(False)

    @property
    def source_index(self) -> int:
        """0-based frame to paint from (``-1`` when none)."""
        return self.source.currentIndex()

    def set_source_index(self, index: int) -> None:
        """Choose the frame to paint from."""
        if 0 <= index < self.source.count():
            self.source.setCurrentIndex(index)

    @property
    def radius(self) -> float:
        """Brush radius in image pixels."""
        return float(self.size.value())

    @property
    def hardness_value(self) -> float:
        """``0..1``."""
        return self.hardness.value() / 100.0

    @property
    def opacity_value(self) -> float:
        """``0..1``."""
        return self.opacity.value() / 100.0

    def set_count(self, n: int, redo: int) -> None:
        """Show how many strokes are applied (and undone)."""
        text = "No strokes" if n == 0 else f"{n} stroke{'s' if n != 1 else ''}"
        if redo:
            text += f" ({redo} undone)"
        self.count.setText(text)
