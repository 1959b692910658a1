"""Icons from ``resources/icons`` and the one way the main window makes its actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QWidget

from mffgui.resources import resources_dir

Shortcut = str | QKeySequence.StandardKey | Sequence[str]


def icon(name: str) -> QIcon:
    """An icon from ``resources/icons/<name>.svg`` (empty icon when missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def make_action(
    owner: QWidget,
    text: str,
    slot: Callable[..., object],
    shortcut: Shortcut | None = None,
    icon_name: str = "",
    tip: str = "",
) -> QAction:
    """An action of ``owner`` (added to it, so the shortcut works even when no menu or toolbar
    shows it) with its shortcuts, icon and tool tip (the tip names the shortcut)."""
    act = QAction(icon(icon_name) if icon_name else QIcon(), text, owner)
    if shortcut is not None:
        keys = list(shortcut) if isinstance(shortcut, list | tuple) else [shortcut]
        act.setShortcuts([QKeySequence(k) for k in keys])
    if tip:
        hint = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        act.setToolTip(f"{tip} ({hint})" if hint else tip)
        act.setStatusTip(tip)
    act.triggered.connect(slot)
    owner.addAction(act)
    return act


__all__ = ["icon", "make_action"]
