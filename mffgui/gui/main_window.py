"""The main window: menus, toolbar, docks, status bar and drag & drop, wired to the controller.

No algorithm or file code lives here: user actions become controller calls and controller
signals become widget updates. Parts live beside it: :mod:`~mffgui.gui.choices` (method panel,
controller and settings kept in step), :mod:`~mffgui.gui.icons` (icons, actions),
:mod:`~mffgui.gui.widgets.status_bar`, :mod:`~mffgui.gui.widgets.drop_overlay`,
:mod:`~mffgui.gui.about` (About text, device probe), :mod:`~mffgui.gui.project_io` (Edit menu,
projects), :mod:`~mffgui.gui.compare_window` and :mod:`~mffgui.gui.batch_queue`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QToolButton,
)

from mffgui.gui.about import DeviceProbe, about_html
from mffgui.gui.choices import ChoiceBinding
from mffgui.gui.controller import Controller
from mffgui.gui.file_dialogs import ask_folder, ask_images, fill_recent
from mffgui.gui.icons import icon, make_action
from mffgui.gui.style.palettes import apply_theme
from mffgui.gui.widgets.drop_overlay import DropOverlay
from mffgui.gui.widgets.export_dialog import FORMATS, ExportDialog
from mffgui.gui.widgets.method_panel import MethodPanel, fuse_hint, scrollable
from mffgui.gui.widgets.result_panel import ResultPanel
from mffgui.gui.widgets.source_list import SourceList
from mffgui.gui.widgets.status_bar import ProgressStatus
from mffgui.gui.worker import ExportRequest, FusionOutcome
from mffgui.settings import AppSettings, save_settings

if TYPE_CHECKING:
    from mffgui.gui.batch_queue import BatchQueueWindow
    from mffgui.gui.compare_window import CompareWindow
    from mffgui.gui.training.dialog import TrainingDialog


class MainWindow(QMainWindow):
    """The mffgui main window.

    Parameters
    ----------
    settings : AppSettings
        Restored on construction and saved (to ``settings_file``) on close.
    settings_file : Path, optional
        Where to save; default the user's config folder.
    device : str, optional
        Device forced from the command line (overrides the saved one).
    probe_devices : bool
        Look up torch devices in the background once the window is shown.
    defer_methods : bool
        Load the fusion methods (and their imports) just after the window is first shown,
        so it appears sooner; otherwise during construction.
    """

    def __init__(
        self,
        settings: AppSettings,
        settings_file: Path | None = None,
        device: str | None = None,
        probe_devices: bool = True,
        defer_methods: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._settings_file = settings_file
        self._probe_devices = probe_devices
        self._shown_once = False
        self.devices: list[str] | None = None
        """Torch devices found by the background probe (``None``: not probed yet)."""
        self.compare_window: CompareWindow | None = None
        """The compare window, once opened (Ctrl+K)."""
        self.batch_window: BatchQueueWindow | None = None
        """The batch queue, once opened."""
        self.setWindowTitle("mffgui — focus stacking")
        self.setWindowIcon(icon("mffgui"))
        self.setAcceptDrops(True)

        self.controller = Controller(self)
        self.results = ResultPanel()
        self.setCentralWidget(self.results)
        self.sources = SourceList()
        self.method_panel = MethodPanel([])
        self._defer_methods = defer_methods
        self._painted = False
        self._after_paint: list[Callable[[], object]] = []
        self.choices = ChoiceBinding(self.method_panel, self.controller, settings, self.fuse)
        """Method panel, controller and settings kept in step."""
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.status = ProgressStatus(self.statusBar())
        self.hover_label, self.progress = self.status.hover_label, self.status.progress
        self._drop_overlay = DropOverlay(self)
        self._error_box: QMessageBox | None = None
        self._connect()
        from mffgui.gui.microscopy import MicroscopyControls

        self.microscopy = MicroscopyControls(self)
        """Channel selector of multi-channel stacks, File ▸ Export height map…"""
        # Retouching and projects (gui/project_io.py): connected after the window's own
        # handlers, so a retouched result is shown after the automatic one.
        from mffgui.gui.project_io import install_retouch

        self.retouch, self.act_open_project, self.act_save_project = install_retouch(self)
        self._restore(device)
        self._update_actions()

    # --- training (issue 10): what the Train dialog needs (gui.training.actions.TrainingHost) ---
    training_dialog: TrainingDialog | None = None
    """The window's Train dialog once opened (one per window)."""

    def training_folders(self) -> list[str]:
        """Folders of the included sources (the Train dialog's default data); else the
        bundled sample's."""
        from mffgui.training.session import source_folders

        return source_folders(self.controller.included_sources)

    def trained_weights_changed(self) -> None:
        """Weights were saved, renamed or deleted: the method panel lists them again."""
        self.method_panel.refresh_weights()

    # --- end training ---

    # ------------------------------------------------------------------ construction
    def _build_docks(self) -> None:
        self.sources_dock = QDockWidget("Sources", self)
        self.sources_dock.setObjectName("sourcesDock")
        self.sources_dock.setWidget(self.sources)
        self.method_dock = QDockWidget("Method", self)
        self.method_dock.setObjectName("methodDock")
        self.method_dock.setWidget(scrollable(self.method_panel))  # fits at 1280×800
        area = Qt.DockWidgetArea.LeftDockWidgetArea
        self.addDockWidget(area, self.sources_dock)
        self.addDockWidget(area, self.method_dock)
        self.resizeDocks([self.sources_dock], [300], Qt.Orientation.Horizontal)

    def _build_actions(self) -> None:
        def a(text: str, slot, shortcut=None, icon_name: str = "", tip: str = "") -> QAction:
            return make_action(self, text, slot, shortcut, icon_name, tip)

        self.act_open = a(
            "&Open images…",
            self.open_files_dialog,
            QKeySequence.StandardKey.Open,
            "open-file",
            "Open images or a multi-page TIFF as a stack",
        )
        self.act_open_folder = a(
            "Open &folder…",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            "open-folder",
            "Open every image in a folder as a stack",
        )
        self.act_add = a(
            "&Add images…",
            self.add_files_dialog,
            "Ctrl+Shift+A",
            "add",
            "Add images to the current stack",
        )
        self.act_export = a(
            "&Export…",
            self.export_dialog,
            ["Ctrl+S", "Ctrl+E"],
            "export",
            "Export the fused image and maps",
        )
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_fuse = a(
            "&Fuse", self.fuse, ["Ctrl+Return", "Ctrl+Enter"], "fuse", "Fuse the included images"
        )
        self.act_cancel = a(
            "&Cancel", self.controller.cancel, "Esc", "cancel", "Cancel the running fusion"
        )
        self.act_fit = a("&Fit", self.results.fit, "Ctrl+0", "zoom-fit", "Fit to the views")
        self.act_100 = a(
            "&100 %",
            self.results.actual_size,
            "Ctrl+1",
            "zoom-100",
            "One image pixel per screen pixel",
        )
        self.act_zoom_in = a(
            "Zoom &in", self.results.zoom_in, ["+", "=", "Ctrl++"], "zoom-in", "Zoom in"
        )
        self.act_zoom_out = a(
            "Zoom &out", self.results.zoom_out, ["-", "Ctrl+-"], "zoom-out", "Zoom out"
        )
        self.act_layout = a(
            "&Stacked views",
            self._toggle_layout,
            "Ctrl+L",
            "layout",
            "Arrange the result views one above the other",
        )
        self.act_layout.setCheckable(True)
        self.act_theme = a(
            "&Dark theme",
            self._toggle_theme,
            None,
            "theme",
            "Switch between the dark and the light theme",
        )
        self.act_theme.setCheckable(True)
        self.act_max = [
            a(
                f"Maximise {name}",
                lambda _c=False, i=i: self.results.toggle_maximised(i),
                f"Ctrl+{i + 2}",
            )
            for i, name in enumerate(("fused image", "decision map", "focus overlay"))
        ]
        self.act_remove = self.sources.remove_action
        self.act_about = a("&About mffgui", self.about, None, "about")

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = self.file_menu = mb.addMenu("&File")
        f.addActions([self.act_open, self.act_open_folder, self.act_add])
        from mffgui.gui.batch_queue import batch_action

        self.act_batch = batch_action(self)
        f.addAction(self.act_batch)
        self.recent_menu = f.addMenu("Open &recent")
        f.addSeparator()
        f.addAction(self.act_export)
        f.addSeparator()
        f.addAction(self.act_quit)
        fu = mb.addMenu("F&usion")
        fu.addActions([self.act_fuse, self.act_cancel])
        # --- training: Train dialog and trained-weights manager ---
        from mffgui.gui.training.actions import training_actions

        fu.addSeparator()
        self.act_train, self.act_weights = training_actions(self)
        fu.addActions([self.act_train, self.act_weights])
        # --- end training ---
        v = mb.addMenu("&View")
        v.addActions([self.act_fit, self.act_100, self.act_zoom_in, self.act_zoom_out])
        v.addSeparator()
        v.addAction(self.act_layout)
        v.addActions(self.act_max)
        v.addSeparator()
        v.addAction(self.sources_dock.toggleViewAction())
        v.addAction(self.method_dock.toggleViewAction())
        v.addAction(self.act_theme)
        from mffgui.gui.compare_window import compare_action

        self.act_compare = compare_action(self)  # "Compare methods…", Ctrl+K
        v.addSeparator()
        v.addAction(self.act_compare)
        h = mb.addMenu("&Help")
        h.addAction(self.act_about)
        self._fill_recent()

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addActions([self.act_open, self.act_open_folder])
        tb.addSeparator()
        tb.addActions([self.act_fuse, self.act_cancel, self.act_export])
        tb.addSeparator()
        for act in (
            self.act_fit,
            self.act_100,
            self.act_zoom_in,
            self.act_zoom_out,
            self.act_layout,
        ):
            tb.addAction(act)
            w = tb.widgetForAction(act)
            if isinstance(w, QToolButton):
                w.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)

    def _connect(self) -> None:
        c = self.controller
        c.sourcesChanged.connect(self._on_sources_changed)
        c.thumbnailReady.connect(self.sources.set_thumbnail)
        c.stateChanged.connect(self._on_state)
        c.progressChanged.connect(self.status.show_progress)
        c.resultChanged.connect(self._on_result)
        c.errorOccurred.connect(self.show_error)
        c.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        c.exportStateChanged.connect(self._on_export_state)
        c.result_jobs.overlayReady.connect(self.results.set_overlay)
        c.result_jobs.weightsReady.connect(self.results.set_weights)
        c.result_jobs.heightReady.connect(self.results.set_height)
        self.results.request_height = c.result_jobs.request_height
        self.results.sourceSelected.connect(lambda i: setattr(c.result_jobs, "overlay_source", i))
        self.sources.includeToggled.connect(c.set_included)
        self.sources.orderChanged.connect(c.reorder)
        self.sources.removeRequested.connect(c.remove)
        self.sources.filesDropped.connect(self.add_paths)
        self.method_panel.fuse_button.clicked.connect(self.fuse)
        self.results.hovered.connect(self._on_hover)

    def _restore(self, device: str | None) -> None:
        s = self.settings
        if s.geometry:
            self.restoreGeometry(QByteArray(base64.b64decode(s.geometry)))
        else:
            self.resize(1500, 900)
        if s.window_state:
            self.restoreState(QByteArray(base64.b64decode(s.window_state)))
        self.act_theme.setChecked(s.theme == "dark")
        self.act_layout.setChecked(s.layout == "stacked")
        self.results.set_layout(s.layout)
        if not self._defer_methods:
            self.load_methods()
        self.choices.restore(device)

    def load_methods(self) -> None:
        """Fill the method panel from the registry and restore the last method."""
        self.choices.load_methods()
        self._update_actions()

    # ------------------------------------------------------------------ opening
    def open_paths(self, paths: list[str | Path], fuse: bool = True) -> bool:
        """Open ``paths`` as a new stack (replacing the current one) and fuse it."""
        paths = [Path(p) for p in paths]
        if not paths:
            return False
        ok = self.controller.open_sources(paths)
        self._remember(paths)
        if ok and fuse and len(self.controller.included_sources) >= 2:
            self.fuse()
        return ok

    def add_paths(self, paths: list[str | Path]) -> bool:
        """Add ``paths`` to the current stack."""
        paths = [Path(p) for p in paths]
        ok = self.controller.add_sources(paths)
        self._remember(paths)
        return ok

    def _remember(self, paths: list[Path]) -> None:
        first = paths[0]
        self.settings.last_folder = str(first if first.is_dir() else first.parent)
        self.settings.add_recent([str(p) for p in paths])
        self._fill_recent()

    def _fill_recent(self) -> None:
        fill_recent(self.recent_menu, self.settings.recent, self.open_paths)

    def open_files_dialog(self) -> None:
        """File ▸ Open images…"""
        if files := ask_images(self, "Open images", self.settings.last_folder):
            self.open_paths(files)

    def add_files_dialog(self) -> None:
        """File ▸ Add images…"""
        if files := ask_images(self, "Add images", self.settings.last_folder):
            self.add_paths(files)

    def open_folder_dialog(self) -> None:
        """File ▸ Open folder…"""
        if folder := ask_folder(self, self.settings.last_folder):
            self.open_paths([folder])

    # drag and drop anywhere on the window
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Highlight the window when files are dragged over it."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self._drop_overlay.cover()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        """Keep accepting files over any part of the window (the result views included)."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        """Remove the highlight."""
        self._drop_overlay.hide()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        """Open the dropped files/folders as a new stack."""
        self._drop_overlay.hide()
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            if len(paths) > 1 and all(Path(p).is_dir() for p in paths):
                from mffgui.gui.batch_queue import open_batch

                open_batch(self, paths)  # several folders: one stack each
                return
            self.open_paths(paths)

    @property
    def drop_highlighted(self) -> bool:
        """Whether the drop highlight is showing."""
        return self._drop_overlay.isVisible()

    # ------------------------------------------------------------------ fusion
    def fuse(self) -> bool:
        """Validate the parameter form and start a fusion run."""
        if not self.method_panel.methods:  # deferred and not loaded yet
            self.load_methods()
        problem = self.choices.commit_params()
        if problem:
            self.show_error(problem)
            return False
        return self.controller.fuse()

    def _on_state(self, state: str) -> None:
        running = state in ("running", "cancelling")
        self.status.set_busy(running)
        if state == "cancelling":
            self.status.stage_label.setText("Cancelling…")
        self._update_actions()

    def _on_export_state(self, busy: bool) -> None:
        if not self.controller.running:
            self.status.set_busy(busy)
        self._update_actions()

    def _on_result(self, outcome: FusionOutcome | None) -> None:
        jobs = self.controller.result_jobs
        self.results.set_outcome(outcome, jobs.request_overlay, jobs.request_weights)
        self._update_actions()

    def _on_sources_changed(self) -> None:
        self.sources.set_sources(
            self.controller.sources, self.controller.thumbnails, self.controller.skipped
        )
        n = len(self.controller.included_sources)
        self.sources_dock.setWindowTitle(
            f"Sources ({n} of {len(self.controller.sources)} included)"
            if self.controller.sources
            else "Sources"
        )
        self._update_actions()

    def _update_actions(self) -> None:
        c = self.controller
        running = c.running
        self.act_cancel.setEnabled(running)
        self.act_fuse.setEnabled(len(c.included_sources) >= 2 and bool(c.method))
        self.method_panel.fuse_button.setEnabled(self.act_fuse.isEnabled())
        self.method_panel.show_fuse_hint(fuse_hint(len(c.included_sources)) if c.sources else "")
        self.act_export.setEnabled(c.outcome is not None and not c.exporting)

    def _on_hover(self, x: int, y: int) -> None:
        self.status.show_hover(self.results.pixel_info(x, y))

    # ------------------------------------------------------------------ export
    def export_dialog(self) -> None:
        """File ▸ Export…: ask for the options, then export in the background."""
        outcome = self.controller.outcome
        if outcome is None:
            self.show_error("Nothing to export yet: fuse the stack first.")
            return
        first = outcome.metas[0].path
        folder = Path(self.settings.last_folder or (first.parent if first else Path.home()))
        suffix = ".tif" if outcome.stack.bit_depth > 8 else ".png"
        stem = (first.parent.name if first else "fused") + f"-fused-{outcome.request.method}"
        formats = tuple(FORMATS)
        if outcome.channels:  # fluorescence channels: one plane each, with the pixel sizes
            suffix, formats = ".ome.tif", ("OME-TIFF",)
            stem = (first.name.split(".")[0] if first else "fused") + "-fused"
        dlg = ExportDialog(
            folder / f"{stem}{suffix}",
            outcome.stack.bit_depth,
            [m.path for m in outcome.metas if m.path is not None],
            self,
            formats,
        )
        if dlg.exec() == ExportDialog.DialogCode.Accepted:
            self.export(dlg.request())

    def export(self, request: ExportRequest) -> bool:
        """Start an export (used by the dialog and by tests)."""
        self.settings.last_folder = str(request.path.parent)
        return self.controller.export(request)

    # ------------------------------------------------------------------ messages
    def show_error(self, message: str) -> None:
        """Show a readable, non-blocking error message (and put it in the status bar)."""
        self.statusBar().showMessage(message.splitlines()[0], 15000)
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(
            QMessageBox.Icon.Warning, "mffgui", message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()

    def about(self) -> None:
        """Help ▸ About: versions, devices and method citations."""
        QMessageBox.about(self, "About mffgui", self.about_text())

    def about_text(self) -> str:
        """HTML of the About box."""
        return about_html(self.devices)

    # ------------------------------------------------------------------ view options
    def _toggle_layout(self, stacked: bool) -> None:
        self.settings.layout = "stacked" if stacked else "side"
        self.results.set_layout(self.settings.layout)

    def _toggle_theme(self, dark: bool) -> None:
        self.settings.theme = "dark" if dark else "light"
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, self.settings.theme)

    # ------------------------------------------------------------------ lifecycle
    def showEvent(self, event: QShowEvent) -> None:
        """After the first show, look up torch devices in the background."""
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if self._probe_devices:
                QTimer.singleShot(500, self._start_device_probe)

    def event(self, event: QEvent) -> bool:
        """After the first paint, load deferred methods (the window is on screen by then)."""
        if event.type() == QEvent.Type.Paint and not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._on_first_paint)
        return super().event(event)

    def after_first_paint(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` once the window has been painted and the methods are loaded."""
        if self._painted and not self._after_paint:
            QTimer.singleShot(0, fn)
        else:
            self._after_paint.append(fn)

    def _on_first_paint(self) -> None:
        if not self.method_panel.methods:
            self.load_methods()
        pending, self._after_paint = self._after_paint, []
        for fn in pending:
            fn()

    def _start_device_probe(self) -> None:
        self._probe = DeviceProbe(self)
        self._probe.found.connect(self._on_devices)
        self._probe.start()

    @Slot(str)
    def _on_devices(self, devices: str) -> None:
        self.devices = [d for d in devices.split(",") if d]
        self.choices.set_available_devices(self.devices)

    def save_settings(self) -> None:
        """Store window geometry and choices."""
        s = self.settings
        s.geometry = base64.b64encode(bytes(self.saveGeometry().data())).decode("ascii")
        s.window_state = base64.b64encode(bytes(self.saveState().data())).decode("ascii")
        s.method = self.method_panel.method
        s.device = self.method_panel.device_choice
        s.align = self.method_panel.align_choice
        save_settings(s, self._settings_file)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, stop a training run (it saves), cancel work and wait for the worker
        threads."""
        self.save_settings()
        # --- training: a running trainer gets Stop and a few seconds to save ---
        from mffgui.gui.training.actions import shutdown_training

        shutdown_training(self)
        # --- end training ---
        if self.batch_window is not None:
            self.batch_window.close()  # cancels the batch and closes its cluster
        self.controller.shutdown()
        super().closeEvent(event)
