"""The centre of the compare window: grid, swipe and difference tabs over the metrics table.

The widget shows what a :class:`mffgui.compare_state.CompareState` holds: the combo boxes offer
its choices, the swipe view shows the chosen pair and the difference view the picture that
:func:`render_difference` makes on a worker thread (an answer for an older choice is dropped).
The window fills the grid and the table. Every image view reports a drawn rectangle through
:attr:`CompareCentre.regionSelected`, and the views' zoom and pan are linked.
"""

from __future__ import annotations

import warnings

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mffgui.compare_state import CompareState, DifferenceRequest, Rect, compute_difference
from mffgui.core.progress import CancelToken
from mffgui.gui.compare_worker import fused_qimage
from mffgui.gui.tasks import TaskRunner, TaskWorker, take
from mffgui.gui.widgets.compare_grid import CompareGrid
from mffgui.gui.widgets.compare_table import MetricsTable
from mffgui.gui.widgets.compare_views import FitAwareLink, RegionImageView, SwipeView


def render_difference(request: DifferenceRequest) -> tuple[QImage, str]:
    """The difference picture of ``request`` as a QImage and its caption (worker thread)."""
    from mffgui.gui.convert import LUTS, apply_lut, to_qimage

    diff = compute_difference(request)
    img = diff.image if diff.lut is None else apply_lut(diff.image, LUTS[diff.lut]())
    return to_qimage(img), diff.info


def _tab_with(view: QWidget, controls: list[QWidget]) -> QWidget:
    """``view`` under a row of ``controls``."""
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 4, 0, 0)
    row = QHBoxLayout()
    for c in controls:
        row.addWidget(c)
    row.addStretch(1)
    lay.addLayout(row)
    lay.addWidget(view, 1)
    return w


