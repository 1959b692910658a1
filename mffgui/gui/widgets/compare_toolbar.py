"""The compare window's toolbar: Run, Cancel, Export report, Region, Fit and the Metrics menu.

The actions are added to the window too, so their shortcuts work wherever the focus is; the
window connects their ``triggered`` signals.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar, QToolButton

from mffgui.gui.compare_worker import SLOW_METRICS


class CompareToolbar(QToolBar):
    """Toolbar with the compare window's actions and the Metrics menu (every metric ticked).

    Parameters
    ----------
    window : QMainWindow
        Gets the actions (shortcuts) and the toolbar.
    """

    def __init__(self, window: QMainWindow) -> None:
        super().__init__("Compare", window)
        self.setObjectName("compareToolbar")
        self.setMovable(False)

        def act(text: str, keys: str, tip: str) -> QAction:
            a = QAction(text, window)
            a.setShortcut(QKeySequence(keys))
            a.setToolTip(f"{tip} ({keys})")
            window.addAction(a)
            return a

        self.act_run = act("Run", "Ctrl+Return", "Fuse with every ticked run")
        self.act_cancel = act("Cancel", "Esc", "Stop the comparison")
        self.act_export = act(
            "Export report…",
            "Ctrl+S",
            "Save the grid, every result, the maps and the metrics tables",
        )
        self.act_region = act(
            "Region",
            "R",
            "Draw a rectangle on any view to score every result inside it (Shift+drag works too)",
        )
        self.act_region.setCheckable(True)
        self.act_fit = act("Fit", "Ctrl+0", "Fit the images to the views")
        self.addActions([self.act_run, self.act_cancel, self.act_export])
        self.addSeparator()
        self.addActions([self.act_region, self.act_fit])
        self.metrics_menu = QMenu("Metrics", window)
        self.metrics_button = QToolButton()
        self.metrics_button.setText("Metrics")
        self.metrics_button.setToolTip(
            "Which metrics to compute (all by default; "
            f"{', '.join(SLOW_METRICS)} takes about 1 s of CPU per "
            "520×520 image: untick it for quicker comparisons)"
        )
        self.metrics_button.setMenu(self.metrics_menu)
        self.metrics_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.addWidget(self.metrics_button)
        from mffgui.gui.widgets.compare_table import metric_tooltip
        from mffgui.metrics import METRICS

        self.metric_actions: dict[str, QAction] = {}
        for name in METRICS:
            a = self.metrics_menu.addAction(name)
            a.setCheckable(True)
            a.setChecked(True)
            a.setToolTip(metric_tooltip(name))
            self.metric_actions[name] = a
        self.metrics_menu.setToolTipsVisible(True)

    def metrics(self) -> tuple[str, ...]:
        """The metric names ticked in the Metrics menu."""
        return tuple(n for n, a in self.metric_actions.items() if a.isChecked())


__all__ = ["CompareToolbar"]
