"""The main window's file choosers and its File ▸ Recent menu."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.dng *.cr2 *.cr3 *.nef *.arw "
    "*.raf *.orf *.rw2 *.czi *.nd2 *.lif);;"
    "Camera RAW (*.dng *.cr2 *.cr3 *.nef *.arw *.raf *.orf *.rw2);;"
    "Microscopy (*.ome.tif *.ome.tiff *.czi *.nd2 *.lif);;All files (*)"
)


def ask_images(parent: QWidget, title: str, folder: str) -> list[str]:
    """Image files chosen in a file dialog starting in ``folder`` (empty when cancelled)."""
    files, _ = QFileDialog.getOpenFileNames(parent, title, folder, IMAGE_FILTER)
    return list(files)


def ask_folder(parent: QWidget, folder: str) -> str:
    """A folder chosen in a dialog starting in ``folder`` (empty when cancelled)."""
    return QFileDialog.getExistingDirectory(parent, "Open a folder of images", folder)


def fill_recent(
    menu: QMenu, recent: Sequence[Sequence[str]], open_paths: Callable[[list[str]], object]
) -> None:
    """Rebuild File ▸ Recent: one entry per remembered stack (its first file, ``+n`` more)."""
    menu.clear()
    for entry in recent:
        label = Path(entry[0]).name + (f" (+{len(entry) - 1})" if len(entry) > 1 else "")
        act = menu.addAction(label)
        act.setToolTip("\n".join(entry))
        act.triggered.connect(lambda _c=False, e=list(entry): open_paths(e))
    menu.setEnabled(bool(recent))
