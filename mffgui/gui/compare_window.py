"""The compare window: fuse one stack with several methods and compare the results.

Runs (method + parameters) are picked on the left; the results appear in a grid with linked
zoom and pan, a swipe view, a difference view and a metrics table
(:class:`~mffgui.gui.widgets.compare_centre.CompareCentre`). Drawing a rectangle on any view
scores every result inside it. What the comparison holds and which answer is stale is
:class:`mffgui.compare_state.CompareState` (Qt-free); this module builds the widgets, starts the
workers and shows what the state says. All fusion, scoring, difference pictures and export
happen on worker threads (:mod:`mffgui.gui.compare_worker`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QWidget,
)

from mffgui.compare_state import (
    CompareState,
    Rect,
    find_ground_truth,
)
from mffgui.core.progress import CancelToken
from mffgui.core.runs import RunState
from mffgui.errors import MffError
from mffgui.gui.compare_centre import CompareCentre
from mffgui.gui.compare_worker import (
    CompareOutcome,
    CompareRequest,
    CompareRun,
    CompareWorker,
    RegionRequest,
    RegionScores,
    RunOutcome,
    run_region_scores,
    write_report,
)
from mffgui.gui.tasks import TaskRunner, TaskWorker, take
from mffgui.gui.widgets.compare_runs import RunPanel
from mffgui.gui.widgets.compare_toolbar import CompareToolbar
from mffgui.gui.worker import FrameKey
from mffgui.types import ImageMeta

if TYPE_CHECKING:
    from mffgui.gui.main_window import MainWindow
    from mffgui.methods.base import Params
    from mffgui.settings import AppSettings


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
    settings : AppSettings, optional
        The main window's settings, where the report folder is remembered.

    Signals
    -------
    stateChanged(str)
        ``idle``, ``running``, ``cancelling``, ``done``, ``cancelled`` or ``failed``.
    regionScored()
        The table now shows region scores.
    differenceShown()
        The difference view shows the picture of the newest choice.
    exported(object)
        Tuple of the paths a report export wrote.
    """

    stateChanged = Signal(str)
    regionScored = Signal()
    differenceShown = Signal()
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
        settings: AppSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("mffgui — compare methods")
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.comparison = CompareState(device)
        """What the comparison holds (results, region, requests); Qt-free."""
        self.last_error = ""
        self.exporting = False
        self.settings = settings
        """The main window's settings: the report folder is remembered there."""
        self.report_folder = ""
        """The folder of the last report."""
        self._runner = TaskRunner(self)
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
        self.runs_panel = RunPanel()
        self.runs_panel.errorOccurred.connect(self._error)
        self.runs_panel.deviceChanged.connect(self._on_device_chosen)
        # Centre: grid / swipe / difference, the metrics table below.
        self.centre = c = CompareCentre(self.comparison, self._runner)
        c.regionSelected.connect(self._on_region_drawn)
        c.differenceShown.connect(self.differenceShown)
        c.clear_region_button.clicked.connect(self.clear_region)
        self.grid, self.tabs, self.table, self.scope_label = c.grid, c.tabs, c.table, c.scope_label
        self.swipe, self.swipe_a, self.swipe_b = c.swipe, c.swipe_a, c.swipe_b
        self.diff, self.diff_a, self.diff_b = c.diff, c.diff_a, c.diff_b
        self.diff_mode, self.diff_gain, self.diff_info = c.diff_mode, c.diff_gain, c.diff_info
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(self.runs_panel)
        main.addWidget(c)
        main.setStretchFactor(1, 1)
        main.setSizes([300, 1100])
        self.setCentralWidget(main)
        self.toolbar = tb = CompareToolbar(self)
        self.addToolBar(tb)
        self.act_run, self.act_cancel, self.act_export = tb.act_run, tb.act_cancel, tb.act_export
        self.act_region, self.act_fit = tb.act_region, tb.act_fit
        self.metric_actions = tb.metric_actions
        tb.act_run.triggered.connect(self.run)
        tb.act_cancel.triggered.connect(self.cancel)
        tb.act_export.triggered.connect(self.export_dialog)
        tb.act_region.triggered.connect(c.set_region_tool)
        tb.act_fit.triggered.connect(c.fit)
        sb = self.statusBar()
        self.stage_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(False)
        sb.addPermanentWidget(self.stage_label)
        sb.addPermanentWidget(self.progress)
        self.resize(1500, 950)
        self.progress.hide()
        self.stage_label.hide()
        self._update_actions()

    # ------------------------------------------------------------------ state, read-only
    @property
    def frames(self) -> tuple[FrameKey, ...]:
        """The stack's frames ``(path, page)``."""
        return self.comparison.frames

    @property
    def metas(self) -> tuple[ImageMeta, ...]:
        """The frames' headers."""
        return self.comparison.metas

    @property
    def ground_truth(self) -> Path | None:
        """The reference image for PSNR/SSIM, if any."""
        return self.comparison.ground_truth

    @property
    def device(self) -> str:
        """Device for network methods."""
        return self.comparison.device

    @property
    def state(self) -> RunState:
        """State of the newest comparison."""
        return self.comparison.state

    @property
    def running(self) -> bool:
        """Whether a comparison is in progress."""
        return self.comparison.running

    @property
    def outcomes(self) -> dict[str, RunOutcome]:
        """Run label -> outcome of the newest comparison."""
        return self.comparison.outcomes

    @property
    def order(self) -> list[str]:
        """Run labels in display order."""
        return self.comparison.order

    @property
    def region(self) -> RegionScores | None:
        """Scores inside the drawn region (``None``: whole image)."""
        return self.comparison.region

    @property
    def region_rect(self) -> Rect | None:
        """The drawn region ``(x, y, w, h)``."""
        return self.comparison.region_rect

    @property
    def diff_busy(self) -> bool:
        """Whether a difference picture is being computed."""
        return self.comparison.differences.pending

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
        self.comparison.set_stack(frames, metas, ground_truth)
        gt = self.comparison.ground_truth
        self.runs_panel.gt_label.setText(
            f"Ground truth: {gt.name} (PSNR, SSIM)"
            if gt
            else "No ground truth (a file with 'groundtruth' in its name next to the frames adds "
            "PSNR and SSIM)"
        )
        self.runs_panel.set_methods(list_methods(), params)
        self.centre.clear()
        self._update_actions()

    def set_devices(self, available: Sequence[str] | None, device: str | None = None) -> None:
        """Disable the devices not in ``available`` (``"cpu"``, ``"cuda"``, ``"mps"``; ``None``
        leaves all enabled) and choose ``device`` if it is available, else Auto (``None``: keep
        the current one)."""
        editor = self.runs_panel.editor
        if available is not None:
            editor.set_available_devices(list(available))
        if device is not None:
            editor.set_device(device)
        self.comparison.device = editor.device_choice

    def _on_device_chosen(self, device: str) -> None:
        self.comparison.device = device

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
        return self.toolbar.metrics()

    # ------------------------------------------------------------------ running
    def run(self) -> bool:
        """Fuse with every ticked run in the background (a running comparison is cancelled)."""
        runs = self.runs()
        why = self.comparison.cannot_run(len(runs))
        if why:
            self._error(why)
            return False
        st = self.comparison
        gen, token = st.start([r.label for r in runs])
        st.request = request = CompareRequest(
            gen, st.frames, st.metas, tuple(runs), self.metrics(), st.ground_truth, st.device
        )
        self.centre.clear()
        self.grid.set_labels(st.order)
        worker = CompareWorker(request, token)
        worker.progressed.connect(self._on_progress)
        worker.runReady.connect(self._on_run_ready)
        worker.resultReady.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._set_state(st.state)
        self._on_progress(gen, 0.0, f"Comparing {len(runs)} runs")
        self._runner.start(worker)
        return True

    def cancel(self) -> None:
        """Stop the running comparison (finished runs stay)."""
        if self.comparison.runs.cancel():
            self._set_state(self.comparison.state)

    @Slot(int, float, str)
    def _on_progress(self, gen: int, frac: float, stage: str) -> None:
        if not self.comparison.runs.accepts_progress(gen):
            return
        self.progress.setValue(int(frac * 1000))
        self.stage_label.setText(stage)
        target = self.comparison.progress_target(frac, stage)
        tile = self.grid.tiles.get(target[0]) if target is not None else None
        if target is not None and tile is not None:
            tile.set_progress(target[1], target[2])

    @Slot(int, int)
    def _on_run_ready(self, gen: int, key: int) -> None:
        item = take(key)
        if item is None or not self.comparison.accept_run(gen, *item):
            return
        out: RunOutcome = item[0]
        tile = self.grid.tiles.get(out.run.label)
        if tile is not None:
            tile.set_result(
                out.image, f"{out.run.method}: {out.run.params_text()}", out.seconds, out.error
            )
            if self.region_rect is not None:
                tile.view.set_region(self.region_rect)
        self.centre.relink()
        self.centre.refresh_choices()
        self._fill_table()

    @Slot(int, int)
    def _on_done(self, gen: int, key: int) -> None:
        take(key)
        state = self.comparison.finish(gen)
        if state is None:
            return
        if state == "cancelled":
            self._report_cancelled()
            return
        self._set_state(state)
        failed = self.comparison.failed
        note = f"; {len(failed)} failed" if failed else ""
        self.statusBar().showMessage(f"Compared {len(self.outcomes)} runs{note}", 8000)
        if self.region_rect is not None:
            self.select_region(self.region_rect)

    @Slot(int, str)
    def _on_failed(self, gen: int, msg: str) -> None:
        if self.comparison.runs.fail(gen):
            self._set_state(self.comparison.state)
            self._error(msg)

    @Slot(int)
    def _on_cancelled(self, gen: int) -> None:
        if self.comparison.runs.cancelled(gen):
            self._report_cancelled()

    def _report_cancelled(self) -> None:
        self._set_state(self.comparison.state)
        self.statusBar().showMessage(
            f"Comparison cancelled; {len(self.outcomes)} runs finished", 8000
        )

    def _set_state(self, state: RunState) -> None:
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
            self.comparison.has_results and not self.running and not self.exporting
        )

    # ------------------------------------------------------------------ views
    def set_swipe(self, a: str, b: str) -> None:
        """Swipe between the choices whose combo texts are ``a`` (left) and ``b`` (right)."""
        self.centre.set_swipe(a, b)

    # ------------------------------------------------------------------ metrics
    def _fill_table(self) -> None:
        self.table.set_rows(self.comparison.table_rows(), self.comparison.table_metrics())

    @Slot(int, int, int, int)
    def _on_region_drawn(self, x: int, y: int, w: int, h: int) -> None:
        self.select_region((x, y, w, h))

    def select_region(self, rect: Rect) -> bool:
        """Score every result inside ``rect = (x, y, w, h)`` (image pixels) in the background."""
        started = self.comparison.start_region(rect)
        self.centre.set_region(self.region_rect)
        if started is None or self.region_rect is None or self.comparison.data is None:
            return False
        gen, token = started
        req = RegionRequest(gen, self.region_rect, self.metrics())
        data, runs = self.comparison.data, tuple(o for o in self.outcomes.values() if o.ok)
        worker = TaskWorker(
            lambda p, c: run_region_scores(req, data, runs, p, c), gen, token, "region metrics"
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
        if not self.comparison.accept_region(gen, res):
            return
        x, y, w, h = res.request.rect
        self.scope_label.setText(f"Region {w}×{h} pixels at ({x}, {y})")
        self._fill_table()
        self.regionScored.emit()

    @Slot(int, str)
    def _on_region_failed(self, gen: int, msg: str) -> None:
        if self.comparison.region_failed(gen):
            self.scope_label.setText("Whole image")
            self._error(msg)

    def clear_region(self) -> None:
        """Back to whole-image metrics."""
        self.comparison.clear_region()
        self.centre.set_region(None)
        self.scope_label.setText("Whole image")
        self._fill_table()

    # ------------------------------------------------------------------ report
    def export_dialog(self) -> None:
        """Ask for a folder and export the report there."""
        from mffgui.settings import start_folder

        settings = self.settings
        remembered = (settings.report_folder if settings is not None else "") or self.report_folder
        start = start_folder(remembered, [p for p, _ in self.frames])
        folder = QFileDialog.getExistingDirectory(
            self, "Export the comparison into a folder", start
        )
        if folder:
            self.report_folder = folder
            if settings is not None:
                settings.report_folder = folder  # saved with the main window's settings
            self.export_report(Path(folder))

    def export_report(self, folder: Path) -> bool:
        """Write the report (see :func:`~mffgui.gui.compare_worker.write_report`) in the
        background; ``exported`` is emitted with the written paths."""
        request, data = self.comparison.request, self.comparison.data
        if request is None or data is None or self.running:
            self._error("Nothing to export yet: run the comparison first.")
            return False
        runs = self.comparison.finished_runs()
        outcome = CompareOutcome(request, data, runs)
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


def open_compare(main: MainWindow) -> CompareWindow | None:
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
    win = main.compare_window
    try:
        if win is not None:
            win.isVisible()  # raises when the C++ window is gone
    except RuntimeError:
        win = None
    devices = main.devices
    if win is None:
        win = CompareWindow(
            frames,
            metas,
            params,
            device=c.device,
            parent=main,
            devices=devices,
            settings=main.settings,
        )
        main.compare_window = win
    else:
        if (win.frames, win.metas) != (frames, metas):
            win.set_stack(frames, metas, None, params)
        if not win.running:
            win.set_devices(devices, c.device)
    win.show()
    win.raise_()
    win.activateWindow()
    return win


def compare_action(main: MainWindow) -> QAction:
    """The main window's ``Compare methods…`` action (Ctrl+K), opening :class:`CompareWindow`."""
    a = QAction("&Compare methods…", main)
    a.setShortcut(QKeySequence("Ctrl+K"))
    a.setToolTip("Fuse the stack with several methods and compare the results (Ctrl+K)")
    a.setStatusTip("Fuse the stack with several methods and compare the results")
    a.triggered.connect(lambda _c=False: open_compare(main))
    main.addAction(a)
    return a


__all__ = ["CompareWindow", "compare_action", "find_ground_truth", "open_compare"]


if __name__ == "__main__":  # pragma: no cover - docs helper
    import sys

    from mffgui.gui.compare_screenshot import main as _screenshot

    sys.exit(_screenshot())
