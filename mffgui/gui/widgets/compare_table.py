"""The compare view's metrics table: one row per result, sortable, best value per metric marked.

No-reference statistics (EN, SF, AG, SD) are marked ``(no ref.)`` and never crowned: noise and
artefacts raise them as much as detail does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

BEST_COLOR = QColor(46, 160, 67, 110)

EXPLAIN = {
    "QMI": "How much information of the sources the result keeps (normalised mutual info); "
    "favours results close to one source, so a blurred result can score well.",
    "QNCIE": "Nonlinear correlation between the result and the sources; like QMI it can "
    "favour a result close to one (blurred) source.",
    "QG": "How well the sources' edges (strength and direction) survive in the result.",
    "QP": "How well the sources' phase-congruency features (corners, edges) are kept.",
    "QE": "Piella's structural similarity weighted by edge content.",
    "QY": "SSIM with whichever source is locally more similar (Yang).",
    "QCB": "Human-vision model: how well local contrast of the sources is preserved.",
    "QCV": "Human-vision model: perceived local distortion relative to the sources.",
    "EN": "Entropy of the result's histogram (information content; noise raises it too).",
    "SF": "Spatial frequency: overall activity of row and column differences.",
    "AG": "Average gradient: mean local contrast (sharpness; noise raises it too).",
    "SD": "Standard deviation of the gray levels (global contrast).",
    "PSNR": "Peak signal-to-noise ratio against the ground-truth image.",
    "SSIM": "Structural similarity with the ground-truth image.",
}
"""One line per metric: what it measures (tooltips of the table header)."""


NO_REFERENCE = "no ref."
"""Header mark of the no-reference statistics (EN, SF, AG, SD), which are never crowned."""


def metric_tooltip(name: str) -> str:
    """``"<title>: <what it measures> <direction>."`` for the header tooltip of ``name``."""
    from mffgui.metrics import METRICS

    info = METRICS.get(name)
    if info is None:
        return name
    if not info.ranks:
        return (
            f"{info.title}: {EXPLAIN.get(name, '')} No-reference statistic of the result "
            "alone: higher usually means more detail (↑), but noise, halos and artefacts "
            "raise it too, so its best value is not marked. "
            f"({info.citation})"
        )
    better = "Higher is better (↑)" if info.higher_is_better else "Lower is better (↓)"
    return f"{info.title}: {EXPLAIN.get(name, '')} {better}. ({info.citation})"


def metric_header(name: str) -> str:
    """Column title: the name, its direction (↑/↓) and ``(no ref.)`` for statistics."""
    from mffgui.metrics import METRICS

    info = METRICS.get(name)
    if info is None:
        return name
    arrow = "↑" if info.higher_is_better else "↓"
    return f"{name} {arrow}" if info.ranks else f"{name} {arrow} ({NO_REFERENCE})"


class _Item(QTableWidgetItem):
    """Sorts by the number in ``UserRole`` (missing values last) instead of the text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if a is None or b is None:
            return super().__lt__(other)
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return not math.isnan(a) and math.isnan(b)
        return a < b


class MetricsTable(QTableWidget):
    """Rows of results, columns ``Method``, the metrics (with ↑/↓) and ``Time (s)``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics: list[str] = []
        self._best: dict[str, set[str]] = {}
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setSortingEnabled(True)

    def set_rows(
        self,
        rows: Sequence[tuple[str, dict[str, float], float, str | None]],
        metrics: Sequence[str],
    ) -> None:
        """Fill the table.

        Parameters
        ----------
        rows : sequence of (label, scores, seconds, error)
            One per result; ``error`` set for a failed method (its row shows the message).
        metrics : sequence of str
            Metric columns in order; columns with no value in any row are left out.
        """
        from mffgui.metrics import METRICS
        from mffgui.metrics.report import format_value

        self.setSortingEnabled(False)
        self.metrics = [m for m in metrics if any(m in r[1] for r in rows)]
        heads = ["Method", *self.metrics, "Time (s)"]
        self.clear()
        self.setColumnCount(len(heads))
        self.setRowCount(len(rows))
        for c, name in enumerate(heads):
            item = QTableWidgetItem(metric_header(name))
            item.setToolTip(
                metric_tooltip(name)
                if name in METRICS
                else "Fusion wall-clock time; lower is better"
                if c
                else "Method and parameters"
            )
            self.setHorizontalHeaderItem(c, item)
        self._best = {}
        ok_rows = [r for r in rows if r[3] is None]
        for m in self.metrics:
            vals = [r[1][m] for r in ok_rows if m in r[1] and math.isfinite(r[1][m])]
            if len(vals) >= 2 and (m not in METRICS or METRICS[m].ranks):
                hib = METRICS[m].higher_is_better if m in METRICS else True
                best = max(vals) if hib else min(vals)
                self._best[m] = {r[0] for r in ok_rows if r[1].get(m) == best}
        bold = QFont(self.font())
        bold.setBold(True)
        for i, (label, scores, seconds, error) in enumerate(rows):
            head = _Item(label)
            head.setData(Qt.ItemDataRole.UserRole, None)
            if error:
                head.setToolTip(error)
                head.setForeground(QBrush(QColor(220, 60, 60)))
            self.setItem(i, 0, head)
            for c, m in enumerate(self.metrics, start=1):
                v = scores.get(m)
                item = _Item(format_value(m, v) if error is None else "failed")
                item.setData(Qt.ItemDataRole.UserRole, math.nan if v is None else float(v))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if label in self._best.get(m, ()):
                    item.setFont(bold)
                    item.setBackground(QBrush(BEST_COLOR))
                    item.setToolTip(f"Best {m} of this comparison")
                self.setItem(i, c, item)
            t = _Item("" if math.isnan(seconds) else f"{seconds:.2f}")
            t.setData(Qt.ItemDataRole.UserRole, float(seconds))
            t.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(i, len(heads) - 1, t)
        self.setSortingEnabled(True)

    def best(self, metric: str) -> set[str]:
        """Labels of the rows holding the best value of ``metric`` (highlighted)."""
        return set(self._best.get(metric, set()))

    def labels(self) -> list[str]:
        """Row labels in display (sorted) order."""
        return [self.item(r, 0).text() for r in range(self.rowCount())]

    def value(self, label: str, metric: str) -> float:
        """The number shown for ``label`` and ``metric`` (NaN when missing)."""
        col = self.metrics.index(metric) + 1
        for r in range(self.rowCount()):
            if self.item(r, 0).text() == label:
                v = self.item(r, col).data(Qt.ItemDataRole.UserRole)
                return math.nan if v is None else float(v)
        raise KeyError(label)

    def is_highlighted(self, label: str, metric: str) -> bool:
        """Whether the cell is shown as the best (bold, coloured)."""
        col = self.metrics.index(metric) + 1
        for r in range(self.rowCount()):
            if self.item(r, 0).text() == label:
                return self.item(r, col).font().bold()
        raise KeyError(label)


__all__ = ["EXPLAIN", "NO_REFERENCE", "MetricsTable", "metric_header", "metric_tooltip"]
