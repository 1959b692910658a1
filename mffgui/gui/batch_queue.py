"""The app's batch queue: many stacks (folders) fused with the current method on the batch
engine (:mod:`mffgui.batch`, an embedded Dask cluster when installed), in a background thread.

The window lists each stack with its state (queued, running, done, failed, skipped,
cancelled), seconds and output or error; *Cancel all* cancels every queued task, *Retry failed*
runs the failed and cancelled ones again, *Open result* opens the selected output in the main
window. The engine runs on a plain Python thread; its callbacks reach the GUI through queued
signals, so the window never blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mffgui.batch import BatchJob, BatchRunner, StackResult, dask_available

if TYPE_CHECKING:
    from mffgui.gui.main_window import MainWindow

__all__ = ["BatchQueueWindow", "batch_action", "job_from_main", "open_batch"]

COLUMNS = ["Stack", "State", "Seconds", "Output / error"]


class _Bridge(QObject):
    """Carries engine callbacks (any thread) to the GUI thread as queued signals."""

    result = Signal(object)
    started = Signal(object)
    finished = Signal(object)


class BatchQueueWindow(QWidget):
    """A queue of stacks fused on the batch engine.

    Parameters
    ----------
    job : BatchJob
        Method, parameters and alignment for every stack.
    out_dir : path, optional
        Output folder (asked for on *Start* when missing).
    workers : int, optional
        Worker processes of the embedded cluster (default: the machine's cores).
    use_dask : bool, optional
        Default: whether dask is installed.
    main : MainWindow, optional
        The main window (for *Open result*: ``main.open_paths([file])``).
    """

    batchFinished = Signal(list)
    """Emitted with the list of :class:`StackResult` when a run ends."""

    def __init__(
        self,
        job: BatchJob,
        out_dir: str | Path | None = None,
        *,
        workers: int | None = None,
        use_dask: bool | None = None,
        main: MainWindow | None = None,
    ) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle("Batch queue — mffgui")
        self.resize(760, 420)
        self.job = job
        self.out_dir = Path(out_dir) if out_dir else None
        self.main = main
        self._workers = workers
        self._use_dask = dask_available() if use_dask is None else use_dask
        self._runner: BatchRunner | None = None
        self._thread: threading.Thread | None = None
        self.stacks: list[Path] = []
        self.results: dict[str, StackResult] = {}
        self._bridge = _Bridge()
        self._bridge.result.connect(self._on_result)
        self._bridge.started.connect(self._on_started)
        self._bridge.finished.connect(self._on_finished)
        self._build()

    # --- widgets ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _i: self.open_result())
        self.progress = QProgressBar(self)
        self.status = QLabel("", self)
        self.btn_add = QPushButton("Add folders…", self)
        self.btn_start = QPushButton("Start", self)
        self.btn_cancel = QPushButton("Cancel all", self)
        self.btn_retry = QPushButton("Retry failed", self)
        self.btn_open = QPushButton("Open result", self)
        self.btn_add.clicked.connect(self._ask_folders)
        self.btn_start.clicked.connect(lambda _c=False: self.start())
        self.btn_cancel.clicked.connect(self.cancel_all)
        self.btn_retry.clicked.connect(lambda _c=False: self.retry_failed())
        self.btn_open.clicked.connect(lambda _c=False: self.open_result())
        buttons = QHBoxLayout()
        for b in (self.btn_add, self.btn_start, self.btn_cancel, self.btn_retry, self.btn_open):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self._update_buttons()

    @property
    def running(self) -> bool:
        """Whether a run is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def _update_buttons(self) -> None:
        busy = self.running
        states = [r.status for r in self.results.values()]
        self.btn_add.setEnabled(not busy)
        self.btn_start.setEnabled(not busy and any(s == "queued" for s in states))
        self.btn_cancel.setEnabled(busy)
        self.btn_retry.setEnabled(not busy and any(s in ("failed", "cancelled") for s in states))
        self.btn_open.setEnabled(bool(self.selected_output()))

    def _row_of(self, name: str) -> int:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text() == name:
                return row
        return -1

    def _show(self, res: StackResult) -> None:
        self.results[res.stack] = res
        row = self._row_of(res.stack)
        if row < 0:
            row = self.table.rowCount()
            self.table.insertRow(row)
        detail = res.error if res.status in ("failed", "cancelled") else res.output
        for col, text in enumerate(
            (res.stack, res.status, f"{res.seconds:.1f}" if res.seconds else "", detail)
        ):
            item = QTableWidgetItem(text)
            if col == 3:
                item.setToolTip(text)
            self.table.setItem(row, col, item)
        finished = sum(r.status not in ("queued", "running") for r in self.results.values())
        self.progress.setMaximum(max(1, len(self.results)))
        self.progress.setValue(finished)
        self._update_buttons()

    # --- queue -----------------------------------------------------------------------------

    def add_stacks(self, folders: Sequence[str | Path]) -> None:
        """Queue ``folders`` (each one stack); ones already queued are ignored."""
        for f in folders:
            p = Path(f)
            if p.name in self.results:
                continue
            self.stacks.append(p)
            self._show(StackResult(stack=p.name, input=str(p)))

    def _ask_folders(self) -> None:
        root = QFileDialog.getExistingDirectory(self, "Folder whose sub-folders are stacks")
        if root:
            from mffgui.batch import discover_stacks
            from mffgui.errors import MffError

            try:
                self.add_stacks(discover_stacks(root))
            except MffError as err:
                self.status.setText(str(err))

    def selected_output(self) -> str:
        """The output file of the selected row, when it is done."""
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) != 1:
            return ""
        name = self.table.item(rows.pop(), 0).text()
        res = self.results.get(name)
        return res.output if res is not None and res.status in ("done", "skipped") else ""

    def start(self, names: Sequence[str] | None = None) -> bool:
        """Run the queued stacks (or ``names``) in the background; ``False`` if nothing to do."""
        if self.running:
            return False
        if self.out_dir is None:
            chosen = QFileDialog.getExistingDirectory(self, "Output folder")
            if not chosen:
                return False
            self.out_dir = Path(chosen)
        wanted = (
            set(names)
            if names is not None
            else {n for n, r in self.results.items() if r.status == "queued"}
        )
        todo = [p for p in self.stacks if p.name in wanted]
        if not todo:
            return False
        for p in todo:
            self._show(StackResult(stack=p.name, input=str(p)))
        if self._runner is None:
            self._runner = BatchRunner(
                self.job, self.out_dir, use_dask=self._use_dask, workers=self._workers
            )
        runner, bridge = self._runner, self._bridge

        def work() -> None:
            results: list[StackResult] = []
            try:
                bridge.started.emit(runner.start())
                results = runner.run(todo, on_result=bridge.result.emit)
            except Exception as err:
                for p in todo:
                    results.append(
                        StackResult(
                            stack=p.name,
                            input=str(p),
                            status="failed",
                            error=f"{type(err).__name__}: {err}",
                        )
                    )
                    bridge.result.emit(results[-1])
            bridge.finished.emit(results)

        self._thread = threading.Thread(target=work, name="mffgui-batch", daemon=True)
        self.status.setText(f"Starting {len(todo)} stack(s)…")
        self._thread.start()
        self._update_buttons()
        return True

    def cancel_all(self) -> None:
        """Cancel every queued task (running ones finish)."""
        if self._runner is not None:
            self._runner.cancel()
            self.status.setText("Cancelling…")

    def retry_failed(self) -> bool:
        """Run the failed and cancelled stacks again."""
        names = [n for n, r in self.results.items() if r.status in ("failed", "cancelled")]
        return bool(names) and self.start(names)

    def open_result(self) -> None:
        """Open the selected stack's output in the main window."""
        out = self.selected_output()
        if out and self.main is not None:
            self.main.open_paths([out])

    @Slot(object)
    def _on_started(self, info: Any) -> None:
        where = "in this process" if info.kind == "serial" else f"on {info.workers} worker(s)"
        dash = f" — dashboard {info.dashboard}" if info.dashboard else ""
        self.status.setText(f"Fusing {where}{dash}")

    @Slot(object)
    def _on_result(self, res: StackResult) -> None:
        self._show(res)

    @Slot(object)
    def _on_finished(self, results: list[StackResult]) -> None:
        if self._thread is not None:
            self._thread.join(5)
        self._thread = None
        failed = sum(r.status == "failed" for r in results)
        done = sum(r.status == "done" for r in results)
        self.status.setText(
            f"{done} fused, {failed} failed"
            + (f" — results in {self.out_dir}" if self.out_dir else "")
        )
        self._update_buttons()
        self.batchFinished.emit(list(results))

    def closeEvent(self, event: Any) -> None:
        """Cancel a run and shut the embedded cluster down."""
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel, wait for the engine thread and close the cluster."""
        if self._runner is not None:
            self._runner.cancel()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._runner is not None:
            self._runner.close()
            self._runner = None


def job_from_main(main: MainWindow) -> BatchJob:
    """The :class:`BatchJob` of the main window's method, parameters, device and alignment."""
    panel = main.method_panel
    if not panel.methods:
        main.load_methods()
    name = panel.method
    values = dict(panel.values()) if name else {}
    device = values.pop("device", None)
    if device is not None:
        device = panel.device_choice or str(device)
    sets = tuple((k, str(v)) for k, v in values.items() if v is not None and v != "")
    align = panel.align_choice or "none"
    return BatchJob(
        method=name or None,
        sets=sets,
        device=device,
        align=align,
        align_interpolation=panel.align_interpolation,
        align_crop=panel.align_crop,
    )


def open_batch(main: MainWindow, folders: Sequence[str | Path] = ()) -> BatchQueueWindow:
    """Open (or bring up) the batch queue with the main window's settings; queue ``folders``."""
    win = main.batch_window
    if win is None:
        win = BatchQueueWindow(job_from_main(main), main=main)
        main.batch_window = win
    win.add_stacks(folders)
    win.show()
    win.raise_()
    return win


def batch_action(main: MainWindow) -> QAction:
    """The main window's ``Batch…`` action: a queue of stack folders."""
    a = QAction("&Batch…", main)
    a.setStatusTip("Fuse many stacks (one folder each) with the current method")
    a.triggered.connect(lambda _c=False: open_batch(main))
    main.addAction(a)
    return a
