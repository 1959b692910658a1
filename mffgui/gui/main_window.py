"""The main window: menus, toolbar, docks, status bar and drag & drop, wired to the controller.

No algorithm or file code lives here: user actions become controller calls and controller
signals become widget updates.
"""

from __future__ import annotations

import base64
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mffgui import __version__
from mffgui.errors import MffError
from mffgui.gui.controller import Controller
from mffgui.gui.style.palettes import apply_theme
from mffgui.gui.widgets.export_dialog import ExportDialog
from mffgui.gui.widgets.method_panel import MethodPanel, fuse_hint, scrollable
from mffgui.gui.widgets.result_panel import ResultPanel
from mffgui.gui.widgets.source_list import SourceList
from mffgui.gui.worker import ExportRequest, FusionOutcome
from mffgui.resources import resources_dir
from mffgui.settings import AppSettings, save_settings

if TYPE_CHECKING:
    from mffgui.gui.training.dialog import TrainingDialog

IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.dng *.cr2 *.cr3 *.nef *.arw "
    "*.raf *.orf *.rw2 *.czi *.nd2 *.lif);;"
    "Camera RAW (*.dng *.cr2 *.cr3 *.nef *.arw *.raf *.orf *.rw2);;"
    "Microscopy (*.ome.tif *.ome.tiff *.czi *.nd2 *.lif);;All files (*)"
)


def icon(name: str) -> QIcon:
    """An icon from ``resources/icons/<name>.svg`` (empty icon when missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


class _DropOverlay(QFrame):
    """Translucent frame shown over the window while files are dragged over it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        lay = QVBoxLayout(self)
        label = QLabel("Drop images, folders or a multi-page TIFF to open them")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(label)
        self.hide()


