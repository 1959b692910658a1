"""Fusion style with a dark and a light palette, and a small style sheet shared by both."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = QColor(64, 156, 255)

_COLORS = {
    "dark": {
        QPalette.ColorRole.Window: QColor(45, 46, 50),
        QPalette.ColorRole.WindowText: QColor(225, 225, 228),
        QPalette.ColorRole.Base: QColor(32, 33, 36),
        QPalette.ColorRole.AlternateBase: QColor(52, 53, 58),
        QPalette.ColorRole.ToolTipBase: QColor(60, 62, 68),
        QPalette.ColorRole.ToolTipText: QColor(235, 235, 235),
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 146),
        QPalette.ColorRole.Text: QColor(225, 225, 228),
        QPalette.ColorRole.Button: QColor(58, 60, 66),
        QPalette.ColorRole.ButtonText: QColor(225, 225, 228),
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.Highlight: QColor(42, 110, 190),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Mid: QColor(70, 72, 78),
        QPalette.ColorRole.Dark: QColor(25, 26, 28),
        QPalette.ColorRole.Shadow: QColor(10, 10, 10),
        QPalette.ColorRole.Light: QColor(80, 82, 88),
    },
    "light": {
        QPalette.ColorRole.Window: QColor(239, 240, 242),
        QPalette.ColorRole.WindowText: QColor(30, 30, 32),
        QPalette.ColorRole.Base: QColor(255, 255, 255),
        QPalette.ColorRole.AlternateBase: QColor(246, 247, 249),
        QPalette.ColorRole.ToolTipBase: QColor(255, 255, 225),
        QPalette.ColorRole.ToolTipText: QColor(30, 30, 32),
        QPalette.ColorRole.PlaceholderText: QColor(130, 130, 136),
        QPalette.ColorRole.Text: QColor(30, 30, 32),
        QPalette.ColorRole.Button: QColor(228, 229, 232),
        QPalette.ColorRole.ButtonText: QColor(30, 30, 32),
        QPalette.ColorRole.BrightText: QColor(200, 0, 0),
        QPalette.ColorRole.Link: QColor(20, 100, 200),
        QPalette.ColorRole.Highlight: QColor(48, 124, 220),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Mid: QColor(190, 192, 196),
        QPalette.ColorRole.Dark: QColor(160, 162, 166),
        QPalette.ColorRole.Shadow: QColor(120, 120, 120),
        QPalette.ColorRole.Light: QColor(255, 255, 255),
    },
}

_STYLE_SHEET = """
QLabel#placeholder { font-size: 15px; color: palette(placeholder-text); }
QLabel#paneNote { color: palette(placeholder-text); }
QLabel#methodDescription { color: palette(placeholder-text); }
QLabel#errorLabel { color: #e05050; }
QPushButton#fuseButton { font-weight: bold; padding: 4px 18px; }
QFrame#dropOverlay { border: 3px dashed %(accent)s; border-radius: 10px;
                     background: rgba(64, 156, 255, 40); }
QFrame#dropOverlay QLabel { font-size: 20px; font-weight: bold; color: %(accent)s;
                            background: transparent; }
"""


def palette(theme: str) -> QPalette:
    """The :class:`QPalette` of ``theme`` (``"dark"`` or ``"light"``)."""
    pal = QPalette()
    colors = _COLORS.get(theme, _COLORS["dark"])
    for role, color in colors.items():
        pal.setColor(QPalette.ColorGroup.All, role, color)
    disabled = QColor(colors[QPalette.ColorRole.WindowText])
    disabled.setAlpha(110)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        pal.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return pal


def apply_theme(app: QApplication, theme: str) -> None:
    """Use the Fusion style with the palette of ``theme`` on the whole application."""
    app.setStyle("Fusion")
    app.setPalette(palette(theme))
    app.setStyleSheet(_STYLE_SHEET % {"accent": ACCENT.name()})
