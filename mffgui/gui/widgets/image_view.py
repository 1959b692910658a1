"""A zoomable, pannable image view and the link that keeps several of them in step."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDropEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPixmap,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from mffgui.gui.convert import to_qimage
from mffgui.gui.widgets.url_drops import UrlDrags

MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
WHEEL_STEP = 1.25


class ImageView(UrlDrags, QGraphicsView):
    """Shows one image (plus optional overlay layers) with wheel zoom about the cursor and drag
    to pan. File drags are ignored (:class:`UrlDrags`): they reach the window, which opens them.

    Signals
    -------
    viewChanged()
        Zoom or scroll position changed (by the user or programmatically).
    hovered(int, int)
        Image pixel ``(x, y)`` under the cursor; ``(-1, -1)`` when outside the image.
    clicked(int, int)
        Image pixel clicked (without dragging).
    """

    accept_url_drags = False
    viewChanged = Signal()
    hovered = Signal(int, int)
    clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._base = QGraphicsPixmapItem()
        self._base.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._scene.addItem(self._base)
        self._layers: dict[str, QGraphicsPixmapItem] = {}
        self._fit_mode = True
        self._press_pos: QPointF | None = None
        self._image_size: tuple[int, int] = (0, 0)  # (w, h)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setMouseTracking(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setMinimumSize(120, 120)
        self.horizontalScrollBar().valueChanged.connect(self._emit_changed)
        self.verticalScrollBar().valueChanged.connect(self._emit_changed)

    # ------------------------------------------------------------------ content
    def set_image(self, img: np.ndarray | QImage | None) -> None:
        """Show ``img`` (an array for :func:`~mffgui.gui.convert.to_qimage`, or a QImage made
        off the GUI thread); ``None`` clears the view.

        A first image, or one of a new size, is fitted to the view; otherwise zoom and position
        are kept so switching between results of the same stack does not jump.
        """
        if img is None:
            self._base.setPixmap(QPixmap())
            for item in self._layers.values():
                item.setPixmap(QPixmap())
            self._image_size = (0, 0)
            return
        qimg = img if isinstance(img, QImage) else to_qimage(img)
        size = (qimg.width(), qimg.height())
        self._base.setPixmap(QPixmap.fromImage(qimg))
        if size != self._image_size:
            self._image_size = size
            self._scene.setSceneRect(QRectF(0, 0, size[0], size[1]))
            for item in self._layers.values():
                item.setPixmap(QPixmap())
            self.fit()

    def patch_image(self, x: int, y: int, img: QImage) -> None:
        """Replace the pixels of the shown image from ``(x, y)`` with ``img`` (a live edit,
        e.g. a brush stroke being painted), keeping zoom and position."""
        pm = self._base.pixmap()
        if pm.isNull():
            return
        painter = QPainter(pm)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(int(x), int(y), img)
        painter.end()
        self._base.setPixmap(pm)

    def base_image(self) -> QImage:
        """The shown image (empty when none)."""
        return self._base.pixmap().toImage()

    def set_layer(self, name: str, rgba: np.ndarray | QImage | None, opacity: float = 1.0) -> None:
        """Lay an RGBA ``(H, W, 4)`` uint8 image (or ARGB32 QImage) over the base image."""
        item = self._layers.get(name)
        if item is None:
            item = QGraphicsPixmapItem()
            item.setZValue(1 + len(self._layers))
            item.setTransformationMode(Qt.TransformationMode.FastTransformation)
            self._scene.addItem(item)
            self._layers[name] = item
        if rgba is None:
            item.setPixmap(QPixmap())
        else:
            item.setPixmap(QPixmap.fromImage(rgba if isinstance(rgba, QImage) else to_qimage(rgba)))
        item.setOpacity(opacity)

    def set_layer_opacity(self, name: str, opacity: float) -> None:
        """Change the opacity (0..1) of layer ``name``."""
        if name in self._layers:
            self._layers[name].setOpacity(opacity)

    def layer_opacity(self, name: str) -> float:
        """Opacity of layer ``name`` (0 when absent)."""
        item = self._layers.get(name)
        return float(item.opacity()) if item is not None else 0.0

    def has_image(self) -> bool:
        """Whether an image is shown."""
        return self._image_size != (0, 0)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the shown image."""
        return self._image_size

    # ------------------------------------------------------------------ zoom and pan
    @property
    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return float(self.transform().m11())

    @property
    def fit_mode(self) -> bool:
        """Whether the view keeps the whole image fitted while resizing."""
        return self._fit_mode

    def center(self) -> QPointF:
        """Scene (image) point at the centre of the viewport."""
        return self.mapToScene(self.viewport().rect().center())

    def set_view(self, zoom: float, center: QPointF, fit_mode: bool = False) -> None:
        """Set zoom and centre (used by :class:`ViewLink` to mirror another view)."""
        self._fit_mode = fit_mode
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(center)

    def fit(self) -> None:
        """Fit the whole image into the view (Ctrl+0)."""
        self._fit_mode = True
        if self.has_image():
            self.fitInView(self._scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._emit_changed()

    def actual_size(self) -> None:
        """One image pixel per screen pixel (Ctrl+1), keeping the centre."""
        self.zoom_to(1.0)

    def zoom_to(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Set the zoom, keeping the image point under viewport point ``anchor`` fixed.

        Parameters
        ----------
        zoom : float
            Screen pixels per image pixel (clamped to 1/64 .. 64).
        anchor : QPointF, optional
            Viewport coordinates; default the viewport centre.
        """
        zoom = float(np.clip(zoom, MIN_ZOOM, MAX_ZOOM))
        vp = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        scene_pt = self.mapToScene(vp.toPoint())
        self._fit_mode = False
        old = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        # Put scene_pt back under vp.
        delta = self.mapFromScene(scene_pt) - vp.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + delta.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + delta.y())
        self.setTransformationAnchor(old)
        self._emit_changed()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Multiply the zoom by ``factor`` about viewport point ``anchor``."""
        self.zoom_to(self.zoom * factor, anchor)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom about the cursor."""
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(WHEEL_STEP**steps, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:
        """Keep the image fitted while in fit mode."""
        super().resizeEvent(event)
        if self._fit_mode and self.has_image():
            self.fitInView(self._scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self._emit_changed()

    # ------------------------------------------------------------------ drops
    # Files dragged over a view are left to the window, which opens them: the scene would
    # accept the drag but refuse the drop.
    # (dragEnterEvent/dragMoveEvent: UrlDrags with accept_url_drags = False)
    def dropEvent(self, event: QDropEvent) -> None:
        """Ignore file drops (they reach the window)."""
        if event.mimeData().hasUrls():
            event.ignore()
        else:
            super().dropEvent(event)

    # ------------------------------------------------------------------ mouse
    def image_pos(self, viewport_pos: QPointF) -> tuple[int, int]:
        """Image pixel under a viewport position, or ``(-1, -1)`` outside the image."""
        p = self.mapToScene(viewport_pos.toPoint())
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        w, h = self._image_size
        if 0 <= x < w and 0 <= y < h:
            return x, y
        return -1, -1

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Report the hovered pixel; dragging pans (ScrollHandDrag)."""
        super().mouseMoveEvent(event)
        self.hovered.emit(*self.image_pos(event.position()))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Remember where a click started (to tell clicks from drags)."""
        self._press_pos = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Emit ``clicked`` when the mouse did not move between press and release."""
        super().mouseReleaseEvent(event)
        if (
            self._press_pos is not None
            and event.button() == Qt.MouseButton.LeftButton
            and (event.position() - self._press_pos).manhattanLength() < 4
        ):
            x, y = self.image_pos(event.position())
            if x >= 0:
                self.clicked.emit(x, y)
        self._press_pos = None

    def leaveEvent(self, event) -> None:
        """Clear the hover read-out."""
        super().leaveEvent(event)
        self.hovered.emit(-1, -1)

    def _emit_changed(self, *_args: object) -> None:
        self.viewChanged.emit()


class ViewLink:
    """Keeps zoom and pan of several :class:`ImageView` s identical.

    Any change in one view (wheel, drag, fit, scroll) is mirrored to the others, which show the
    same image point at their centre at the same zoom.
    """

    def __init__(self, views: list[ImageView]) -> None:
        self.views = list(views)
        self._syncing = False
        for v in self.views:
            v.viewChanged.connect(lambda v=v: self.sync_from(v))

    def sync_from(self, source: ImageView) -> None:
        """Mirror ``source``'s zoom and centre to the other views."""
        if self._syncing or not source.has_image():
            return
        self._syncing = True
        try:
            zoom, center, fit = source.zoom, source.center(), source.fit_mode
            for v in self.views:
                if v is not source and v.has_image() and v.image_size == source.image_size:
                    v.set_view(zoom, center, fit)
        finally:
            self._syncing = False
