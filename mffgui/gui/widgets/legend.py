"""The colour key under the decision/depth map: a gradient for pairs, frame swatches for
stacks, a colour bar with its end values for the height map."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QFontMetrics, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from mffgui.gui.convert import index_colors


class Legend(QWidget):
    """Colour key of the decision map: a gradient for pairs, frame swatches for stacks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._lut: np.ndarray | None = None
        self._ends: tuple[str, str] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_pair(self, names: list[str], lut: np.ndarray) -> None:
        """Gradient from the second frame (weight 0) to the first (weight 1)."""
        self._names, self._lut, self._ends = names[:2], lut, None
        self.updateGeometry()
        self.update()

    def set_scale(self, lut: np.ndarray, low: str, high: str) -> None:
        """A colour bar from ``low`` (left, the LUT's first colour) to ``high`` (right)."""
        self._names, self._lut = [high, low], lut
        self._ends = (low, high)
        self.updateGeometry()
        self.update()

    def set_stack(self, names: list[str]) -> None:
        """One swatch per frame number (gradient with ticks for long stacks)."""
        self._names, self._lut, self._ends = list(names), None, None
        self.updateGeometry()
        self.update()

    def clear(self) -> None:
        """Show nothing."""
        self._names, self._lut, self._ends = [], None, None
        self.update()

    def sizeHint(self) -> QSize:
        """Two text lines high."""
        fm = QFontMetrics(self.font())
        return QSize(200, 2 * fm.height() + 10)

    def paintEvent(self, _event: QPaintEvent) -> None:
        """Draw the key."""
        if not self._names:
            return
        p = QPainter(self)
        fm = QFontMetrics(self.font())
        w, h = self.width(), self.height()
        bar = QRectF(6, 4, w - 12, h - fm.height() - 8)
        text_y = int(bar.bottom()) + fm.ascent() + 2
        pen = self.palette().color(self.foregroundRole())
        n = len(self._names)
        if self._lut is not None:
            grad = QLinearGradient(bar.topLeft(), bar.topRight())
            for k in range(0, len(self._lut), 16):
                c = self._lut[k]
                grad.setColorAt(k / (len(self._lut) - 1), QColor(int(c[0]), int(c[1]), int(c[2])))
            c = self._lut[-1]
            grad.setColorAt(1.0, QColor(int(c[0]), int(c[1]), int(c[2])))
            p.fillRect(bar, grad)
            p.setPen(pen)
            if self._ends is not None:
                left, right = self._ends
            else:
                left = f"0 = {self._names[1]}" if n > 1 else "0"
                right = f"1 = {self._names[0]}"
            p.drawText(int(bar.left()), text_y, left)
            p.drawText(int(bar.right()) - fm.horizontalAdvance(right), text_y, right)
            p.end()
            return
        colors = index_colors(n)
        cell = bar.width() / n
        for i, c in enumerate(colors):
            p.fillRect(
                QRectF(bar.left() + i * cell, bar.top(), cell + 0.5, bar.height()),
                QColor(int(c[0]), int(c[1]), int(c[2])),
            )
        p.setPen(pen)
        # Label as many frame numbers (1-based) as fit without overlapping.
        label_w = fm.horizontalAdvance(str(n)) + 6
        step = max(1, int(np.ceil(label_w / max(cell, 1e-6))))
        ticks = list(range(0, n, step))
        if ticks[-1] != n - 1 and (n - 1 - ticks[-1]) * cell >= label_w:
            ticks.append(n - 1)
        for i in ticks:
            s = str(i + 1)
            x = bar.left() + (i + 0.5) * cell - fm.horizontalAdvance(s) / 2
            p.drawText(
                int(max(bar.left(), min(x, bar.right() - fm.horizontalAdvance(s)))), text_y, s
            )
        p.end()
