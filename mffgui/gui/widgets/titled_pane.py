"""One titled image view of the result panel: title, note, maximise button, a row of controls."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.gui.widgets.image_view import ImageView


class TitledPane(QFrame):
    """One titled view with a maximise button and optional controls under the title."""

    maximiseClicked = Signal()

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.view = ImageView(self)
        self.title = QLabel(f"<b>{title}</b>")
        self.note = QLabel("")
        self.note.setObjectName("paneNote")
        self.max_button = QToolButton()
        self.max_button.setAutoRaise(True)
        self.max_button.setCheckable(True)
        self.max_button.setText("⤢")
        self.max_button.setToolTip("Maximise this view (double-click the title to toggle)")
        self.max_button.clicked.connect(self.maximiseClicked)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 2, 2)
        head.addWidget(self.title)
        head.addWidget(self.note, 1)
        head.addWidget(self.max_button)
        # Controls sit in their own row so they never force a pane wider than its siblings.
        self.controls = QHBoxLayout()
        self.controls.setContentsMargins(6, 0, 6, 0)
        self.controls_host = QWidget()
        self.controls_host.setLayout(self.controls)
        self.controls_host.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.controls_host)
        lay.addWidget(self.view, 1)

    def add_control(self, widget: QWidget, stretch: int = 0) -> None:
        """Add a widget to the pane's control row (shown once it has one)."""
        self.controls.addWidget(widget, stretch)
        self.controls_host.show()

    def mouseDoubleClickEvent(self, event) -> None:
        """Double-click on the title bar toggles maximise."""
        if event.position().y() < self.view.y():
            self.max_button.toggle()
            self.maximiseClicked.emit()
        else:
            super().mouseDoubleClickEvent(event)
