"""Retouching and project files in the main window: the Edit menu, File ▸ Open/Save project.

:func:`install_retouch` is the one call the window makes (after its own signal connections, so
a retouched result is shown after the automatic one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QToolBar

from mffgui.errors import MffError
from mffgui.gui.retouch import RetouchController, frame_keys
from mffgui.project import SUFFIX, Project, ProjectSource, load_project, save_project

if TYPE_CHECKING:
    from mffgui.gui.main_window import MainWindow

PROJECT_FILTER = f"mffgui projects (*{SUFFIX});;All files (*)"


def install_retouch(window: MainWindow) -> tuple[RetouchController, QAction, QAction]:
    """Add the Retouch panel, the Edit menu and the project actions to ``window``.

    Returns
    -------
    retouch : RetouchController
    open_project, save_project : QAction
        File ▸ Open project… and File ▸ Save project… (inserted before Export).
    """
    rc = RetouchController(window)
    mb = window.menuBar()
    menus = {a.text(): a for a in mb.actions()}
    edit = QMenu("&Edit", window)
    edit.addActions(rc.menu_actions())
    before = menus.get("F&usion")
    if before is not None:
        mb.insertMenu(before, edit)
    else:
        mb.addMenu(edit)

    def act(text: str, slot, keys: list[str], tip: str) -> QAction:
        a = QAction(text, window)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.setStatusTip(tip)
        a.triggered.connect(slot)
        window.addAction(a)
        return a

    act_open = act(
        "Open &project…",
        lambda: open_project_dialog(window),
        ["Ctrl+Shift+P"],
        "Open a saved project: stack, method, parameters and retouching",
    )
    act_save = act(
        "&Save project…",
        lambda: save_project_dialog(window),
        ["Ctrl+Alt+S"],
        "Save the stack, alignment, method, parameters and retouching strokes",
    )
    toolbar = window.findChild(QToolBar, "mainToolbar")
    if toolbar is not None:
        toolbar.addSeparator()
        toolbar.addAction(rc.act_brush)
    file_action = menus.get("&File")
    if file_action is not None and file_action.menu() is not None:
        fm = file_action.menu()
        fm.insertActions(window.act_export, [act_open, act_save])
        fm.insertSeparator(window.act_export)
    return rc, act_open, act_save


def current_project(window: MainWindow) -> Project:
    """The window's stack, choices and strokes as a :class:`Project`."""
    c = window.controller
    mp = window.method_panel
    rc: RetouchController = window.retouch
    sources = [ProjectSource(s.path, s.page, s.included) for s in c.sources]
    frames = list(frame_keys(rc.auto)) if rc.auto is not None else list(rc.retoucher.frames)
    try:
        values = mp.values()
    except MffError:
        values = {}
    return Project(
        sources,
        mp.method or c.method,
        dict(values),
        mp.align_choice,
        mp.align_interpolation,
        mp.align_crop,
        frames,
        list(rc.retoucher.strokes),
        c.channel,
    )


def save_project_dialog(window: MainWindow) -> None:
    """File ▸ Save project…"""
    if not window.controller.sources:
        window.show_error("Nothing to save yet: open a stack first.")
        return
    folder = window.settings.last_folder or str(Path.home())
    path, _ = QFileDialog.getSaveFileName(
        window, "Save project", str(Path(folder) / f"project{SUFFIX}"), PROJECT_FILTER
    )
    if path:
        save_project_to(window, Path(path))


def save_project_to(window: MainWindow, path: Path) -> bool:
    """Save the window's project to ``path`` (errors shown to the user)."""
    if path.suffix == "":
        path = path.with_suffix(SUFFIX)
    try:
        save_project(current_project(window), path)
    except MffError as err:
        window.show_error(str(err))
        return False
    window.controller.message.emit(f"Saved project {path.name}")
    return True


def open_project_dialog(window: MainWindow) -> None:
    """File ▸ Open project…"""
    path, _ = QFileDialog.getOpenFileName(
        window, "Open project", window.settings.last_folder, PROJECT_FILTER
    )
    if path:
        open_project(window, Path(path))


def open_project(window: MainWindow, path: Path, fuse: bool = True) -> bool:
    """Open a project: its sources (with their inclusion), alignment, method and parameters;
    the strokes are applied to the result of the fusion started here."""
    try:
        project = load_project(path)
    except MffError as err:
        window.show_error(str(err))
        return False
    c = window.controller
    if not c.open_sources([s.path for s in project.sources]):
        return False
    wanted = {s.key: s for s in project.sources}
    for s in list(c.sources):
        ps = wanted.get(s.key)
        if ps is not None and not ps.included and s.included:
            c.set_included(s.id, False)
    order = [s.key for s in project.sources]
    rank = {k: i for i, k in enumerate(order)}
    c.reorder([s.id for s in sorted(c.sources, key=lambda s: rank.get(s.key, len(rank)))])
    mp = window.method_panel
    if not mp.methods:
        window.load_methods()
    if project.method:
        mp.set_method(project.method)
        window.choices.method_changed(mp.method)
        mp.set_values(project.params)
        window.choices.params_edited()
    mp.set_align(project.align)
    window.choices.align_changed(mp.align_choice)
    mp.set_align_options(project.align_interpolation, project.align_crop)
    window.choices.align_options_changed(mp.align_interpolation, mp.align_crop)
    c.channel = window.settings.channel = project.channel
    window.microscopy.update_channels()
    window.retouch.load_strokes(project.strokes, tuple(project.frames))
    window.settings.last_folder = str(path.parent)
    c.message.emit(
        f"Opened project {path.name}: {len(project.sources)} image(s), "
        f"{len(project.strokes)} stroke(s)"
    )
    if fuse and len(c.included_sources) >= 2:
        window.fuse()
    return True
