"""The Train dialog's live loss curve (a QPainter line plot)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

__all__ = ["LossCurve"]


class LossCurve(QWidget):
    """A live line plot of the training loss against the global step, drawn with QPainter.

    Attributes
    ----------
    points : list of (float, float)
        ``(global_step, loss)`` in arrival order.
    epochs : list of float
        Global steps at which epochs ended (drawn as vertical ticks).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[float, float]] = []
        self.epochs: list[float] = []
        self.setMinimumSize(320, 160)
        self.setToolTip("Training loss per logged step; ticks mark epoch ends")

    def add(self, x: float, y: float) -> None:
        """Append a point and repaint."""
        self.points.append((float(x), float(y)))
        self.update()

    def mark_epoch(self, x: float) -> None:
        """Mark the end of an epoch at global step ``x``."""
        self.epochs.append(float(x))
        self.update()

    def clear(self) -> None:
        """Forget all points."""
        self.points.clear()
        self.epochs.clear()
        self.update()

    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        fm = p.fontMetrics()
        ys_all = [q[1] for q in self.points] or [0.0]
        labels = (f"{max(ys_all):.4g}", f"{min(ys_all):.4g}")
        left = max(fm.horizontalAdvance(t) for t in (*labels, "0.0000")) + 8
        bottom, top, right = fm.height() + 6, 8, 10
        plot = QRectF(
            left, top, max(1, self.width() - left - right), max(1, self.height() - top - bottom)
        )
        fg = pal.text().color()
        grid = QColor(fg)
        grid.setAlpha(50)
        p.setPen(QPen(grid, 1))
        p.drawRect(plot)
        if not self.points:
            p.setPen(fg)
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "The loss curve appears here")
            p.end()
            return
        xs = np.array([q[0] for q in self.points])
        ys = np.array([q[1] for q in self.points])
        x0, x1 = float(xs.min()), float(xs.max())
        y0, y1 = float(ys.min()), float(ys.max())
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y0, y1 = y0 - 0.5 * abs(y0 or 1), y1 + 0.5 * abs(y1 or 1)

        def at(x: float, y: float) -> QPointF:
            return QPointF(
                plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                plot.bottom() - (y - y0) / (y1 - y0) * plot.height(),
            )

        for e in self.epochs:
            if x0 <= e <= x1:
                pt = at(e, y0)
                p.drawLine(QPointF(pt.x(), plot.top()), QPointF(pt.x(), plot.bottom()))
        path = QPainterPath(at(xs[0], ys[0]))
        for x, y in zip(xs[1:], ys[1:], strict=True):
            path.lineTo(at(x, y))
        p.setPen(QPen(pal.highlight().color(), 2))
        p.drawPath(path)
        if len(xs) == 1:
            p.drawEllipse(at(xs[0], ys[0]), 3, 3)
        p.setPen(fg)
        p.drawText(
            QRectF(0, plot.top() - 4, left - 4, fm.height()),
            Qt.AlignmentFlag.AlignRight,
            f"{y1:.4g}",
        )
        p.drawText(
            QRectF(0, plot.bottom() - fm.height() + 4, left - 4, fm.height()),
            Qt.AlignmentFlag.AlignRight,
            f"{y0:.4g}",
        )
        p.drawText(
            QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
            Qt.AlignmentFlag.AlignLeft,
            f"step {int(x0)}",
        )
        p.drawText(
            QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
            Qt.AlignmentFlag.AlignRight,
            f"step {int(x1)}",
        )
        p.end()
