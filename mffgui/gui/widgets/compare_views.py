"""Image views of the compare window: region drawing, swipe (split) view, linked fitting.

:class:`RegionImageView` is the app's :class:`~mffgui.gui.widgets.image_view.ImageView` plus a
rectangle tool; :class:`SwipeView` shows two images split by a draggable divider;
:class:`FitAwareLink` links the zoom of views of different sizes. The difference view's
pictures are made by :func:`mffgui.compare_state.difference_image` and
:func:`~mffgui.compare_state.disagreement_image` (re-exported here).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsView, QWidget

from mffgui.compare_state import difference_image, disagreement_image
from mffgui.gui.convert import to_qimage
from mffgui.gui.widgets.image_view import ImageView, ViewLink

REGION_COLOR = QColor(255, 200, 0)
GRAB_PX = 6
"""How close (screen pixels) the mouse must be to the divider to grab it."""


class RegionImageView(ImageView):
    """An :class:`ImageView` on which a rectangle can be drawn (region tool on, or Shift+drag).

    Signals
    -------
    regionSelected(int, int, int, int)
        ``(x, y, w, h)`` of the drawn rectangle in image pixels, clipped to the image.
    """

    regionSelected = Signal(int, int, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.region_tool = False
        self._drag_from: QPointF | None = None
        self._rect_item = QGraphicsRectItem()
        pen = QPen(REGION_COLOR, 2)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._rect_item.setPen(pen)
        self._rect_item.setZValue(100)
        self._rect_item.hide()
        self.scene().addItem(self._rect_item)

    def set_region_tool(self, on: bool) -> None:
        """Left-drag draws a rectangle (on) or pans (off)."""
        self.region_tool = on
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.OpenHandCursor)

    def set_region(self, rect: tuple[int, int, int, int] | None) -> None:
        """Outline ``(x, y, w, h)`` (image pixels); ``None`` hides the outline."""
        if rect is None:
            self._rect_item.hide()
            return
        self._rect_item.setRect(QRectF(*rect))
        self._rect_item.show()

    @property
    def region(self) -> tuple[int, int, int, int] | None:
        """The outlined rectangle, if shown."""
        if not self._rect_item.isVisible():
            return None
        r = self._rect_item.rect()
        return int(r.x()), int(r.y()), int(r.width()), int(r.height())

    def _scene_clamped(self, viewport_pos: QPointF) -> QPointF:
        p = self.mapToScene(viewport_pos.toPoint())
        w, h = self.image_size
        return QPointF(min(max(p.x(), 0.0), w), min(max(p.y(), 0.0), h))

    def _starts_region(self, event: QMouseEvent) -> bool:
        return (
            event.button() == Qt.MouseButton.LeftButton
            and self.has_image()
            and (self.region_tool or bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Start a rectangle (region tool or Shift) or pan."""
        if self._starts_region(event):
            self._drag_from = self._scene_clamped(event.position())
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self._rect_item.setRect(QRectF(self._drag_from, self._drag_from))
            self._rect_item.show()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Grow the rectangle while drawing."""
        if self._drag_from is not None:
            p = self._scene_clamped(event.position())
            self._rect_item.setRect(QRectF(self._drag_from, p).normalized())
            self.hovered.emit(*self.image_pos(event.position()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Finish the rectangle and announce it in image pixels."""
        if self._drag_from is not None and event.button() == Qt.MouseButton.LeftButton:
            p = self._scene_clamped(event.position())
            r = QRectF(self._drag_from, p).normalized()
            self._drag_from = None
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            x0, y0 = int(np.floor(r.left())), int(np.floor(r.top()))
            x1, y1 = int(np.ceil(r.right())), int(np.ceil(r.bottom()))
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                self.set_region((x0, y0, x1 - x0, y1 - y0))
                self.regionSelected.emit(x0, y0, x1 - x0, y1 - y0)
            else:
                self._rect_item.hide()
            event.accept()
            return
        super().mouseReleaseEvent(event)


