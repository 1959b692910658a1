"""The retouching brush on an :class:`~mffgui.gui.widgets.image_view.ImageView`: mouse strokes
in image coordinates and a cursor circle showing the brush size."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsView

from mffgui.gui.widgets.image_view import ImageView


class BrushTool(QObject):
    """Turns left-button drags on ``view`` into strokes while enabled.

    While enabled the left button paints instead of panning; the middle or right button pans
    and the wheel zooms. Hovering shows a circle of the brush's radius.

    Signals
    -------
    strokeBegan(float, float)
        Image point ``(x, y)`` where the left button went down.
    strokeMoved(float, float)
        Image point the stroke was dragged to.
    strokeEnded()
        The button was released.
    """

    strokeBegan = Signal(float, float)
    strokeMoved = Signal(float, float)
    strokeEnded = Signal()

    def __init__(self, view: ImageView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.enabled = False
        self.radius = 10.0
        self._down = False
        self._pan_from: QPointF | None = None
        self.cursor = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255, 220), 1.5)
        pen.setCosmetic(True)
        self.cursor.setPen(pen)
        self.cursor.setZValue(1000)
        self.cursor.setVisible(False)
        view.scene().addItem(self.cursor)
        view.viewport().installEventFilter(self)

    def set_enabled(self, on: bool) -> None:
        """Paint with the left button (``True``) or pan as usual."""
        self.enabled = bool(on)
        self.view.setDragMode(
            QGraphicsView.DragMode.NoDrag if on else QGraphicsView.DragMode.ScrollHandDrag
        )
        self.view.viewport().setCursor(
            Qt.CursorShape.CrossCursor if on else Qt.CursorShape.OpenHandCursor
        )
        if not on:
            self.cursor.setVisible(False)
            self._end()

    def set_radius(self, radius: float) -> None:
        """Brush radius in image pixels (resizes the cursor circle)."""
        self.radius = max(0.5, float(radius))
        c = self.cursor.rect().center()
        self._place(c)

    def _place(self, center: QPointF) -> None:
        r = self.radius
        self.cursor.setRect(QRectF(center.x() - r, center.y() - r, 2 * r, 2 * r))

    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.view.mapToScene(event.position().toPoint())

    def _end(self) -> None:
        if self._down:
            self._down = False
            self.strokeEnded.emit()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Paint on left-button drags; let everything else through."""
        if not self.enabled:
            return False
        t = event.type()
        if t == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            if event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
                self._pan_from = event.position()
                return True
            if event.button() == Qt.MouseButton.LeftButton and self.view.has_image():
                p = self._scene_pos(event)
                self._down = True
                self.strokeBegan.emit(p.x(), p.y())
                return True
        elif t == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            if self._pan_from is not None:
                d = event.position() - self._pan_from
                self._pan_from = event.position()
                h, v = self.view.horizontalScrollBar(), self.view.verticalScrollBar()
                h.setValue(h.value() - round(d.x()))
                v.setValue(v.value() - round(d.y()))
            p = self._scene_pos(event)
            self._place(p)
            self.cursor.setVisible(self.view.has_image())
            if self._down:
                self.strokeMoved.emit(p.x(), p.y())
        elif t == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            if self._pan_from is not None and event.button() != Qt.MouseButton.LeftButton:
                self._pan_from = None
                return True
            if event.button() == Qt.MouseButton.LeftButton and self._down:
                self._end()
                return True
        elif t == QEvent.Type.Leave:
            self.cursor.setVisible(False)
        return False
