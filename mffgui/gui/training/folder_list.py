"""A list of data folders that accepts drops, with Add/Remove buttons (Train dialog)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.gui.widgets.url_drops import UrlDrags

__all__ = ["FolderList", "folder_row"]


class FolderList(UrlDrags, QListWidget):
    """A list of folders (or image files) that accepts drops from the file manager."""

    changed = Signal()

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setToolTip(placeholder + " — drop folders here or use Add")
        self.setMaximumHeight(90)

    def paths(self) -> list[str]:
        """The listed paths, in order."""
        return [self.item(i).text() for i in range(self.count())]

    def add_path(self, path: str | Path) -> None:
        """Add ``path`` unless it is listed already."""
        text = str(Path(path))
        if text not in self.paths():
            self.addItem(text)
            self.changed.emit()

    def remove_selected(self) -> None:
        """Remove the selected rows."""
        for item in self.selectedItems():
            self.takeItem(self.row(item))
        self.changed.emit()

    def dropEvent(self, event: Any) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        for u in urls:
            if Path(u).exists():
                self.add_path(u)
        event.acceptProposedAction()


def folder_row(lst: FolderList, title: str) -> QWidget:
    """``lst`` with *Add…* (a folder chooser titled ``title``) and *Remove* buttons."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(lst, 1)
    col = QVBoxLayout()
    add = QPushButton("Add…")
    rem = QPushButton("Remove")

    def browse() -> None:
        d = QFileDialog.getExistingDirectory(w, title)
        if d:
            lst.add_path(d)

    add.clicked.connect(browse)
    rem.clicked.connect(lst.remove_selected)
    col.addWidget(add)
    col.addWidget(rem)
    col.addStretch(1)
    lay.addLayout(col)
    return w
