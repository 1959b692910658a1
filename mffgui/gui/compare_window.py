"""The compare window: fuse one stack with several methods and compare the results.

Runs (method + parameters) are picked on the left; the results appear in a grid with linked
zoom and pan, a swipe view, a difference view and a metrics table. Drawing a rectangle on any
view scores every result inside it. All fusion, scoring and export happens in
:mod:`mffgui.gui.compare_worker` on worker threads; results of superseded runs are dropped by
generation number.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.core.progress import CancelToken
from mffgui.errors import MffError
from mffgui.gui.compare_worker import (
    SLOW_METRICS,
    CompareRequest,
    CompareRun,
    CompareWorker,
    RegionRequest,
    RegionScores,
    RunOutcome,
    StackData,
    run_region_scores,
    write_report,
)
from mffgui.gui.widgets.compare_grid import CompareGrid
from mffgui.gui.widgets.compare_runs import FAST_DEFAULTS, RunPanel
from mffgui.gui.widgets.compare_table import MetricsTable
from mffgui.gui.widgets.compare_views import (
    RegionImageView,
    SwipeView,
    difference_image,
    disagreement_image,
)
from mffgui.gui.widgets.image_view import ImageView, ViewLink
from mffgui.gui.worker import FrameKey, TaskRunner, TaskWorker, take
from mffgui.types import ImageMeta

if TYPE_CHECKING:
    from mffgui.methods.base import Params

log = logging.getLogger(__name__)


class _FitAwareLink(ViewLink):
    """A :class:`ViewLink` whose views each fit themselves while the source is in fit mode.

    Grid tiles, the swipe and the difference view differ in size: copying the zoom of a
    fitted view would crop or shrink the image in the others.
    """

    def sync_from(self, source: ImageView) -> None:
        """Fit the others when ``source`` is fitted, else mirror its zoom and centre."""
        if self._syncing or not source.has_image():
            return
        if not source.fit_mode:
            super().sync_from(source)
            return
        self._syncing = True
        try:
            for v in self.views:
                if v is not source and v.has_image() and v.image_size == source.image_size:
                    v.fit()
        finally:
            self._syncing = False


def find_ground_truth(frames: Sequence[FrameKey]) -> Path | None:
    """A ground-truth image (``groundtruth`` in its name) next to the first frame, if any."""
    from mffgui.io import is_image_file
    from mffgui.io.stacks import is_ground_truth

    if not frames:
        return None
    folder = Path(frames[0][0]).parent
    try:
        found = sorted(
            p for p in folder.iterdir() if p.is_file() and is_ground_truth(p) and is_image_file(p)
        )
    except OSError:
        return None
    return found[0] if found else None


class CompareWindow(QMainWindow):
    """Top-level window comparing several fusion runs on one stack.

    Parameters
    ----------
    frames : sequence of (Path, int or None)
        The source frames, in stack order.
    metas : sequence of ImageMeta
        Their headers (one per frame).
    params : mapping, optional
        Method name -> Params chosen in the main window; each differing from the defaults is
        offered as an extra run ("<method> (your settings)").
    ground_truth : Path, optional
        Reference image for PSNR/SSIM; default: looked up next to the frames.
    device : str
        Device for network methods; the device selector starts there (the main window's
        current device) when that device is available.
    devices : list of str, optional
        The available torch devices (the main window's probe); the others are disabled in the
        device selector, like in the main window. ``None``: not probed yet, all enabled.

    Signals
    -------
    stateChanged(str)
        ``idle``, ``running``, ``cancelling``, ``done``, ``cancelled`` or ``failed``.
    regionScored()
        The table now shows region scores.
    exported(object)
        Tuple of the paths a report export wrote.
    """

    stateChanged = Signal(str)
    regionScored = Signal()
    exported = Signal(object)

    def __init__(
        self,
        frames: Sequence[FrameKey],
        metas: Sequence[ImageMeta],
        params: dict[str, Params] | None = None,
        ground_truth: Path | None = None,
        device: str = "auto",
        parent: QWidget | None = None,
        devices: Sequence[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("mffgui — compare methods")
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.generation = 0
        self.state = "idle"
        self.last_error = ""
        self.device = device
        self.outcomes: dict[str, RunOutcome] = {}
        self.order: list[str] = []
        self.data: StackData | None = None
        self.region: RegionScores | None = None
        self.region_rect: tuple[int, int, int, int] | None = None
        self._region_gen = 0
        self._token: CancelToken | None = None
        self._region_token: CancelToken | None = None
        self._request: CompareRequest | None = None
        self._runner = TaskRunner(self)
        self._link: _FitAwareLink | None = None
        self.exporting = False
        self._report_folder = ""
        self._build()
        self.set_stack(frames, metas, ground_truth, params)
        self.set_devices(devices, device)
        if parent is not None:
            # Closing the main window destroys this one: stop its threads first.
            parent.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Shut the workers down when the parent (main) window closes."""
        if obj is self.parent() and event.type() == QEvent.Type.Close:
            self._runner.shutdown()
            self.close()
        return super().eventFilter(obj, event)

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        # Left: the runs to compare and an editor to add runs with custom parameters.
        self.runs_panel = left = RunPanel()
        left.errorOccurred.connect(self._error)
        left.deviceChanged.connect(lambda d: setattr(self, "device", d))

        # Centre: grid / swipe / difference, the metrics table below.
        self.grid = CompareGrid()
        self.grid.tilesChanged.connect(self._relink)
        self.swipe = SwipeView()
        self.swipe_a, self.swipe_b = QComboBox(), QComboBox()
        for c in (self.swipe_a, self.swipe_b):
            c.currentIndexChanged.connect(self._update_swipe)
        swipe_tab = self._tab_with(
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
            w.currentIndexChanged.connect(self._update_diff)
        self.diff_gain.valueChanged.connect(self._update_diff)
        diff_tab = self._tab_with(
            self.diff,
            [
                QLabel("A"),
                self.diff_a,
                QLabel("B"),
                self.diff_b,
                self.diff_mode,
                self.diff_gain,
                self.diff_info,
            ],
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(self.grid, "Grid")
        self.tabs.addTab(swipe_tab, "Swipe")
        self.tabs.addTab(diff_tab, "Difference")
        self.table = MetricsTable()
        self.scope_label = QLabel("Whole image")
        self.clear_region_button = QPushButton("Whole image")
        self.clear_region_button.setToolTip("Show the metrics of the whole image again")
        self.clear_region_button.clicked.connect(self.clear_region)
        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        trow = QHBoxLayout()
        trow.addWidget(QLabel("<b>Metrics</b>"))
        trow.addWidget(self.scope_label, 1)
        trow.addWidget(self.clear_region_button)
        tl.addLayout(trow)
        tl.addWidget(self.table)
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.tabs)
        centre.addWidget(table_box)
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 1)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(centre)
        main.setStretchFactor(1, 1)
        main.setSizes([300, 1100])
        self.setCentralWidget(main)

        # Actions and toolbar.
        def act(text: str, slot, keys: str | None, tip: str) -> QAction:
            a = QAction(text, self)
            if keys:
                a.setShortcut(QKeySequence(keys))
            a.setToolTip(f"{tip} ({keys})" if keys else tip)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.act_run = act("Run", self.run, "Ctrl+Return", "Fuse with every ticked run")
        self.act_cancel = act("Cancel", self.cancel, "Esc", "Stop the comparison")
        self.act_export = act(
            "Export report…",
            self.export_dialog,
            "Ctrl+S",
            "Save the grid, every result, the maps and the metrics tables",
        )
        self.act_region = act(
            "Region",
            self._toggle_region_tool,
            "R",
            "Draw a rectangle on any view to score every result inside it (Shift+drag works too)",
        )
        self.act_region.setCheckable(True)
        self.act_fit = act("Fit", self._fit, "Ctrl+0", "Fit the images to the views")
        tb = self.addToolBar("Compare")
        tb.setObjectName("compareToolbar")
        tb.setMovable(False)
        tb.addActions([self.act_run, self.act_cancel, self.act_export])
        tb.addSeparator()
        tb.addActions([self.act_region, self.act_fit])
        self.metrics_menu = QMenu("Metrics", self)
        self.metrics_button = QToolButton()
        self.metrics_button.setText("Metrics")
        self.metrics_button.setToolTip(
            "Which metrics to compute (all by default; "
            f"{', '.join(SLOW_METRICS)} takes about 1 s of CPU per "
            "520×520 image: untick it for quicker comparisons)"
        )
        self.metrics_button.setMenu(self.metrics_menu)
        self.metrics_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        tb.addWidget(self.metrics_button)
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

        sb = self.statusBar()
        self.stage_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(False)
        sb.addPermanentWidget(self.stage_label)
        sb.addPermanentWidget(self.progress)
        for v in self.all_views():
            v.regionSelected.connect(self._on_region_drawn)
        self.resize(1500, 950)
        self.progress.hide()
        self.stage_label.hide()
        self._update_actions()

    @staticmethod
    def _tab_with(view: QWidget, controls: list[QWidget]) -> QWidget:
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

    # ------------------------------------------------------------------ stack and runs
    def set_stack(
        self,
        frames: Sequence[FrameKey],
        metas: Sequence[ImageMeta],
        ground_truth: Path | None = None,
        params: dict[str, Params] | None = None,
    ) -> None:
        """Compare on another stack (cancels a running comparison, clears the results)."""
        from mffgui.methods import list_methods

        self.cancel()
        self.frames = tuple(frames)
        self.metas = tuple(metas)
        self.ground_truth = (
            ground_truth if ground_truth is not None else find_ground_truth(self.frames)
        )
        self.runs_panel.gt_label.setText(
            f"Ground truth: {self.ground_truth.name} (PSNR, SSIM)"
            if self.ground_truth
            else "No ground truth (a file with 'groundtruth' in its name next to the frames adds "
            "PSNR and SSIM)"
        )
        self.runs_panel.set_methods(list_methods(), params)
        self._clear_results()

    def set_devices(self, available: Sequence[str] | None, device: str | None = None) -> None:
        """Disable the unavailable devices in the selector and choose ``device`` if it is
        available (else Auto).

        Parameters
        ----------
        available : sequence of str or None
            Available devices (``"cpu"``, ``"cuda"``, ``"mps"``); ``None`` leaves all enabled.
        device : str, optional
            Device to select (default: keep the current one).
        """
        editor = self.runs_panel.editor
        if available is not None:
            editor.set_available_devices(list(available))
        if device is not None:
            editor.set_device(device)
        self.device = editor.device_choice

    def add_run(
        self, method: str, params: Params, label: str | None = None, checked: bool = True
    ) -> CompareRun:
        """Append a run to the list (see :meth:`RunPanel.add`)."""
        return self.runs_panel.add(method, params, label, checked)

    def runs(self, all_runs: bool = False) -> list[CompareRun]:
        """The ticked runs (or all of them), in list order."""
        return self.runs_panel.runs(all_runs)

    def set_checked(self, labels: Sequence[str]) -> None:
        """Tick exactly the runs labelled ``labels``."""
        self.runs_panel.set_checked(labels)

    def metrics(self) -> tuple[str, ...]:
        """The metric names ticked in the Metrics menu."""
        return tuple(n for n, a in self.metric_actions.items() if a.isChecked())

    # ------------------------------------------------------------------ running
    def run(self) -> bool:
        """Fuse with every ticked run in the background (a running comparison is cancelled)."""
        runs = self.runs()
        if not runs:
            self._error("Tick at least one run to compare.")
            return False
        if len(self.frames) < 2:
            self._error("Comparing needs a stack of at least two images.")
            return False
        if self._token is not None:
            self._token.cancel()
        self.generation += 1
        request = CompareRequest(
            self.generation,
            self.frames,
            self.metas,
            tuple(runs),
            self.metrics(),
            self.ground_truth,
            self.device,
        )
        self._request = request
        keep_region = self.region_rect  # the new results are scored in the same region
        self._clear_results()
        self.region_rect = keep_region
        self.order = [r.label for r in runs]
        self.grid.set_labels(self.order)
        token = CancelToken()
        self._token = token
        worker = CompareWorker(request, token)
        worker.progressed.connect(self._on_progress)
        worker.runReady.connect(self._on_run_ready)
        worker.resultReady.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._set_state("running")
        self._on_progress(self.generation, 0.0, f"Comparing {len(runs)} runs")
        self._runner.start(worker)
        return True

    def cancel(self) -> None:
        """Stop the running comparison (finished runs stay)."""
        if self._token is not None and self.state == "running":
            self._token.cancel()
            self._set_state("cancelling")

    @property
    def running(self) -> bool:
        """Whether a comparison is in progress."""
        return self.state in ("running", "cancelling")

    @Slot(int, float, str)
    def _on_progress(self, gen: int, frac: float, stage: str) -> None:
        if gen != self.generation or not self.running:
            return
        self.progress.setValue(int(frac * 1000))
        self.stage_label.setText(stage)
        # run_compare gives each run an equal share of the overall fraction, in order.
        n = len(self.order)
        if n and stage not in ("Reading images", "Done") and not stage.startswith("Comparing"):
            i = min(int(frac * n), n - 1)
            tile = self.grid.tiles.get(self.order[i])
            if tile is not None:
                _, _, own = stage.partition(": ")
                tile.set_progress(frac * n - i, own)

    @Slot(int, int)
    def _on_run_ready(self, gen: int, key: int) -> None:
        item = take(key)
        if gen != self.generation or item is None:
            return
        out, data = item
        self.data = data
        self.outcomes[out.run.label] = out
        tile = self.grid.tiles.get(out.run.label)
        if tile is not None:
            tile.set_result(
                out.image, f"{out.run.method}: {out.run.params_text()}", out.seconds, out.error
            )
            if self.region_rect is not None:
                tile.view.set_region(self.region_rect)
        self._relink()
        self._refresh_choices()
        self._fill_table()

    @Slot(int, int)
    def _on_done(self, gen: int, key: int) -> None:
        take(key)
        if gen != self.generation:
            return
        if self._token is not None and self._token.cancelled:
            self._on_cancelled(gen)
            return
        self._token = None
        self._set_state("done")
        failed = [o for o in self.outcomes.values() if not o.ok]
        note = f"; {len(failed)} failed" if failed else ""
        self.statusBar().showMessage(f"Compared {len(self.outcomes)} runs{note}", 8000)
        if self.region_rect is not None:
            self.select_region(self.region_rect)

    @Slot(int, str)
    def _on_failed(self, gen: int, msg: str) -> None:
        if gen != self.generation:
            return
        self._token = None
        self._set_state("failed")
        self._error(msg)

    @Slot(int)
    def _on_cancelled(self, gen: int) -> None:
        if gen != self.generation:
            return
        self._token = None
        self._set_state("cancelled")
        self.statusBar().showMessage(
            f"Comparison cancelled; {len(self.outcomes)} runs finished", 8000
        )

    def _set_state(self, state: str) -> None:
        self.state = state
        if state == "cancelling":
            self.stage_label.setText("Cancelling…")
        running = state in ("running", "cancelling")
        self.progress.setVisible(running)
        self.stage_label.setVisible(running)
        self._update_actions()
        self.stateChanged.emit(state)

    def _update_actions(self) -> None:
        self.act_run.setEnabled(True)
        self.act_cancel.setEnabled(self.running)
        self.act_export.setEnabled(
            any(o.ok for o in self.outcomes.values()) and not self.running and not self.exporting
        )

    def _clear_results(self) -> None:
        self.outcomes = {}
        self.order = []
        self.data = None
        self.region = None
        self.region_rect = None
        self._region_gen += 1
        self.grid.set_labels([])
        self.swipe.set_pair(None, None)
        self.diff.set_image(None)
        self.table.set_rows([], [])
        self.scope_label.setText("Whole image")
        self._refresh_choices()
        self._update_actions()

    # ------------------------------------------------------------------ views
    def all_views(self) -> list[RegionImageView]:
        """The grid's views, the swipe view and the difference view."""
        return [*self.grid.views(), self.swipe, self.diff]

    def _relink(self) -> None:
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
                v.set_region_tool(self.act_region.isChecked())
                v.regionSelected.connect(self._on_region_drawn)
        self._link = _FitAwareLink(self.all_views())

    def _fit(self) -> None:
        for v in self.all_views():
            v.fit()

    def _toggle_region_tool(self, on: bool) -> None:
        for v in self.all_views():
            v.set_region_tool(on)

    def _choices(self, with_sources: bool) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [
            (label, ("result", label))
            for label in self.order
            if label in self.outcomes and self.outcomes[label].ok
        ]
        if with_sources and self.data is not None:
            names = self.data.stack.names if hasattr(self.data.stack, "names") else []
            for i in range(len(self.data.stack)):
                name = names[i] if i < len(names) else f"frame {i + 1}"
                out.append((f"Source {i + 1}: {name}", ("source", i)))
        return out

    def _refresh_choices(self) -> None:
        for combos, with_src in (
            ((self.swipe_a, self.swipe_b), True),
            ((self.diff_a, self.diff_b), True),
        ):
            items = self._choices(with_src)
            for k, combo in enumerate(combos):
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
        self._update_swipe()
        self._update_diff()

    def _image_of(self, choice: Any) -> Any:
        """``(float image, QImage or None)`` of a combo choice."""
        if choice is None or self.data is None:
            return None, None
        kind, key = choice
        if kind == "result":
            out = self.outcomes.get(key)
            return (out.result.fused, out.image) if out is not None and out.ok else (None, None)
        return self.data.stack.frame(key), None

    def set_swipe(self, a: str, b: str) -> None:
        """Swipe between the choices whose combo texts are ``a`` (left) and ``b`` (right)."""
        self.swipe_a.setCurrentIndex(self.swipe_a.findText(a))
        self.swipe_b.setCurrentIndex(self.swipe_b.findText(b))
        self._update_swipe()

    def _update_swipe(self, *_args: object) -> None:
        fa, qa = self._image_of(self.swipe_a.currentData())
        fb, qb = self._image_of(self.swipe_b.currentData())
        if fa is None or fb is None:
            self.swipe.set_pair(None, None)
            return
        from mffgui.gui.compare_worker import fused_qimage

        self.swipe.set_pair(
            qa if qa is not None else fused_qimage(fa),
            qb if qb is not None else fused_qimage(fb),
            (self.swipe_a.currentText(), self.swipe_b.currentText()),
        )
        self.swipe.set_region(self.region_rect)

    def _update_diff(self, *_args: object) -> None:
        ca, cb = self.diff_a.currentData(), self.diff_b.currentData()
        fa, _ = self._image_of(ca)
        fb, _ = self._image_of(cb)
        self.diff_gain.setEnabled(self.diff_mode.currentData() == "abs")
        if fa is None or fb is None:
            self.diff.set_image(None)
            self.diff_info.setText("")
            return
        if self.diff_mode.currentData() == "decision":
            if ca[0] != "result" or cb[0] != "result":
                self.diff.set_image(None)
                self.diff_info.setText("Decision maps exist for results only")
                return
            ra = self.outcomes[ca[1]].result
            rb = self.outcomes[cb[1]].result
            pair = len(self.data.stack) == 2 if self.data is not None else False
            img, frac = disagreement_image(
                ra.index_map,
                rb.index_map,
                ra.decision_map if pair else None,
                rb.decision_map if pair else None,
            )
            from mffgui.gui.convert import LUTS, apply_lut

            self.diff.set_image(apply_lut(img, LUTS["viridis"]()))
            self.diff_info.setText(f"{frac:.1%} of the pixels come from different frames")
        else:
            d = difference_image(fa, fb, self.diff_gain.value())
            self.diff.set_image(d)
            self.diff_info.setText(
                f"max |A − B| = {d.max() / 255 / self.diff_gain.value():.3f}"
                if d.max() < 255
                else f"white = difference ≥ {1 / self.diff_gain.value():.3f}"
            )
        self.diff.set_region(self.region_rect)

    # ------------------------------------------------------------------ metrics
    def _fill_table(self) -> None:
        labels = [label for label in self.order if label in self.outcomes]
        scores = self.region.scores if self.region is not None else None
        rows = []
        for label in labels:
            o = self.outcomes[label]
            s = o.scores if scores is None else scores.get(label, {})
            rows.append((label, s, o.seconds, o.error))
        metrics = (
            self.region.request.metrics
            if self.region is not None
            else self._request.metrics
            if self._request is not None
            else ()
        )
        self.table.set_rows(rows, metrics)

    @Slot(int, int, int, int)
    def _on_region_drawn(self, x: int, y: int, w: int, h: int) -> None:
        self.select_region((x, y, w, h))

    def select_region(self, rect: tuple[int, int, int, int]) -> bool:
        """Score every result inside ``rect = (x, y, w, h)`` (image pixels) in the background."""
        self.region_rect = tuple(int(v) for v in rect)  # type: ignore[assignment]
        for v in self.all_views():
            v.set_region(self.region_rect)
        ok = [o for o in self.outcomes.values() if o.ok]
        if self.data is None or not ok:
            return False
        self._region_gen += 1
        if self._region_token is not None:
            self._region_token.cancel()
        token = CancelToken()
        self._region_token = token
        req = RegionRequest(self._region_gen, self.region_rect, self.metrics())
        data, runs = self.data, tuple(ok)
        worker = TaskWorker(
            lambda p, c: run_region_scores(req, data, runs, p, c),
            req.generation,
            token,
            "region metrics",
        )
        worker.resultReady.connect(self._on_region_done)
        worker.failed.connect(self._on_region_failed)
        x, y, w, h = self.region_rect
        self.scope_label.setText(f"Scoring region {w}×{h} at ({x}, {y})…")
        self._runner.start(worker)
        return True

    @Slot(int, int)
    def _on_region_done(self, gen: int, key: int) -> None:
        res = take(key)
        if gen != self._region_gen or res is None:
            return
        self.region = res
        x, y, w, h = res.request.rect
        self.scope_label.setText(f"Region {w}×{h} pixels at ({x}, {y})")
        self._fill_table()
        self.regionScored.emit()

    @Slot(int, str)
    def _on_region_failed(self, gen: int, msg: str) -> None:
        if gen != self._region_gen:
            return
        self.scope_label.setText("Whole image")
        self._error(msg)

    def clear_region(self) -> None:
        """Back to whole-image metrics."""
        self._region_gen += 1
        self.region = None
        self.region_rect = None
        for v in self.all_views():
            v.set_region(None)
        self.scope_label.setText("Whole image")
        self._fill_table()

    # ------------------------------------------------------------------ report
    def export_dialog(self) -> None:
        """Ask for a folder and export the report there."""
        from mffgui.settings import start_folder

        settings = getattr(self.parent(), "settings", None)
        remembered = getattr(settings, "report_folder", "") or self._report_folder
        start = start_folder(remembered, [p for p, _ in self.frames])
        folder = QFileDialog.getExistingDirectory(
            self, "Export the comparison into a folder", start
        )
        if folder:
            self._report_folder = folder
            if settings is not None:
                settings.report_folder = folder  # saved with the main window's settings
            self.export_report(Path(folder))

    def export_report(self, folder: Path) -> bool:
        """Write the report (see :func:`~mffgui.gui.compare_worker.write_report`) in the
        background; ``exported`` is emitted with the written paths."""
        if self._request is None or self.data is None or self.running:
            self._error("Nothing to export yet: run the comparison first.")
            return False
        from mffgui.gui.compare_worker import CompareOutcome

        runs = tuple(self.outcomes[label] for label in self.order if label in self.outcomes)
        outcome = CompareOutcome(self._request, self.data, runs)
        region = self.region
        worker = TaskWorker(
            lambda p, c: write_report(outcome, runs, folder, p, c, region),
            0,
            CancelToken(),
            "report export",
        )
        worker.resultReady.connect(self._on_exported)
        worker.failed.connect(self._on_export_failed)
        self.exporting = True
        self._update_actions()
        self._runner.start(worker)
        return True

    @Slot(int, int)
    def _on_exported(self, _gen: int, key: int) -> None:
        written = take(key)
        self.exporting = False
        self._update_actions()
        if written:
            self.statusBar().showMessage(
                f"Saved {len(written)} files to {Path(written[0]).parent}", 10000
            )
        self.exported.emit(written)

    @Slot(int, str)
    def _on_export_failed(self, _gen: int, msg: str) -> None:
        self.exporting = False
        self._update_actions()
        self._error(msg)

    # ------------------------------------------------------------------ misc
    def _error(self, msg: str) -> None:
        self.last_error = msg
        self.statusBar().showMessage(msg.splitlines()[0], 15000)
        if self.isVisible():
            box = QMessageBox(
                QMessageBox.Icon.Warning, "mffgui", msg, QMessageBox.StandardButton.Ok, self
            )
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel work and wait for the worker threads."""
        self._runner.shutdown()
        super().closeEvent(event)


def open_compare(main: Any) -> CompareWindow | None:
    """Open (or bring up) the compare window for the main window's included sources."""
    c = main.controller
    inc = c.included_sources
    if len(inc) < 2:
        main.show_error("Compare needs a stack of at least two included images; open one first.")
        return None
    params = dict(c.params)
    try:
        if main.method_panel.method:
            params[main.method_panel.method] = main.method_panel.params()
    except MffError:
        pass
    frames = tuple(s.key for s in inc)
    metas = tuple(s.meta for s in inc if s.meta is not None)
    win: CompareWindow | None = getattr(main, "_compare_window", None)
    try:
        if win is not None:
            win.isVisible()  # raises when the C++ window is gone
    except RuntimeError:
        win = None
    devices = getattr(main, "devices", None)
    if win is None:
        win = CompareWindow(frames, metas, params, device=c.device, parent=main, devices=devices)
        main._compare_window = win
    else:
        if (win.frames, win.metas) != (frames, metas):
            win.set_stack(frames, metas, None, params)
        if not win.running:
            win.set_devices(devices, c.device)
    win.show()
    win.raise_()
    win.activateWindow()
    return win


def compare_action(main: Any) -> QAction:
    """The main window's ``Compare methods…`` action (Ctrl+K), opening :class:`CompareWindow`."""
    a = QAction("&Compare methods…", main)
    a.setShortcut(QKeySequence("Ctrl+K"))
    a.setToolTip("Fuse the stack with several methods and compare the results (Ctrl+K)")
    a.setStatusTip("Fuse the stack with several methods and compare the results")
    a.triggered.connect(lambda _c=False: open_compare(main))
    main.addAction(a)
    main.act_compare = a
    return a


__all__ = ["CompareWindow", "compare_action", "find_ground_truth", "open_compare"]


def render_screenshot(
    out: Path,
    inputs: Sequence[str],
    methods: Sequence[str],
    size: tuple[int, int] = (1500, 950),
    region: tuple[int, int, int, int] | None = None,
    timeout: float = 600.0,
) -> bool:
    """Render the compare window on a real stack offscreen into ``out`` (for the docs).

    ``python -m mffgui.gui.compare_window OUT.png INPUT... [--methods a,b] [--region x,y,w,h]``
    """
    import time

    from PySide6.QtWidgets import QApplication

    from mffgui.io import discover

    app = QApplication.instance() or QApplication([])
    disc = discover(list(inputs))
    win = CompareWindow(disc.frames, disc.metas)
    win.resize(*size)
    win.show()
    win.set_checked(list(methods))
    win.run()
    t0 = time.monotonic()
    while win.running and time.monotonic() - t0 < timeout:
        app.processEvents()
        time.sleep(0.02)
    if win.state != "done":
        return False
    if region is not None:
        win.select_region(region)
        while win.region is None and time.monotonic() - t0 < timeout:
            app.processEvents()
            time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    ok = win.grab().save(str(out))
    win.close()
    return bool(ok)


if __name__ == "__main__":  # pragma: no cover - docs helper
    import argparse
    import os
    import sys
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MFFGUI_CONFIG_DIR", tempfile.mkdtemp(prefix="mffgui-shot-"))
    ap = argparse.ArgumentParser(description="Screenshot of the compare window")
    ap.add_argument("out")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--methods", default=",".join(FAST_DEFAULTS))
    ap.add_argument("--region", default="")
    ap.add_argument("--theme", default="dark", choices=("dark", "light"))
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    from mffgui.gui.style.palettes import apply_theme

    apply_theme(QApplication.instance() or QApplication(sys.argv[:1]), args.theme)
    reg = tuple(int(v) for v in args.region.split(",")) if args.region else None
    sys.exit(
        0
        if render_screenshot(Path(args.out), args.inputs, args.methods.split(","), region=reg)
        else 1
    )  # type: ignore[arg-type]
