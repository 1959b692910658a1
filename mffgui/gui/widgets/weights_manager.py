"""A dialog listing the user's trained weights: metadata, rename, export, delete."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.errors import MffError
from mffgui.user_weights import WeightsEntry, WeightsLibrary


def describe(entry: WeightsEntry) -> str:
    """Rich-text metadata of an entry: network, date, data, epochs, metrics, notes."""
    rows = [
        ("Network", entry.arch),
        ("Trained", entry.date.replace("T", " ")),
        ("Epochs", str(entry.epochs)),
        ("Data", "<br>".join(html.escape(d) for d in entry.data) or "—"),
        ("Validation", ", ".join(f"{k} {v:.4f}" for k, v in entry.metrics.items()) or "—"),
    ]
    if entry.best:
        rows.append(
            (
                "Best epoch",
                f"{entry.best.get('epoch')} ({entry.best.get('key')} "
                f"{float(entry.best.get('score', 0)):.4f})",
            )
        )
    rows += [("Notes", html.escape(entry.notes) or "—"), ("File", html.escape(str(entry.path)))]
    body = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return f"<h3>{html.escape(entry.title)}</h3><table cellspacing='4'>{body}</table>"


class WeightsManager(QDialog):
    """Manage :class:`mffgui.user_weights.WeightsLibrary` entries.

    Signals
    -------
    changed()
        An entry was renamed or deleted.
    """

    changed = Signal()

    def __init__(
        self, parent: QWidget | None = None, library: WeightsLibrary | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Trained weights")
        self.library = library or WeightsLibrary()
        self.list = QListWidget()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rename_button = QPushButton("Rename…")
        self.export_button = QPushButton("Export…")
        self.delete_button = QPushButton("Delete")
        close = QPushButton("Close")
        self.rename_button.clicked.connect(self._rename)
        self.export_button.clicked.connect(self._export)
        self.delete_button.clicked.connect(self._delete)
        close.clicked.connect(self.close)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addWidget(self.details, 2)
        buttons = QHBoxLayout()
        for b in (self.rename_button, self.export_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(body, 1)
        lay.addLayout(buttons)
        self.list.currentItemChanged.connect(lambda *_a: self._show())
        self.resize(720, 360)
        self.reload()

    def reload(self) -> None:
        """Re-read the library."""
        current = self.current_id()
        self.list.clear()
        try:
            entries = self.library.entries()
        except MffError as err:
            self.details.setText(html.escape(str(err)))
            entries = []
        for e in entries:
            item = QListWidgetItem(e.title)
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            self.list.addItem(item)
            if e.id == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._show()

    def current_id(self) -> str:
        """Id of the selected entry ("" when none)."""
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def _show(self) -> None:
        eid = self.current_id()
        for b in (self.rename_button, self.export_button, self.delete_button):
            b.setEnabled(bool(eid))
        if not eid:
            self.details.setText("No trained weights yet: use Fusion ▸ Train on your data…")
            return
        try:
            self.details.setText(describe(self.library.get(eid)))
        except MffError as err:
            self.details.setText(html.escape(str(err)))

    def rename(self, entry_id: str, name: str, notes: str | None = None) -> None:
        """Rename an entry (errors are shown, not raised)."""
        try:
            self.library.rename(entry_id, name, notes)
        except MffError as err:
            QMessageBox.warning(self, "Rename", str(err))
            return
        self.reload()
        self.changed.emit()

    def export(self, entry_id: str, dest: str | Path) -> Path | None:
        """Export an entry to ``dest`` (errors are shown, not raised)."""
        try:
            return self.library.export(entry_id, dest)
        except MffError as err:
            QMessageBox.warning(self, "Export", str(err))
            return None

    def delete(self, entry_id: str) -> None:
        """Delete an entry and its file."""
        try:
            self.library.delete(entry_id)
        except MffError as err:
            QMessageBox.warning(self, "Delete", str(err))
            return
        self.reload()
        self.changed.emit()

    def _rename(self) -> None:
        eid = self.current_id()
        if not eid:
            return
        e = self.library.get(eid)
        name, ok = QInputDialog.getText(self, "Rename", "Name", text=e.name)
        if not ok:
            return
        notes, ok = QInputDialog.getText(self, "Rename", "Notes", text=e.notes)
        self.rename(eid, name, notes if ok else None)

    def _export(self) -> None:
        eid = self.current_id()
        if not eid:
            return
        e = self.library.get(eid)
        path, _ = QFileDialog.getSaveFileName(
            self, "Export weights", f"{e.name}.pt", "Checkpoints (*.pt)"
        )
        if path:
            self.export(eid, path)

    def _delete(self, *_a: Any) -> None:
        eid = self.current_id()
        if not eid:
            return
        e = self.library.get(eid)
        if (
            QMessageBox.question(self, "Delete", f"Delete “{e.title}”? This cannot be undone.")
            == QMessageBox.StandardButton.Yes
        ):
            self.delete(eid)
