"""The source list: thumbnails, names, size/bit depth, include check boxes, reorder, remove."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QMenu, QWidget

from mffgui.gui.convert import to_qimage
from mffgui.gui.sources import Source

ID_ROLE = Qt.ItemDataRole.UserRole
THUMB = 64


NAME_CHARS = 40
"""Longer file names are shortened in the middle (the tooltip has the full path)."""


def elide_middle(text: str, limit: int = NAME_CHARS) -> str:
    """``text`` shortened to ``limit`` characters with "…" in the middle (ends kept: the
    distinguishing frame number is usually at the end)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    tail = limit - 1 - head
    return text[:head] + "…" + text[-tail:]


def describe(source: Source) -> str:
    """Label: name, then size, channels and bit depth (or the problem), then the alignment.

    The third line appears after an aligned fusion: the frame's shift (scale, rotation) and
    correlation, or a flag when its alignment failed and it was left out.
    """
    name = elide_middle(source.name)
    if source.problem:
        return f"{name}\n⚠ {source.problem}"
    m = source.meta
    if m is None:
        return name
    colour = "RGB" if m.channels == 3 else "gray"
    line = f"{m.width}×{m.height} · {colour} · {m.bit_depth}-bit"
    if source.warning:
        line += " · ⚠ size differs"
    text = f"{name}\n{line}"
    if source.alignment is not None:
        text += f"\n{source.alignment.summary}"
    return text


class SourceList(QListWidget):
    """List of source frames bound to a controller's sources (by id).

    Signals
    -------
    includeToggled(int, bool)
        Source id and new inclusion state (the user clicked a check box).
    orderChanged(list)
        Source ids in their new order after a drag.
    removeRequested(list)
        Source ids the user asked to remove (Delete key or context menu).
    filesDropped(list)
        Paths dropped from outside onto the list (to add).
    """

    includeToggled = Signal(int, bool)
    orderChanged = Signal(list)
    removeRequested = Signal(list)
    filesDropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setAcceptDrops(True)
        self.setUniformItemSizes(False)
        self.setSpacing(1)
        self.setWordWrap(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self._updating = False
        self._known_ids: list[int] = []
        self._placeholder = self._blank_icon()
        self.itemChanged.connect(self._on_item_changed)
        self.model().rowsMoved.connect(self._on_rows_moved)
        self.remove_action = QAction("Remove from stack", self)
        self.remove_action.setShortcut(Qt.Key.Key_Delete)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.remove_action.triggered.connect(self._remove_selected)
        self.addAction(self.remove_action)

    @staticmethod
    def _blank_icon() -> QIcon:
        pm = QPixmap(THUMB, THUMB)
        pm.fill(QColor(128, 128, 128, 60))
        return QIcon(pm)

    def set_sources(
        self,
        sources: list[Source],
        thumbnails: dict[int, np.ndarray],
        skipped: Sequence[tuple[Path, str]] = (),
    ) -> None:
        """Rebuild the list from ``sources`` (keeps the selection by id); ``skipped`` files
        (not images) are listed after them in gray, with the reason."""
        selected = set(self.selected_ids())
        self._updating = True
        try:
            self.clear()
            for s in sources:
                item = QListWidgetItem(describe(s))
                item.setData(ID_ROLE, s.id)
                flags = (
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsDragEnabled
                )
                if not s.problem:
                    flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setFlags(flags)
                item.setCheckState(Qt.CheckState.Checked if s.usable else Qt.CheckState.Unchecked)
                thumb = thumbnails.get(s.id)
                item.setIcon(self._icon(thumb) if thumb is not None else self._placeholder)
                tip = str(s.path) + (f" (page {s.page + 1})" if s.page is not None else "")
                if s.problem:
                    tip += f"\nCannot be used: {s.problem}"
                    item.setForeground(QBrush(QColor(220, 70, 70)))
                elif s.warning:
                    tip += f"\n{s.warning}"
                    item.setForeground(QBrush(QColor(230, 150, 30)))
                if s.alignment is not None and not s.problem:
                    tip += f"\n{s.alignment.detail}"
                    if s.alignment.excluded:
                        item.setForeground(QBrush(QColor(230, 150, 30)))
                item.setToolTip(tip)
                self.addItem(item)
                if s.id in selected:
                    item.setSelected(True)
            for path, why in skipped:
                item = QListWidgetItem(f"Skipped: {elide_middle(path.name)}\n{why}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                item.setForeground(QBrush(QColor(140, 140, 140)))
                item.setToolTip(f"{path}\nNot added to the stack: {why}")
                self.addItem(item)
        finally:
            self._updating = False
            self._known_ids = self.ids()

    @staticmethod
    def _icon(thumb: np.ndarray) -> QIcon:
        return QIcon(QPixmap.fromImage(to_qimage(thumb)))

    def set_thumbnail(self, source_id: int, thumb: np.ndarray) -> None:
        """Show the thumbnail of one source once it has been made."""
        item = self.item_for(source_id)
        if item is not None:
            self._updating = True
            item.setIcon(self._icon(thumb))
            self._updating = False

    def item_for(self, source_id: int) -> QListWidgetItem | None:
        """The row item showing ``source_id``."""
        for row in range(self.count()):
            it = self.item(row)
            if it.data(ID_ROLE) == source_id:
                return it
        return None

    def ids(self) -> list[int]:
        """Source ids in the list's order."""
        ids = (self.item(r).data(ID_ROLE) for r in range(self.count()))
        return [i for i in ids if i is not None]

    def selected_ids(self) -> list[int]:
        """Ids of the selected rows."""
        return [i for i in (it.data(ID_ROLE) for it in self.selectedItems()) if i is not None]

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if not self._updating:
            self.includeToggled.emit(item.data(ID_ROLE), item.checkState() == Qt.CheckState.Checked)

    def _on_rows_moved(self, *_args: object) -> None:
        if not self._updating:
            self._emit_order_if_changed()

    def _emit_order_if_changed(self) -> None:
        ids = self.ids()
        if ids != self._known_ids and not self._updating:
            self._known_ids = ids
            self.orderChanged.emit(ids)

    def _remove_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.removeRequested.emit(ids)

    def _menu(self, pos) -> None:
        menu = QMenu(self)
        ids = self.selected_ids()
        inc = menu.addAction("Include")
        exc = menu.addAction("Exclude")
        menu.addSeparator()
        menu.addAction(self.remove_action)
        for a in (inc, exc, self.remove_action):
            a.setEnabled(bool(ids))
        chosen = menu.exec(self.viewport().mapToGlobal(pos))
        if chosen in (inc, exc):
            for sid in ids:
                self.includeToggled.emit(sid, chosen is inc)

    # External drops (files) add sources; internal drags reorder.
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept file URLs as well as internal moves."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        """Keep accepting file URLs while moving over the list."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        """Files dropped here are added to the stack."""
        if event.mimeData().hasUrls():
            paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
            event.acceptProposedAction()
            if paths:
                self.filesDropped.emit(paths)
            return
        super().dropEvent(event)
        # Some styles/platforms move rows as remove + insert without rowsMoved.
        QTimer.singleShot(0, self._emit_order_if_changed)
