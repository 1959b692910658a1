"""The Train dialog: fine-tune GACN or Fusion2Void on the user's own images.

Training runs in a separate process (``python -m mffgui.training <arch> ... --jsonl``, through
:class:`QProcess`), so a crash or an out-of-memory GPU never takes the app down. The dialog
reads the trainer's JSON-lines events (``start``, ``step``, ``epoch``, ``checkpoint``,
``stopped``, ``done``; see :mod:`mffgui.training.common`) and shows the epoch/step, the time left, a
live loss curve, the validation metrics, and after every epoch a small preview fused by the
latest checkpoint (in a worker thread). Stop sends ``stop`` on the process's stdin; the trainer
saves and exits. A stopped, failed or killed run resumes from its last checkpoint
(``--resume``). Finished (or explicitly saved) weights go to the user's weights library
(:mod:`mffgui.user_weights`) and appear as variants of the network method.

Runs live in :func:`mffgui.user_weights.runs_dir` with a JSON side file (network, date, epoch,
the dialog's settings), so *Previous runs* can resume a run of an earlier session (stopped,
crashed, or cut short by closing the app) and delete the runs that finished and were saved.
Opened from the main window, the data is pre-filled with the folder(s) of the loaded stack, so
Start works at once. Closing the app during a run sends Stop and waits a few seconds (the
event loop keeps running) for the trainer to save.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QEventLoop,
    QPointF,
    QProcess,
    QProcessEnvironment,
    QRectF,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.core.progress import CancelToken
from mffgui.errors import MffError
from mffgui.gui.worker import TaskRunner, TaskWorker, take
from mffgui.user_weights import (
    TrainingRun,
    WeightsLibrary,
    delete_run,
    list_runs,
    read_run,
    runs_dir,
    write_run_info,
)

NETWORKS = (
    ("gacn", "GACN (supervised, synthetic pairs)"),
    ("fusion2void", "Fusion2Void (unsupervised, your stacks and/or sharp images)"),
)
PREVIEW_SIZE = 160
"""Longer side of the preview pair, in pixels (keeps the per-epoch preview fast on a CPU)."""
STOP_GRACE_MS = 120_000
"""How long Stop waits for the trainer to save before terminating it."""
STOP_ON_CLOSE_MS = 8_000
"""How long closing the dialog (or the app) waits for a stopped trainer to save."""
KILL_WAIT_MS = 2_000
"""How long to wait for the trainer after SIGTERM, then after SIGKILL, when closing."""


def task_defaults(arch: str) -> dict[str, Any]:
    """The trainer's defaults for ``arch`` (epochs, batch size, patch size, ...)."""
    from mffgui.training.api import task_defaults as defaults

    return defaults(arch)


def _training_root() -> Path:
    """Folder that makes ``import mffgui.training`` work in the child process."""
    import mffgui

    return Path(mffgui.__file__).resolve().parents[1]


# -- loss curve --------------------------------------------------------------------------------


class LossCurve(QWidget):
    """A live line plot of the training loss against the global step, drawn with QPainter.

    Attributes
    ----------
    points : list of (float, float)
        ``(global_step, loss)`` in arrival order.
    epochs : list of float
        Global steps at which epochs ended (drawn as vertical ticks).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[float, float]] = []
        self.epochs: list[float] = []
        self.setMinimumSize(320, 160)
        self.setToolTip("Training loss per logged step; ticks mark epoch ends")

    def add(self, x: float, y: float) -> None:
        """Append a point and repaint."""
        self.points.append((float(x), float(y)))
        self.update()

    def mark_epoch(self, x: float) -> None:
        """Mark the end of an epoch at global step ``x``."""
        self.epochs.append(float(x))
        self.update()

    def clear(self) -> None:
        """Forget all points."""
        self.points.clear()
        self.epochs.clear()
        self.update()

    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        fm = p.fontMetrics()
        ys_all = [q[1] for q in self.points] or [0.0]
        labels = (f"{max(ys_all):.4g}", f"{min(ys_all):.4g}")
        left = max(fm.horizontalAdvance(t) for t in (*labels, "0.0000")) + 8
        bottom, top, right = fm.height() + 6, 8, 10
        plot = QRectF(
            left, top, max(1, self.width() - left - right), max(1, self.height() - top - bottom)
        )
        fg = pal.text().color()
        grid = QColor(fg)
        grid.setAlpha(50)
        p.setPen(QPen(grid, 1))
        p.drawRect(plot)
        if not self.points:
            p.setPen(fg)
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "The loss curve appears here")
            p.end()
            return
        xs = np.array([q[0] for q in self.points])
        ys = np.array([q[1] for q in self.points])
        x0, x1 = float(xs.min()), float(xs.max())
        y0, y1 = float(ys.min()), float(ys.max())
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y0, y1 = y0 - 0.5 * abs(y0 or 1), y1 + 0.5 * abs(y1 or 1)

        def at(x: float, y: float) -> QPointF:
            return QPointF(
                plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                plot.bottom() - (y - y0) / (y1 - y0) * plot.height(),
            )

        for e in self.epochs:
            if x0 <= e <= x1:
                pt = at(e, y0)
                p.drawLine(QPointF(pt.x(), plot.top()), QPointF(pt.x(), plot.bottom()))
        path = QPainterPath(at(xs[0], ys[0]))
        for x, y in zip(xs[1:], ys[1:], strict=True):
            path.lineTo(at(x, y))
        p.setPen(QPen(pal.highlight().color(), 2))
        p.drawPath(path)
        if len(xs) == 1:
            p.drawEllipse(at(xs[0], ys[0]), 3, 3)
        p.setPen(fg)
        p.drawText(
            QRectF(0, plot.top() - 4, left - 4, fm.height()),
            Qt.AlignmentFlag.AlignRight,
            f"{y1:.4g}",
        )
        p.drawText(
            QRectF(0, plot.bottom() - fm.height() + 4, left - 4, fm.height()),
            Qt.AlignmentFlag.AlignRight,
            f"{y0:.4g}",
        )
        p.drawText(
            QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
            Qt.AlignmentFlag.AlignLeft,
            f"step {int(x0)}",
        )
        p.drawText(
            QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
            Qt.AlignmentFlag.AlignRight,
            f"step {int(x1)}",
        )
        p.end()


# -- folder list with drag & drop --------------------------------------------------------------


class FolderList(QListWidget):
    """A list of folders (or image files) that accepts drops from the file manager."""

    changed = Signal()

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setToolTip(placeholder + " — drop folders here or use Add")
        self.setMaximumHeight(90)

    def paths(self) -> list[str]:
        """The listed paths, in order."""
        return [self.item(i).text() for i in range(self.count())]

    def add_path(self, path: str | Path) -> None:
        """Add ``path`` unless it is listed already."""
        text = str(Path(path))
        if text not in self.paths():
            self.addItem(text)
            self.changed.emit()

    def remove_selected(self) -> None:
        """Remove the selected rows."""
        for item in self.selectedItems():
            self.takeItem(self.row(item))
        self.changed.emit()

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: Any) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        for u in urls:
            if Path(u).exists():
                self.add_path(u)
        event.acceptProposedAction()


def _folder_row(lst: FolderList, title: str) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(lst, 1)
    col = QVBoxLayout()
    add = QPushButton("Add…")
    rem = QPushButton("Remove")

    def browse() -> None:
        d = QFileDialog.getExistingDirectory(w, title)
        if d:
            lst.add_path(d)

    add.clicked.connect(browse)
    rem.clicked.connect(lst.remove_selected)
    col.addWidget(add)
    col.addWidget(rem)
    col.addStretch(1)
    lay.addLayout(col)
    return w


# -- preview -----------------------------------------------------------------------------------


def _small(img: np.ndarray, size: int = PREVIEW_SIZE) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = size / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(
        img, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA
    )


def preview_pair(val_dir: str, data_dirs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A small pair to preview the network on: the first validation pair, else a synthetic one.

    Returns
    -------
    a, b : ndarray, (h, w, 3) float32 in [0, 1]
        Longer side at most :data:`PREVIEW_SIZE`.

    Raises
    ------
    MffError
        No usable image.
    """
    from mffgui.core.synthetic import complementary_pair, half_mask
    from mffgui.io import read_image
    from mffgui.training.api import find_real_pairs, list_images

    if val_dir:
        _scene, pa, pb = find_real_pairs(val_dir)[0]
        a, b = (_small(read_image(p)[0]) for p in (pa, pb))
        if a.shape != b.shape:
            b = _small(b, max(a.shape[:2]))[: a.shape[0], : a.shape[1]]
        if a.shape == b.shape:
            return _rgb(a), _rgb(b)
    for path in list_images(data_dirs):
        img = _small(read_image(path)[0])
        mask = half_mask(img.shape[0], img.shape[1])
        a, b = complementary_pair(_rgb(img), mask, sigma=2.5)
        return a, b
    raise MffError("no image to preview the training on")


