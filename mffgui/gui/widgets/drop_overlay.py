"""The translucent frame shown over the main window while files are dragged over it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


class DropOverlay(QFrame):
    """Covers ``parent`` (but for a margin) with a hint while files are dragged over it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        lay = QVBoxLayout(self)
        label = QLabel("Drop images, folders or a multi-page TIFF to open them")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(label)
        self.hide()

    def cover(self) -> None:
        """Show over the whole parent, 8 pixels in from its edges."""
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect().adjusted(8, 8, -8, -8))
        self.raise_()
        self.show()


__all__ = ["DropOverlay"]