class SwipeView(RegionImageView):
    """Two images split by a vertical divider: A left of it, B right of it.

    The divider sits at a fraction of the view's width (it stays put while zooming or panning)
    and is dragged with the mouse; zoom, pan and the region tool work as in any image view.

    Signals
    -------
    splitChanged(float)
        New divider position, fraction of the viewport width.
    """

    splitChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._b: QPixmap | None = None
        self._split = 0.5
        self._dragging = False
        self.labels = ("", "")
        # Scrolling must repaint everything: the divider does not move with the image.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)

    def set_pair(
        self,
        a: np.ndarray | QImage | None,
        b: np.ndarray | QImage | None,
        labels: tuple[str, str] = ("", ""),
    ) -> None:
        """Show ``a`` left and ``b`` right of the divider (same size expected)."""
        self.set_image(a)
        if b is None:
            self._b = None
        else:
            self._b = QPixmap.fromImage(b if isinstance(b, QImage) else to_qimage(b))
        self.labels = labels
        self.viewport().update()

    @property
    def split(self) -> float:
        """Divider position as a fraction of the viewport width."""
        return self._split

    def set_split(self, fraction: float) -> None:
        """Move the divider (clamped to 0..1)."""
        f = float(min(max(fraction, 0.0), 1.0))
        if f != self._split:
            self._split = f
            self.viewport().update()
            self.splitChanged.emit(f)

    def divider_x(self) -> int:
        """Divider position in viewport pixels."""
        return round(self._split * self.viewport().width())

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Draw B right of the divider (in scene coordinates), then the divider and labels."""
        super().drawForeground(painter, rect)
        dx = self.divider_x()
        if self._b is not None and not self._b.isNull():
            sx = self.mapToScene(dx, 0).x()
            painter.save()
            painter.setClipRect(QRectF(sx, rect.top(), max(rect.right() - sx, 0.0), rect.height()))
            painter.drawPixmap(QPointF(0.0, 0.0), self._b)
            painter.restore()
        painter.save()
        painter.resetTransform()  # viewport pixels from here on
        h = self.viewport().height()
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawLine(dx, 0, dx, h)
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.drawLine(dx, 0, dx, h)
        fm = painter.fontMetrics()
        for text, right in ((self.labels[0], False), (self.labels[1], True)):
            if not text:
                continue
            w = fm.horizontalAdvance(text) + 10
            x = dx + 6 if right else dx - 6 - w
            box = QRectF(x, 6, w, fm.height() + 4)
            painter.fillRect(box, QColor(0, 0, 0, 150))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _near_divider(self, event: QMouseEvent) -> bool:
        return abs(event.position().x() - self.divider_x()) <= GRAB_PX

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Grab the divider when pressed near it; otherwise pan or draw a region."""
        if (
            event.button() == Qt.MouseButton.LeftButton
            and self._near_divider(event)
            and not self._starts_region(event)
        ):
            self._dragging = True
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Drag the divider; show a split cursor over it."""
        if self._dragging:
            self.set_split(event.position().x() / max(self.viewport().width(), 1))
            event.accept()
            return
        if not self.region_tool:
            self.viewport().setCursor(
                Qt.CursorShape.SplitHCursor
                if self._near_divider(event)
                else Qt.CursorShape.OpenHandCursor
            )
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Drop the divider."""
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            event.accept()
            return
        super().mouseReleaseEvent(event)


class FitAwareLink(ViewLink):
    """A :class:`ViewLink` whose views each fit themselves while the source is in fit mode.

    Grid tiles, the swipe and the difference view differ in size: copying the zoom of a
    fitted view would crop or shrink the image in the others.
    """

    def sync_from(self, source: ImageView) -> None:
        """Fit the others when ``source`` is fitted, else mirror its zoom and centre."""
        if self._syncing or not source.has_image():
            return
        if not source.fit_mode:
            super().sync_from(source)
            return
        self._syncing = True
        try:
            for v in self.views:
                if v is not source and v.has_image() and v.image_size == source.image_size:
                    v.fit()
        finally:
            self._syncing = False


__all__ = [
    "FitAwareLink",
    "RegionImageView",
    "SwipeView",
    "difference_image",
    "disagreement_image",
]