def _rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def fuse_preview(arch: str, weights: str, pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Fuse ``pair`` with the network ``arch`` and the checkpoint ``weights`` on the CPU.

    Returns
    -------
    ndarray, (h, w, 3) float32
    """
    import mffgui.methods  # noqa: F401 - registers the methods
    from mffgui.methods.registry import get_method
    from mffgui.pipeline import fuse_stack
    from mffgui.types import Stack

    method = get_method(arch)
    params = method.info.params.from_mapping({"weights": weights, "device": "cpu"})
    result = fuse_stack(Stack.from_arrays(list(pair), names=["A", "B"]), method, params)
    return np.asarray(result.fused, np.float32)


def _pixmap(img: np.ndarray) -> QPixmap:
    from mffgui.gui.convert import to_qimage, to_uint8

    return QPixmap.fromImage(to_qimage(to_uint8(img)))


# -- the dialog --------------------------------------------------------------------------------


class TrainingDialog(QDialog):
    """Train a fusion network on the user's data in a separate process.

    Parameters
    ----------
    parent : QWidget, optional
    library : WeightsLibrary, optional
        Where finished weights are saved (default: the user's library).
    folders : list of str, optional
        Folders to pre-fill as training data (e.g. the folder of the open stack).

    Signals
    -------
    stateChanged(str)
        ``idle``, ``running``, ``stopping``, ``stopped``, ``done``, ``failed``, ``crashed``.
    eventReceived(str)
        Name of every trainer event as it arrives.
    weightsSaved(str)
        Library id of weights just saved.
    previewUpdated(int)
        Epoch whose checkpoint the preview now shows.
    """

    stateChanged = Signal(str)
    eventReceived = Signal(str)
    weightsSaved = Signal(str)
    previewUpdated = Signal(int)

    def __init__(
        self,
        parent: QWidget | None = None,
        library: WeightsLibrary | None = None,
        folders: list[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a network on your data")
        self.library = library or WeightsLibrary()
        self.state = "idle"
        self.proc: QProcess | None = None
        self.run_path: Path | None = None
        self.run_arch = ""
        self.run_record: TrainingRun | None = None
        self._auto_folders: list[str] = []
        self._network_chosen = False  # the user picked a network: the stack does not switch it
        self.events: list[dict[str, Any]] = []
        self.loss_points: list[tuple[int, float]] = []
        self.val_history: list[dict[str, Any]] = []
        self.epoch = 0  # completed epochs
        self.step = 0
        self.total_epochs = 0
        self.steps_per_epoch = 0
        self.global_step = 0
        self.saved_entry_id = ""
        self.message = ""
        self._stdout_buf = b""
        self._stderr_tail: list[str] = []
        self._last_event = ""
        self._diverged: dict[str, Any] | None = None
        self._started_at = 0.0
        self._preview_pair: tuple[np.ndarray, np.ndarray] | None = None
        self._preview_busy = False
        self._preview_pending: tuple[str, int] | None = None
        self._runner = TaskRunner(self)
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self._stop_overdue)
        self._build()
        self._on_network()
        self.set_default_folders(folders or [])
        self.refresh_runs()
        self._set_state("idle")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.network = QComboBox()
        for key, text in NETWORKS:
            self.network.addItem(text, key)
        self.network.currentIndexChanged.connect(self._on_network)
        self.network.activated.connect(lambda _i: setattr(self, "_network_chosen", True))
        self.init_combo = QComboBox()
        self.init_combo.setToolTip(
            "Weights the training starts from (fine-tuning is much "
            "faster than training from scratch)"
        )
        self.init_edit = QLineEdit()
        self.init_edit.setPlaceholderText("checkpoint file (.pt / .pth)")
        init_browse = QToolButton()
        init_browse.setText("…")
        init_browse.clicked.connect(self._browse_init)
        self.init_combo.currentIndexChanged.connect(self._on_init_choice)
        init_row = QHBoxLayout()
        init_row.addWidget(self.init_combo, 1)
        init_row.addWidget(self.init_edit, 1)
        init_row.addWidget(init_browse)
        self.init_browse = init_browse

        self.sharp_list = FolderList(
            "Folders of sharp, in-focus images; the trainer makes synthetic focus pairs from them"
        )
        self.stacks_list = FolderList(
            "Folders of your focus stacks or pairs, one sub-folder per scene (Fusion2Void)"
        )
        self.val_edit = QLineEdit()
        self.val_edit.setPlaceholderText("optional: real pairs/stacks scored every epoch")
        val_browse = QToolButton()
        val_browse.setText("…")
        val_browse.clicked.connect(self._browse_val)
        val_row = QHBoxLayout()
        val_row.addWidget(self.val_edit, 1)
        val_row.addWidget(val_browse)

        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100_000)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0, 10_000)
        self.minutes.setDecimals(1)
        self.minutes.setSpecialValueText("no limit")
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Stop cleanly (with a checkpoint) after this much time")
        self.device = QComboBox()
        for key, text in (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA"), ("mps", "MPS")):
            self.device.addItem(text, key)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.batch = QSpinBox()
        self.batch.setRange(1, 1024)
        self.patch = QSpinBox()
        self.patch.setRange(16, 4096)
        self.patch.setSingleStep(16)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("auto")
        self.log_every = QSpinBox()
        self.log_every.setRange(1, 10_000)
        self.log_every.setValue(5)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. my microscope")
        self.notes_edit = QLineEdit()
        self.notes_edit.setPlaceholderText("optional notes (objective, sample, ...)")
        self.extra_edit = QLineEdit()
        self.extra_edit.setPlaceholderText("more trainer options, e.g. --lr 5e-4 --val-count 16")
        self.extra_edit.setToolTip("Passed to python -m mffgui.training as typed (see its --help)")
        self.keep_best = QCheckBox("Keep the best epoch (by validation) rather than the last")
        self.keep_best.setChecked(True)

        setup = QGroupBox("Setup")
        form = QFormLayout(setup)
        form.addRow("Network", self.network)
        form.addRow("Start from", init_row)
        form.addRow("Sharp images", _folder_row(self.sharp_list, "Folder of sharp images"))
        self.stacks_row = _folder_row(self.stacks_list, "Folder of stacks or pairs")
        self.stacks_label = QLabel("Stacks / pairs")
        form.addRow(self.stacks_label, self.stacks_row)
        self.data_hint = QLabel("")
        self.data_hint.setWordWrap(True)
        self.data_hint.setStyleSheet("color: #d08a1a")
        self.data_hint.setVisible(False)
        form.addRow(self.data_hint)
        for lst in (self.sharp_list, self.stacks_list):
            lst.changed.connect(self._update_data_hint)
        form.addRow("Validation", val_row)
        sched = QHBoxLayout()
        sched.addWidget(QLabel("Epochs"))
        sched.addWidget(self.epochs)
        sched.addWidget(QLabel("Time budget"))
        sched.addWidget(self.minutes)
        sched.addWidget(QLabel("Device"))
        sched.addWidget(self.device)
        form.addRow(sched)
        adv = QHBoxLayout()
        for label, w in (
            ("Steps/epoch", self.steps),
            ("Batch", self.batch),
            ("Patch", self.patch),
            ("Threads", self.threads),
        ):
            adv.addWidget(QLabel(label))
            adv.addWidget(w)
        form.addRow(adv)
        form.addRow("Options", self.extra_edit)
        form.addRow("Name", self.name_edit)
        form.addRow("Notes", self.notes_edit)
        form.addRow(self.keep_best)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.eta = QLabel("")
        self.curve = LossCurve()
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.metrics.setTextFormat(Qt.TextFormat.RichText)
        self.preview = QLabel("Preview after the first epoch")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.preview.setToolTip(
            "The validation pair (or a synthetic pair) fused by the latest checkpoint"
        )
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(500)
        self.log_view.setMaximumHeight(90)

        live = QGroupBox("Progress")
        grid = QGridLayout(live)
        grid.addWidget(self.status, 0, 0, 1, 2)
        grid.addWidget(self.progress, 1, 0)
        grid.addWidget(self.eta, 1, 1)
        grid.addWidget(self.curve, 2, 0)
        grid.addWidget(self.preview, 2, 1)
        grid.addWidget(self.metrics, 3, 0, 1, 2)
        grid.addWidget(self.log_view, 4, 0, 1, 2)
        grid.setColumnStretch(0, 1)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(
            "Stop after the current step; the run is saved and can be resumed"
        )
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the last run from its last checkpoint")
        self.save_button = QPushButton("Save weights")
        self.save_button.setToolTip("Add the current checkpoint to your trained weights")
        self.close_button = QPushButton("Close")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.save_button.clicked.connect(lambda: self.save_weights())
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.resume_button, self.save_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        self.previous = QComboBox()
        self.previous.setToolTip(
            "Runs of earlier sessions in your data folder: date, network, "
            "epochs done, how the run ended"
        )
        self.previous.currentIndexChanged.connect(lambda _i: self._update_run_buttons())
        self.resume_previous_button = QPushButton("Resume previous run")
        self.resume_previous_button.setToolTip(
            "Continue the chosen run from its last checkpoint, with its data and settings"
        )
        self.resume_previous_button.clicked.connect(lambda: self.resume_run())
        self.delete_run_button = QPushButton("Delete run")
        self.delete_run_button.setToolTip(
            "Delete the chosen run's checkpoints (weights saved to your library stay)"
        )
        self.delete_run_button.clicked.connect(self._delete_chosen_run)
        self.clean_button = QPushButton("Clean up saved runs")
        self.clean_button.setToolTip(
            "Delete the checkpoints of every run that finished and "
            "whose weights are in your library"
        )
        self.clean_button.clicked.connect(lambda: self.clean_up_runs())
        previous = QGroupBox("Previous runs")
        prow = QHBoxLayout(previous)
        prow.addWidget(self.previous, 1)
        for b in (self.resume_previous_button, self.delete_run_button, self.clean_button):
            prow.addWidget(b)

        lay = QVBoxLayout(self)
        lay.addWidget(setup)
        lay.addWidget(previous)
        lay.addWidget(live, 1)
        lay.addLayout(buttons)
        self.setSizeGripEnabled(True)

    # ------------------------------------------------------------------ setup
    @property
    def arch(self) -> str:
        """The chosen network, ``"gacn"`` or ``"fusion2void"``."""
        return self.network.currentData()

    def _on_network(self, *_a: Any) -> None:
        d = task_defaults(self.arch)
        self.epochs.setValue(int(d["epochs"]))
        self.steps.setValue(int(d["steps_per_epoch"]))
        self.batch.setValue(int(d["batch_size"]))
        self.patch.setValue(int(d["patch_size"]))
        f2v = self.arch == "fusion2void"
        self.stacks_row.setEnabled(f2v)
        self.stacks_label.setEnabled(f2v)
        self._fill_init()
        self._update_data_hint()

    def _update_data_hint(self) -> None:
        from mffgui.gui.training_messages import data_hint

        text = data_hint(self.arch, self.sharp_list.paths(), self.stacks_list.paths())
        self.data_hint.setText(text)
        self.data_hint.setVisible(bool(text))

    def set_default_folders(self, folders: list[str]) -> None:
        """Use ``folders`` (the loaded focus stack's) as the training data, unless the user
        chose other data or a run is in progress.

        A focus stack is real data for Fusion2Void (``--pairs``), not sharp images for GACN:
        it goes under *Stacks / pairs*, and Fusion2Void is chosen unless the user picked a
        network or listed sharp images (with GACN, a hint says the stack is not used).
        """
        if self.running or self.stacks_list.paths() not in ([], self._auto_folders):
            return
        self.stacks_list.clear()
        for f in folders:
            self.stacks_list.add_path(f)
        self._auto_folders = self.stacks_list.paths()
        if folders and not self._network_chosen and not self.sharp_list.paths():
            self.network.setCurrentIndex(self.network.findData("fusion2void"))
        self._update_data_hint()

    def _fill_init(self) -> None:
        from mffgui.models.weights import bundled_weights

        self.init_combo.blockSignals(True)
        self.init_combo.clear()
        try:
            bundled = bundled_weights(self.arch)
        except MffError:  # damaged bundled file: not offered (fusing with it says why)
            bundled = None
        if bundled is not None:
            self.init_combo.addItem("Bundled weights", str(bundled))
        self.init_combo.addItem("From scratch", "")
        try:
            entries = self.library.entries(self.arch)
        except MffError:
            entries = []
        for e in entries:
            self.init_combo.addItem(e.title, str(e.path))
        self.init_combo.addItem("Other checkpoint…", "other")
        self.init_combo.blockSignals(False)
        self.init_combo.setCurrentIndex(0)
        self._on_init_choice()

    def _on_init_choice(self, *_a: Any) -> None:
        other = self.init_combo.currentData() == "other"
        self.init_edit.setVisible(other)
        self.init_browse.setVisible(other)

    def _browse_init(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Start from checkpoint", "", "Checkpoints (*.pt *.pth *.pkl);;All files (*)"
        )
        if path:
            self.init_edit.setText(path)

    def _browse_val(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Validation folder")
        if d:
            self.val_edit.setText(d)

    def init_path(self) -> str:
        """Checkpoint to start from ("" = from scratch)."""
        data = self.init_combo.currentData()
        if data == "other":
            return self.init_edit.text().strip()
        return data or ""

    def command_args(self, resume: bool = False) -> list[str]:
        """Arguments after ``python -m mffgui.training`` for the current settings.

        Raises
        ------
        MffError
            No training data, or a missing folder/file.
        """
        arch = self.run_arch if resume else self.arch
        sharp, stacks = self.sharp_list.paths(), self.stacks_list.paths()
        if arch != "fusion2void":
            stacks = []
        if resume:
            sharp, stacks = [], []  # the checkpoint keeps the run's data folders
        elif not sharp and not stacks:
            raise MffError(
                "add at least one folder of training images"
                + (
                    " (sharp images or your stacks)"
                    if arch == "fusion2void"
                    else " (sharp, in-focus images)"
                )
            )
        for p in [*sharp, *stacks]:
            if not Path(p).exists():
                raise MffError("training data folder not found", p)
        val = self.val_edit.text().strip()
        if val and not Path(val).is_dir():
            raise MffError("validation folder not found", val)
        assert self.run_path is not None
        args = [arch]
        for d in sharp:
            args += ["--data", d]
        for d in stacks:
            args += ["--pairs", d]
        args += [
            "--out",
            str(self.run_path),
            "--jsonl",
            "--epochs",
            str(self.epochs.value()),
            "--device",
            self.device.currentData(),
            "--log-every",
            str(self.log_every.value()),
        ]
        if resume:
            args.append("--resume")
        else:
            args += [
                "--steps-per-epoch",
                str(self.steps.value()),
                "--batch-size",
                str(self.batch.value()),
                "--patch-size",
                str(self.patch.value()),
            ]
            init = self.init_path()
            if init:
                if not Path(init).is_file():
                    raise MffError("checkpoint to start from not found", init)
                args += ["--init", init]
        if val:
            args += ["--val", val]
        if self.minutes.value() > 0:
            args += ["--max-minutes", f"{self.minutes.value():g}"]
        if self.threads.value() > 0:
            args += ["--threads", str(self.threads.value())]
        try:
            args += shlex.split(self.extra_edit.text())
        except ValueError as err:
            raise MffError(f"trainer options: {err}") from None
        return args

    # ------------------------------------------------------------------ run control
    @property
    def running(self) -> bool:
        """Whether a training process is alive."""
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def start(self) -> bool:
        """Start a new run with the current settings; ``False`` (and a message) on bad input."""
        if self.running:
            return False
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_arch = self.arch
        self.run_path = runs_dir() / f"{self.arch}-{stamp}.pt"
        try:
            args = self.command_args()
        except MffError as err:
            self.run_path = None
            self._report(str(err), error=True)
            return False
        self.curve.clear()
        self.loss_points.clear()
        self.val_history.clear()
        self.events.clear()
        self.epoch = self.step = self.global_step = 0
        self.saved_entry_id = ""
        self._preview_pair = None
        self.run_record = TrainingRun(
            self.run_path,
            self.run_arch,
            _dt.datetime.now().isoformat(timespec="seconds"),
            "running",
            epochs=self.epochs.value(),
            settings=self.settings(),
        )
        self._launch(args)
        return True

    def resume(self) -> bool:
        """Continue the last run from its checkpoint (``--resume``)."""
        if self.running or self.run_path is None or not self.run_path.is_file():
            self._report("There is no saved run to resume.", error=True)
            return False
        try:
            args = self.command_args(resume=True)
        except MffError as err:
            self._report(str(err), error=True)
            return False
        if self.run_record is None or self.run_record.path != self.run_path:
            self.run_record = read_run(self.run_path)
            self.run_record.arch = self.run_arch
        self.run_record.epochs = self.epochs.value()
        self._launch(args)
        return True

    # ------------------------------------------------------------------ previous runs
    def settings(self) -> dict[str, Any]:
        """The dialog's settings, as kept in a run's side file."""
        return {
            "sharp": self.sharp_list.paths(),
            "stacks": self.stacks_list.paths(),
            "val": self.val_edit.text().strip(),
            "name": self.name_edit.text().strip(),
            "notes": self.notes_edit.text().strip(),
            "keep_best": self.keep_best.isChecked(),
            "device": self.device.currentData(),
            "minutes": self.minutes.value(),
            "threads": self.threads.value(),
            "log_every": self.log_every.value(),
            "options": self.extra_edit.text(),
        }

    def apply_settings(self, arch: str, settings: dict[str, Any]) -> None:
        """Show the settings of a run (``settings()`` of the dialog that started it)."""
        idx = self.network.findData(arch)
        if idx >= 0:
            self.network.setCurrentIndex(idx)
        for lst, key in ((self.sharp_list, "sharp"), (self.stacks_list, "stacks")):
            paths = settings.get(key)
            if isinstance(paths, list):
                lst.clear()
                for f in paths:
                    lst.add_path(str(f))
        self._auto_folders = []
        for edit, key in (
            (self.val_edit, "val"),
            (self.name_edit, "name"),
            (self.notes_edit, "notes"),
            (self.extra_edit, "options"),
        ):
            if isinstance(settings.get(key), str):
                edit.setText(settings[key])
        if isinstance(settings.get("keep_best"), bool):
            self.keep_best.setChecked(settings["keep_best"])
        didx = self.device.findData(settings.get("device"))
        if didx >= 0:
            self.device.setCurrentIndex(didx)
        for spin, key in (
            (self.minutes, "minutes"),
            (self.threads, "threads"),
            (self.log_every, "log_every"),
        ):
            if isinstance(settings.get(key), int | float) and not isinstance(
                settings.get(key), bool
            ):
                spin.setValue(type(spin.value())(settings[key]))

    def previous_runs(self) -> list[TrainingRun]:
        """The runs listed under *Previous runs* (newest first)."""
        return [
            self.previous.itemData(i)
            for i in range(self.previous.count())
            if isinstance(self.previous.itemData(i), TrainingRun)
        ]

    def refresh_runs(self) -> None:
        """Re-read the runs folder into the *Previous runs* list."""
        current = self.chosen_run()
        self.previous.blockSignals(True)
        self.previous.clear()
        runs = [
            r
            for r in list_runs(library=self.library)
            if not (self.running and r.path == self.run_path)
        ]
        for r in runs:
            self.previous.addItem(r.label, r)
            self.previous.setItemData(
                self.previous.count() - 1, str(r.path), Qt.ItemDataRole.ToolTipRole
            )
        if not runs:
            self.previous.addItem("No earlier runs", None)
        idx = next(
            (i for i, r in enumerate(runs) if current is not None and r.path == current.path), 0
        )
        self.previous.setCurrentIndex(idx)
        self.previous.blockSignals(False)
        self._update_run_buttons()

    def chosen_run(self) -> TrainingRun | None:
        """The run chosen under *Previous runs* (``None`` when there is none)."""
        data = self.previous.currentData() if hasattr(self, "previous") else None
        return data if isinstance(data, TrainingRun) else None

    def resume_run(self, path: str | Path | None = None, epochs: int | None = None) -> bool:
        """Resume an earlier run (default: the chosen one) with its data and settings.

        Parameters
        ----------
        path : path, optional
            The run's checkpoint; default: the run chosen under *Previous runs*.
        epochs : int, optional
            Total epochs; default: those the run was started with (Stop, raise *Epochs* and
            Resume to train longer).

        Returns
        -------
        bool
            Whether the trainer was started; it continues from the run's last checkpoint.
        """
        if self.running:
            return False
        run = read_run(path) if path is not None else self.chosen_run()
        if run is None or not run.path.is_file():
            self._report("There is no saved run to resume.", error=True)
            return False
        self.apply_settings(run.arch, run.settings)
        self.run_path, self.run_arch, self.run_record = run.path, run.arch, run
        total = epochs if epochs is not None else run.epochs
        if total:
            self.epochs.setValue(max(int(total), self.epochs.minimum()))
        self.curve.clear()
        self.loss_points.clear()
        self.val_history.clear()
        self.events.clear()
        self.epoch, self.step, self.global_step = run.epoch, run.step, 0
        self.saved_entry_id = run.saved_id
        self._preview_pair = None
        return self.resume()

    def delete_run(self, path: str | Path) -> bool:
        """Delete a run's checkpoints and side file (not the run in progress)."""
        p = Path(path)
        if self.running and p == self.run_path:
            self._report("The run in progress cannot be deleted; stop it first.", error=True)
            return False
        try:
            delete_run(p)
        except MffError as err:
            self._report(str(err), error=True)
            return False
        if p == self.run_path:
            self.run_path, self.run_record = None, None
            self._set_state(self.state)
        self.refresh_runs()
        return True

    def clean_up_runs(self) -> int:
        """Delete every listed run that finished and whose weights are in the library.

        Returns
        -------
        int
            How many runs were deleted.
        """
        n = 0
        for r in list_runs(library=self.library):
            if r.finished_and_saved and not (self.running and r.path == self.run_path):
                if self.delete_run(r.path):
                    n += 1
        self.refresh_runs()
        self._report(f"Deleted {n} finished and saved run{'s' if n != 1 else ''}.")
        return n

    def _delete_chosen_run(self) -> None:
        run = self.chosen_run()
        if run is not None:
            self.delete_run(run.path)

    def _update_run_buttons(self) -> None:
        if not hasattr(self, "clean_button"):
            return
        run = self.chosen_run()
        busy = self.running
        self.resume_previous_button.setEnabled(run is not None and not busy)
        self.delete_run_button.setEnabled(
            run is not None and not (busy and run.path == self.run_path)
        )
        self.clean_button.setEnabled(any(r.finished_and_saved for r in self.previous_runs()))

    def _save_record(self, state: str | None = None) -> None:
        rec = self.run_record
        if rec is None or self.run_path is None or rec.path != self.run_path:
            return
        if state is not None:
            rec.state = state
        rec.saved_id = self.saved_entry_id or rec.saved_id
        write_run_info(rec)

    def _launch(self, args: list[str]) -> None:
        assert self.run_path is not None
        self.run_path.parent.mkdir(parents=True, exist_ok=True)
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        root = str(_training_root())
        old = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", root + (":" + old if old else ""))
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(self.run_path.parent))
        proc.readyReadStandardOutput.connect(self._on_stdout)
        proc.readyReadStandardError.connect(self._on_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.proc = proc
        self._stdout_buf = b""
        self._stderr_tail = []
        self._last_event = ""
        self._diverged = None
        self._started_at = time.monotonic()
        cmd = " ".join(["python", "-m", "mffgui.training", *args])
        self.log_view.appendPlainText("$ " + cmd)
        self._set_state("running")
        self._report("Starting the trainer…")
        proc.start(sys.executable, ["-m", "mffgui.training", *args])

    def stop(self) -> None:
        """Ask the trainer to save and exit after the current step."""
        if not self.running or self.proc is None:
            return
        self.proc.write(b"stop\n")
        self._set_state("stopping")
        self.eta.setText("")  # the time left of a run being stopped is meaningless
        self._report("Stopping after the current step (saving a checkpoint)…")
        self._stop_timer.start(STOP_GRACE_MS)

    def _stop_overdue(self) -> None:
        if self.running and self.proc is not None:
            self._report("The trainer did not stop in time; terminating it.", error=True)
            self.proc.terminate()  # the trainer treats SIGTERM like Stop (saves first)

    def kill(self) -> None:
        """Kill the training process at once (no checkpoint is written)."""
        if self.running and self.proc is not None:
            self.proc.kill()

    # ------------------------------------------------------------------ process output
    def _on_stdout(self) -> None:
        if self.proc is None:
            return
        self._stdout_buf += bytes(self.proc.readAllStandardOutput().data())
        *lines, self._stdout_buf = self._stdout_buf.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                self.log_view.appendPlainText(line)
                continue
            if isinstance(ev, dict) and "event" in ev:
                self._on_event(ev)

    def _on_stderr(self) -> None:
        if self.proc is None:
            return
        text = bytes(self.proc.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr_tail = [*self._stderr_tail[-19:], line]
                self.log_view.appendPlainText(line)

    def _on_event(self, ev: dict[str, Any]) -> None:
        name = str(ev["event"])
        self.events.append(ev)
        self._last_event = name
        if name == "start":
            self.epoch = int(ev.get("epoch", 0))
            self.step = int(ev.get("step", 0))
            self.total_epochs = int(ev.get("epochs", 0))
            self.steps_per_epoch = int(ev.get("steps_per_epoch", 0))
            self._report(
                f"Training {ev.get('arch')} on {ev.get('device')}"
                + (f", resumed at epoch {self.epoch + 1}" if ev.get("resumed") else "")
            )
        elif name == "step":
            self.step = int(ev.get("step", 0))
            self.global_step = int(ev.get("global_step", self.global_step))
            loss = ev.get("loss")
            if isinstance(loss, int | float):
                self.loss_points.append((self.global_step, float(loss)))
                self.curve.add(self.global_step, float(loss))
            self._report(
                f"Epoch {int(ev.get('epoch', 0)) + 1}/{self.total_epochs} · "
                f"step {self.step}/{ev.get('steps', self.steps_per_epoch)} · "
                f"loss {float(loss or 0):.4f}"
            )
            self._update_eta(float(ev.get("s_per_step") or 0))
        elif name == "epoch":
            self.epoch = int(ev.get("epoch", self.epoch))
            self.step = 0
            self.val_history.append(ev)
            self.curve.mark_epoch(self.global_step)
            self._show_metrics()
            self._update_eta(None)
        elif name == "checkpoint":
            if self.run_record is not None:
                self.run_record.epoch = int(ev.get("epoch", self.epoch))
                self.run_record.step = int(ev.get("step", 0))
                self._save_record()
            if ev.get("reason") == "epoch":
                self._request_preview(str(ev.get("path")), int(ev.get("epoch", self.epoch)))
        elif name == "stopped":
            from mffgui.gui.training_messages import stopped_message

            self.eta.setText("")
            self._report(stopped_message(ev.get("reason"), int(ev.get("epoch", 0)), ev.get("step")))
        elif name == "done":
            self._report(f"Finished {ev.get('epochs')} epochs.")
        elif name in ("warning", "error"):
            self.log_view.appendPlainText(f"{name}: {ev.get('message', '')}")
            if name == "error" and ev.get("reason") == "non-finite":
                self._diverged = ev
        self._update_progress()
        self.eventReceived.emit(name)

    def _update_progress(self) -> None:
        total = self.total_epochs * max(1, self.steps_per_epoch)
        done = self.epoch * max(1, self.steps_per_epoch) + self.step
        self.progress.setValue(int(1000 * done / total) if total else 0)

    def _update_eta(self, s_per_step: float | None) -> None:
        if s_per_step is not None and s_per_step > 0:
            self._s_per_step = s_per_step
        sps = getattr(self, "_s_per_step", 0.0)
        if not sps or not self.total_epochs:
            return
        left_steps = (self.total_epochs - self.epoch) * self.steps_per_epoch - self.step
        secs = left_steps * sps
        if self.val_history:
            secs += float(self.val_history[-1].get("val_s") or 0) * (self.total_epochs - self.epoch)
        if self.minutes.value() > 0:
            budget_left = self.minutes.value() * 60 - (time.monotonic() - self._started_at)
            secs = min(secs, max(0.0, budget_left))
        self.eta.setText(f"about {_duration(secs)} left")

    def _show_metrics(self) -> None:
        rows = []
        for ev in self.val_history[-6:]:
            val = ev.get("val") or {}
            cells = " ".join(
                f"{k}={float(v):.4f}" for k, v in val.items() if isinstance(v, int | float)
            )
            train = (ev.get("train") or {}).get("loss")
            tl = f"loss={float(train):.4f} " if isinstance(train, int | float) else ""
            best = " ★" if ev.get("best_epoch") == ev.get("epoch") else ""
            rows.append(f"epoch {ev.get('epoch')}: {tl}{cells}{best}")
        self.metrics.setText("<b>Validation</b><br>" + "<br>".join(rows))

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self._stop_timer.stop()
        if status == QProcess.ExitStatus.CrashExit:
            self._set_state("crashed")
            self._report(
                self._resume_hint("The training process was killed or crashed"), error=True
            )
        elif code != 0 and self._diverged is not None:
            ev = self._diverged
            kept = (
                f"the last good checkpoint (after epoch {ev.get('checkpoint_epoch')}) is kept"
                if ev.get("checkpoint")
                else "no checkpoint had been written yet"
            )
            self._set_state("failed")
            self._report(
                f"Training diverged (non-finite loss) at epoch "
                f"{int(ev.get('epoch', 0)) + 1}, step {ev.get('step')}; {kept}. "
                "Resuming would diverge again at the same step (runs are "
                "deterministic): start a new run with a lower learning rate, or from "
                "the saved weights as the initial weights.",
                error=True,
            )
        elif code != 0:
            tail = next((ln for ln in reversed(self._stderr_tail) if ln.strip()), "")
            self._set_state("failed")
            self._report(
                self._resume_hint(
                    f"Training failed (exit status {code})" + (f": {tail}" if tail else "")
                ),
                error=True,
            )
        elif self._last_event == "stopped":
            self._set_state("stopped")
        else:
            self._set_state("done")
            self.save_weights()

    def _on_error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self._set_state("failed")
            self._report(f"Could not start the trainer ({sys.executable} -m training).", error=True)

    def _resume_hint(self, text: str) -> str:
        if self.run_path is not None and self.run_path.is_file():
            return (
                f"{text}. The last checkpoint (after epoch {self.epoch}) is kept; Resume "
                "continues from it."
            )
        return f"{text} before the first checkpoint; Start again."

    # ------------------------------------------------------------------ preview
    def _request_preview(self, path: str, epoch: int) -> None:
        if self._preview_busy:
            self._preview_pending = (path, epoch)
            return
        self._preview_busy = True
        arch = self.run_arch
        val = self.val_edit.text().strip()
        data = self.sharp_list.paths() or self.stacks_list.paths()
        cached = self._preview_pair

        def work(_progress: Any, _cancel: CancelToken) -> tuple[Any, ...]:
            pair = cached if cached is not None else preview_pair(val, data)
            return pair, fuse_preview(arch, path, pair), epoch

        worker = TaskWorker(work, epoch, CancelToken(), "the training preview")
        worker.resultReady.connect(self._on_preview)
        worker.failed.connect(self._on_preview_failed)
        worker.finished.connect(self._preview_done)
        self._worker_ref = worker
        self._runner.start(worker)

    def _on_preview(self, _gen: int, key: int) -> None:
        out = take(key)
        if out is None:
            return
        pair, fused, epoch = out
        self._preview_pair = pair
        a, b = pair
        strip = np.concatenate([a, b, np.clip(fused, 0, 1)], axis=1)
        pm = _pixmap(strip)
        self.preview.setPixmap(
            pm.scaled(
                max(PREVIEW_SIZE, self.preview.width()),
                max(PREVIEW_SIZE, self.preview.height()),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.preview.setToolTip(f"A | B | fused with the checkpoint of epoch {epoch}")
        self.previewUpdated.emit(int(epoch))

    def _on_preview_failed(self, _gen: int, message: str) -> None:
        self.preview.setText(f"No preview: {message}")

    def _preview_done(self) -> None:
        self._preview_busy = False
        if self._preview_pending is not None:
            path, epoch = self._preview_pending
            self._preview_pending = None
            self._request_preview(path, epoch)

    # ------------------------------------------------------------------ saving
    def save_weights(self) -> str:
        """Add the run's weights (best epoch or last checkpoint) to the library.

        Returns
        -------
        str
            The library id ("" when nothing could be saved; the reason is shown).
        """
        if self.run_path is None or not self.run_path.is_file():
            self._report("No trained checkpoint to save yet.", error=True)
            return ""
        from mffgui.models.weights import best_path

        src = self.run_path
        best = best_path(self.run_path)
        if self.keep_best.isChecked() and best.is_file():
            src = best
        try:
            entry = self.library.add(
                src, self.run_arch, self.name_edit.text().strip(), self.notes_edit.text().strip()
            )
        except MffError as err:
            self._report(f"Could not save the weights: {err}", error=True)
            return ""
        self.saved_entry_id = entry.id
        self._save_record()
        self._report(
            f"{self.message} Saved as “{entry.title}” — choose it in the method "
            "panel's Weights list.".strip()
        )
        self.weightsSaved.emit(entry.id)
        self._set_state(self.state)
        return entry.id

    # ------------------------------------------------------------------ state
    def _set_state(self, state: str) -> None:
        self.state = state
        if state in ("running", "stopped", "crashed", "failed", "done"):
            self._save_record(state)
        busy = state in ("running", "stopping")
        resumable = (
            not busy
            and self.run_path is not None
            and self.run_path.is_file()
            and state in ("stopped", "crashed", "failed", "done")
            and self._diverged is None
        )
        self.start_button.setEnabled(not busy)
        self.stop_button.setEnabled(state == "running")
        self.resume_button.setEnabled(resumable)
        self.save_button.setEnabled(
            not busy and self.run_path is not None and self.run_path.is_file()
        )
        for w in (
            self.network,
            self.init_combo,
            self.sharp_list,
            self.stacks_list,
            self.steps,
            self.batch,
            self.patch,
        ):
            w.setEnabled(not busy)
        if state in ("running", "stopped", "crashed", "failed", "done"):
            self.refresh_runs()
        else:
            self._update_run_buttons()
        self.stateChanged.emit(state)

    def _report(self, text: str, error: bool = False) -> None:
        self.message = text
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "")

    def shutdown(self, timeout_ms: int = STOP_ON_CLOSE_MS) -> bool:
        """Stop a running trainer cleanly before the dialog or the app closes.

        Sends the ``stop`` line and waits up to ``timeout_ms`` for the trainer to save and exit,
        in a local event loop (the windows keep painting; user input is held back). A trainer
        still alive then gets SIGTERM (it saves too), then SIGKILL, :data:`KILL_WAIT_MS` each.

        Returns
        -------
        bool
            ``True`` when no trainer is left running (the run can be resumed later).
        """
        proc = self.proc
        if self.running and proc is not None:
            if self.state != "stopping":
                proc.write(b"stop\n")
                self._set_state("stopping")
            self._report("Saving the training run before closing…")
            loop = QEventLoop(self)
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(loop.quit)
            proc.finished.connect(loop.quit)
            timer.start(max(0, int(timeout_ms)))
            if self.running:
                loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
            timer.stop()
            try:
                proc.finished.disconnect(loop.quit)
            except (RuntimeError, TypeError):
                pass
            if self.running:
                proc.terminate()
                if not proc.waitForFinished(KILL_WAIT_MS):
                    proc.kill()
                    proc.waitForFinished(KILL_WAIT_MS)
        self._stop_timer.stop()
        self._runner.shutdown(5_000)
        return not self.running

    def closeEvent(self, event: Any) -> None:
        """Stop a running trainer (see :meth:`shutdown`) and the preview worker."""
        self.shutdown()
        super().closeEvent(event)


def _duration(secs: float) -> str:
    secs = max(0, round(secs))
    if secs < 60:
        return f"{secs} s"
    if secs < 3600:
        return f"{secs // 60} min {secs % 60:02d} s"
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min"


def stack_folders(window: Any) -> list[str]:
    """Folders of the main window's included sources, in order; else the bundled sample's.

    Parameters
    ----------
    window : MainWindow or None
        Anything with ``controller.included_sources`` (sources with a ``path``).
    """
    out: list[str] = []
    controller = getattr(window, "controller", None)
    for src in getattr(controller, "included_sources", None) or []:
        path = getattr(src, "path", None)
        if path is not None and str(Path(path).parent) not in out:
            out.append(str(Path(path).parent))
    if not out:
        from mffgui.resources import sample_stack_dir

        try:
            sample = sample_stack_dir()
        except (OSError, MffError):
            return out
        if sample.is_dir():
            out.append(str(sample))
    return out


def open_training_dialog(
    parent: QWidget | None = None, folders: list[str] | None = None
) -> TrainingDialog:
    """Show the (non-modal) Train dialog; one per parent window.

    ``folders`` become the training data unless the user picked other data already.
    """
    dlg = getattr(parent, "_training_dialog", None) if parent is not None else None
    if dlg is not None:
        dlg.set_default_folders(folders or [])
        dlg.refresh_runs()
    else:
        dlg = TrainingDialog(parent, folders=folders)
        if parent is not None:
            parent._training_dialog = dlg  # type: ignore[attr-defined]
            panel = getattr(parent, "method_panel", None)
            if panel is not None and hasattr(panel, "refresh_weights"):
                dlg.weightsSaved.connect(lambda _id: panel.refresh_weights())
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg


def training_actions(window: Any) -> list[Any]:
    """ "Train on your data…" and "Trained weights…" actions for the main window's menu.

    Sets ``window.act_train`` and ``window.act_weights``.
    """
    from PySide6.QtGui import QAction

    train = QAction("&Train on your data…", window)
    train.setObjectName("act_train")
    train.setStatusTip("Fine-tune GACN or Fusion2Void on your own images")
    train.triggered.connect(lambda: open_training_dialog(window, stack_folders(window)))
    weights = QAction("Trained &weights…", window)
    weights.setObjectName("act_weights")
    weights.setStatusTip("Rename, export or delete your trained network weights")

    def manage() -> None:
        from mffgui.gui.widgets.weights_manager import WeightsManager

        dlg = WeightsManager(window)
        panel = getattr(window, "method_panel", None)
        if panel is not None and hasattr(panel, "refresh_weights"):
            dlg.changed.connect(panel.refresh_weights)
        dlg.show()

    weights.triggered.connect(manage)
    window.act_train, window.act_weights = train, weights
    return [train, weights]


def shutdown_training(window: Any) -> bool:
    """Stop the window's training run cleanly before the app closes (see
    :meth:`TrainingDialog.shutdown`); ``True`` when no trainer is left running."""
    dlg = getattr(window, "_training_dialog", None)
    if dlg is None:
        return True
    try:
        ok = dlg.shutdown()
        dlg.close()
    except RuntimeError:  # the C++ dialog is already gone
        return True
    return ok