class _DeviceProbe(QObject):
    """Finds the available torch devices on a plain thread (importing torch takes seconds)."""

    found = Signal(str)
    """Comma-separated device names (plain types only cross threads)."""

    def start(self) -> None:
        threading.Thread(target=self._run, name="mffgui-device-probe", daemon=True).start()

    def _run(self) -> None:
        try:
            from mffgui.models.device import available_devices

            devices = available_devices()
        except Exception:
            devices = ["cpu"]
        try:
            self.found.emit(",".join(devices))
        except RuntimeError:  # the window was closed meanwhile
            pass


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
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._drop_overlay = _DropOverlay(self)
        self._error_box: QMessageBox | None = None
        self._connect()
        # --- retouching (issue 20): brush, Edit menu, projects; in gui/project_io.py ---
        from mffgui.gui.project_io import install_retouch

        install_retouch(self)  # sets self.retouch, self.act_open_project, act_save_project
        # --- end retouching ---
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

    def _action(
        self, text: str, slot, shortcut=None, icon_name: str = "", tip: str = ""
    ) -> QAction:
        act = QAction(icon(icon_name) if icon_name else QIcon(), text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            act.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            hint = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            act.setToolTip(f"{tip} ({hint})" if hint else tip)
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        self.addAction(act)  # shortcuts work even when the toolbar is hidden
        return act

    def _build_actions(self) -> None:
        a = self._action
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
        f = mb.addMenu("&File")
        f.addActions([self.act_open, self.act_open_folder, self.act_add])
        from mffgui.gui.batch_queue import batch_action

        f.addAction(batch_action(self))  # "Batch…": sets self.act_batch
        self.recent_menu = f.addMenu("Open &recent")
        f.addSeparator()
        f.addAction(self.act_export)
        f.addSeparator()
        f.addAction(self.act_quit)
        fu = mb.addMenu("F&usion")
        fu.addActions([self.act_fuse, self.act_cancel])
        # --- training (issue 10): Train dialog and trained-weights manager ---
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
        # --- compare view (issue 9): action + window live in gui/compare_window.py ---
        from mffgui.gui.compare_window import compare_action

        v.addSeparator()
        v.addAction(compare_action(self))  # "Compare methods…", Ctrl+K; sets self.act_compare
        # --- end compare view ---
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

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.hover_label = QLabel()
        self.stage_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.eta_label = QLabel()
        sb.addWidget(self.hover_label, 1)
        sb.addPermanentWidget(self.stage_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.eta_label)
        self._set_progress_visible(False)

    def _connect(self) -> None:
        c = self.controller
        c.sourcesChanged.connect(self._on_sources_changed)
        c.thumbnailReady.connect(self.sources.set_thumbnail)
        c.stateChanged.connect(self._on_state)
        c.progressChanged.connect(self._on_progress)
        c.resultChanged.connect(self._on_result)
        c.errorOccurred.connect(self.show_error)
        c.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        c.exportStateChanged.connect(self._on_export_state)
        c.overlayReady.connect(self.results.set_overlay)
        c.weightsReady.connect(self.results.set_weights)
        self.results.sourceSelected.connect(lambda i: setattr(c, "overlay_source", i))
        self.sources.includeToggled.connect(c.set_included)
        self.sources.orderChanged.connect(c.reorder)
        self.sources.removeRequested.connect(c.remove)
        self.sources.filesDropped.connect(self.add_paths)
        mp = self.method_panel
        mp.methodChanged.connect(self._on_method_changed)
        mp.paramsEdited.connect(self._on_params_edited)
        mp.deviceChanged.connect(self._on_device_changed)
        mp.alignChanged.connect(self._on_align_changed)
        mp.alignOptionsChanged.connect(self._on_align_options_changed)
        mp.fuse_button.clicked.connect(self.fuse)
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
        self.method_panel.set_align(s.align)
        self.controller.align = self.method_panel.align_choice
        self.method_panel.set_align_options(s.align_interpolation, s.align_crop)
        self._on_align_options_changed(
            self.method_panel.align_interpolation, self.method_panel.align_crop
        )
        dev = device or s.device
        self.method_panel.set_device(dev)
        self.controller.device = dev

    def load_methods(self) -> None:
        """Fill the method panel from the registry and restore the last method."""
        from mffgui.methods import list_methods
        from mffgui.methods.registry import default_method_name

        wanted = self.settings.method  # set_methods announces its first method
        self.method_panel.set_methods(list_methods())
        self.method_panel.set_method(wanted or default_method_name())
        self._on_method_changed(self.method_panel.method)
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
        self.recent_menu.clear()
        for entry in self.settings.recent:
            label = Path(entry[0]).name + (f" (+{len(entry) - 1})" if len(entry) > 1 else "")
            act = self.recent_menu.addAction(label)
            act.setToolTip("\n".join(entry))
            act.triggered.connect(lambda _c=False, e=entry: self.open_paths(e))
        self.recent_menu.setEnabled(bool(self.settings.recent))

    def open_files_dialog(self) -> None:
        """File ▸ Open images…"""
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open images", self.settings.last_folder, IMAGE_FILTER
        )
        if files:
            self.open_paths(files)

    def add_files_dialog(self) -> None:
        """File ▸ Add images…"""
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add images", self.settings.last_folder, IMAGE_FILTER
        )
        if files:
            self.add_paths(files)

    def open_folder_dialog(self) -> None:
        """File ▸ Open folder…"""
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder of images", self.settings.last_folder
        )
        if folder:
            self.open_paths([folder])

    # drag and drop anywhere on the window
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Highlight the window when files are dragged over it."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self._drop_overlay.setGeometry(self.rect().adjusted(8, 8, -8, -8))
            self._drop_overlay.raise_()
            self._drop_overlay.show()

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
        c = self.controller
        if not self.method_panel.methods:  # deferred and not loaded yet
            self.load_methods()
        if self.method_panel.method:
            try:
                c.params[self.method_panel.method] = self.method_panel.params()
            except MffError as err:
                self.show_error(f"Invalid parameter: {err}")
                return False
        return c.fuse()

    def _on_method_changed(self, name: str) -> None:
        self.controller.method = name
        self.settings.method = name
        saved = self.settings.params.get(name)
        if saved:
            self.method_panel.set_values(saved)

    def _on_params_edited(self) -> None:
        name = self.method_panel.method
        if name:
            self.settings.params[name] = {
                k: v if isinstance(v, bool | int | float | str) else str(v)
                for k, v in self.method_panel.values().items()
            }

    def _on_align_changed(self, model: str) -> None:
        c = self.controller
        changed = model != c.align
        c.set_align(model)
        self.settings.align = model
        if changed:
            self._refuse()

    def _on_align_options_changed(self, interpolation: str, crop: bool) -> None:
        c = self.controller
        changed = (interpolation, crop) != (c.align_interpolation, c.align_crop)
        c.align_interpolation = interpolation
        c.align_crop = crop
        self.settings.align_interpolation = interpolation
        self.settings.align_crop = crop
        if changed and c.align not in ("", "off"):
            self._refuse()

    def _refuse(self) -> None:
        """Fuse again with the new choices when a result is shown or a run is under way."""
        c = self.controller
        if (c.outcome is not None or c.running) and len(c.included_sources) >= 2:
            self.fuse()

    def _on_device_changed(self, device: str) -> None:
        self.controller.device = device
        self.settings.device = device

    def _on_state(self, state: str) -> None:
        running = state in ("running", "cancelling")
        self._set_progress_visible(running)
        if state == "cancelling":
            self.stage_label.setText("Cancelling…")
        self._update_actions()

    def _on_export_state(self, busy: bool) -> None:
        if not self.controller.running:
            self._set_progress_visible(busy)
        self._update_actions()

    def _on_progress(self, frac: float, stage: str, eta: float) -> None:
        self.progress.setValue(int(frac * 1000))
        self.stage_label.setText(stage)
        self.eta_label.setText(_format_eta(eta))

    def _set_progress_visible(self, on: bool) -> None:
        for w in (self.stage_label, self.progress, self.eta_label):
            w.setVisible(on)
        if not on:
            self.progress.setValue(0)

    def _on_result(self, outcome: FusionOutcome | None) -> None:
        self.results.set_outcome(
            outcome, self.controller.request_overlay, self.controller.request_weights
        )
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
        text = self.results.pixel_info(x, y)
        if text:
            self.statusBar().clearMessage()  # a temporary message would hide the read-out
        self.hover_label.setText(text)

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
        dlg = ExportDialog(
            folder / f"{stem}{suffix}",
            outcome.stack.bit_depth,
            [m.path for m in outcome.metas if m.path is not None],
            self,
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
        from importlib import metadata

        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        def ver(pkg: str) -> str:
            try:
                return metadata.version(pkg)
            except metadata.PackageNotFoundError:
                return "not installed"

        import numpy

        from mffgui.methods import list_methods

        torch_ver = ver("torch")
        devices = ", ".join(self.devices) if self.devices is not None else "not probed yet"
        cites = "".join(
            f"<li><b>{m.title}</b>: {m.citation or 'no publication'}</li>" for m in list_methods()
        )
        return (
            f"<h3>mffgui {__version__}</h3>"
            "<p>Multi-focus image fusion (focus stacking).</p>"
            f"<p>Python {platform.python_version()} · PySide6 {pyside_version} (Qt {qVersion()})"
            f" · NumPy {numpy.__version__} · OpenCV {ver('opencv-python-headless')}"
            f" · PyTorch {torch_ver}<br>Devices: {devices} · {sys.platform}</p>"
            f"<p>Methods and their publications:</p><ul>{cites}</ul>"
        )

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
        self._probe = _DeviceProbe(self)
        self._probe.found.connect(self._on_devices)
        self._probe.start()

    @Slot(str)
    def _on_devices(self, devices: str) -> None:
        self.devices = [d for d in devices.split(",") if d]
        self.method_panel.set_available_devices(self.devices)
        wanted = self.settings.device
        self.method_panel.set_device(wanted)
        self.controller.device = self.method_panel.device_choice

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
        # --- training (issue 10): a running trainer gets Stop and a few seconds to save ---
        from mffgui.gui.training.actions import shutdown_training

        shutdown_training(self)
        # --- end training ---
        if getattr(self, "batch_window", None) is not None:
            self.batch_window.close()  # cancels the batch and closes its cluster
        self.controller.shutdown()
        super().closeEvent(event)


def _format_eta(seconds: float) -> str:
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"~{seconds:.0f} s left"
    return f"~{seconds // 60:.0f} min {seconds % 60:02.0f} s left"