class CompareCentre(QSplitter):
    """Tabs Grid / Swipe / Difference above the metrics table.

    Parameters
    ----------
    comparison : CompareState
        What to show.
    runner : TaskRunner
        Runs the difference pictures (the window's, shut down with it).

    Signals
    -------
    regionSelected(int, int, int, int)
        A rectangle ``(x, y, w, h)`` drawn on any view.
    differenceShown()
        The difference view shows the picture of the newest choice.
    """

    regionSelected = Signal(int, int, int, int)
    differenceShown = Signal()

    def __init__(
        self, comparison: CompareState, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.comparison = comparison
        self._runner = runner
        self.region_tool = False
        self._link: FitAwareLink | None = None
        self.grid = CompareGrid()
        self.grid.tilesChanged.connect(self.relink)
        self.swipe = SwipeView()
        self.swipe_a, self.swipe_b = QComboBox(), QComboBox()
        for c in (self.swipe_a, self.swipe_b):
            c.currentIndexChanged.connect(self.update_swipe)
        swipe_tab = _tab_with(
            self.swipe, [QLabel("Left"), self.swipe_a, QLabel("Right"), self.swipe_b]
        )
        self.diff = RegionImageView()
        self.diff_a, self.diff_b = QComboBox(), QComboBox()
        self.diff_mode = QComboBox()
        self.diff_mode.addItem("|A − B| amplified", "abs")
        self.diff_mode.addItem("Decision maps disagree", "decision")
        self.diff_mode.setToolTip(
            "Pixel difference, or where the methods took their pixels from different source frames"
        )
        self.diff_gain = QDoubleSpinBox()
        self.diff_gain.setRange(1.0, 256.0)
        self.diff_gain.setValue(8.0)
        self.diff_gain.setPrefix("×")
        self.diff_gain.setToolTip("Amplification of |A − B|")
        self.diff_info = QLabel()
        for w in (self.diff_a, self.diff_b, self.diff_mode):
            w.currentIndexChanged.connect(self.update_diff)
        self.diff_gain.valueChanged.connect(self.update_diff)
        controls: list[QWidget] = [QLabel("A"), self.diff_a, QLabel("B"), self.diff_b]
        diff_tab = _tab_with(self.diff, [*controls, self.diff_mode, self.diff_gain, self.diff_info])
        self.tabs = QTabWidget()
        self.tabs.addTab(self.grid, "Grid")
        self.tabs.addTab(swipe_tab, "Swipe")
        self.tabs.addTab(diff_tab, "Difference")
        self.table = MetricsTable()
        self.scope_label = QLabel("Whole image")
        self.clear_region_button = QPushButton("Whole image")
        self.clear_region_button.setToolTip("Show the metrics of the whole image again")
        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        trow = QHBoxLayout()
        trow.addWidget(QLabel("<b>Metrics</b>"))
        trow.addWidget(self.scope_label, 1)
        trow.addWidget(self.clear_region_button)
        tl.addLayout(trow)
        tl.addWidget(self.table)
        self.addWidget(self.tabs)
        self.addWidget(table_box)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        for v in self.all_views():
            v.regionSelected.connect(self.regionSelected)

    # ------------------------------------------------------------------ views
    def all_views(self) -> list[RegionImageView]:
        """The grid's views, the swipe view and the difference view."""
        return [*self.grid.views(), self.swipe, self.diff]

    def relink(self) -> None:
        """Link zoom and pan of every view again (after the grid's tiles changed)."""
        if self._link is not None:
            for v in self._link.views:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        v.viewChanged.disconnect()
                    except (RuntimeError, TypeError):
                        pass  # a tile that was deleted
        for v in self.grid.views():
            if not v.property("compareWired"):
                v.setProperty("compareWired", True)
                v.set_region_tool(self.region_tool)
                v.regionSelected.connect(self.regionSelected)
        self._link = FitAwareLink(self.all_views())

    def fit(self) -> None:
        """Fit every image to its view."""
        for v in self.all_views():
            v.fit()

    def set_region_tool(self, on: bool) -> None:
        """Left-drag draws a rectangle (on) or pans (off) in every view."""
        self.region_tool = on
        for v in self.all_views():
            v.set_region_tool(on)

    def set_region(self, rect: Rect | None) -> None:
        """Outline ``rect`` in every view (``None``: no outline)."""
        for v in self.all_views():
            v.set_region(rect)

    # ------------------------------------------------------------------ choices
    def refresh_choices(self) -> None:
        """Offer the comparison's choices in the four combo boxes, keeping each current choice
        that is still offered (else the first box takes the first item, the second the
        second), then show the pairs."""
        items = self.comparison.choices()
        for combo, k in ((self.swipe_a, 0), (self.swipe_b, 1), (self.diff_a, 0), (self.diff_b, 1)):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for text, data in items:
                combo.addItem(text, data)
            idx = combo.findData(current) if current is not None else -1
            if idx < 0:
                idx = min(k, len(items) - 1) if items else -1
            combo.setCurrentIndex(idx)
            combo.blockSignals(False)
        self.update_swipe()
        self.update_diff()

    def set_swipe(self, a: str, b: str) -> None:
        """Swipe between the choices whose combo texts are ``a`` (left) and ``b`` (right)."""
        self.swipe_a.setCurrentIndex(self.swipe_a.findText(a))
        self.swipe_b.setCurrentIndex(self.swipe_b.findText(b))
        self.update_swipe()

    def update_swipe(self, *_args: object) -> None:
        """Show the chosen pair in the swipe view."""
        st = self.comparison
        ca, cb = self.swipe_a.currentData(), self.swipe_b.currentData()
        load_a, load_b = st.loader(ca), st.loader(cb)
        if load_a is None or load_b is None:
            self.swipe.set_pair(None, None)
            return
        oa, ob = st.outcome_of(ca), st.outcome_of(cb)
        qa = oa.image if oa is not None else None
        qb = ob.image if ob is not None else None
        self.swipe.set_pair(
            qa if qa is not None else fused_qimage(load_a()),
            qb if qb is not None else fused_qimage(load_b()),
            (self.swipe_a.currentText(), self.swipe_b.currentText()),
        )
        self.swipe.set_region(st.region_rect)

    def update_diff(self, *_args: object) -> None:
        """Ask for the difference picture of the chosen pair (made on a worker thread)."""
        mode = self.diff_mode.currentData()
        self.diff_gain.setEnabled(mode == "abs")
        st = self.comparison
        ca, cb = self.diff_a.currentData(), self.diff_b.currentData()
        request = st.difference_request(ca, cb, mode, self.diff_gain.value())
        if isinstance(request, str):
            self.diff.set_image(None)
            self.diff_info.setText(request)
            return
        worker = TaskWorker(
            lambda _p, _c: render_difference(request),
            request.generation,
            st.differences.token or CancelToken(),
            "difference image",
        )
        worker.resultReady.connect(self._on_diff_ready)
        worker.failed.connect(self._on_diff_failed)
        self._runner.start(worker)

    @Slot(int, int)
    def _on_diff_ready(self, gen: int, key: int) -> None:
        image, info = take(key)
        if not self.comparison.accept_difference(gen):
            return
        self.diff.set_image(image)
        self.diff_info.setText(info)
        self.diff.set_region(self.comparison.region_rect)
        self.differenceShown.emit()

    @Slot(int, str)
    def _on_diff_failed(self, gen: int, msg: str) -> None:
        if self.comparison.accept_difference(gen):
            self.diff.set_image(None)
            self.diff_info.setText(msg.splitlines()[0])

    def clear(self) -> None:
        """Empty grid, views and table (the comparison was cleared)."""
        self.grid.set_labels([])
        self.swipe.set_pair(None, None)
        self.diff.set_image(None)
        self.table.set_rows([], [])
        self.scope_label.setText("Whole image")
        self.refresh_choices()


__all__ = ["CompareCentre", "render_difference"]
