"""The main window's microscopy controls: channel selector and height-map export.

* **Channel selector** ("Depth from" in the Method dock): shown when the included sources are
  the z-planes of one multi-channel file (:func:`mffgui.gui.channels.channel_info`); lists
  "Sum of channels" and each channel by its OME name. The choice is the controller's
  ``channel`` and the settings' ``channel``; changing it fuses again when a result is shown.
* **File ▸ Export height map…**: the result's height map as a 32-bit float TIFF (µm when the
  stack records its z-step, else frames) and a viridis preview beside it.

The hover read-out of the height and the depth view's height colouring are in
:mod:`mffgui.gui.widgets.result_panel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QLabel

from mffgui.gui.icons import make_action
from mffgui.gui.widgets.channel_box import ChannelBox

if TYPE_CHECKING:
    from mffgui.gui.main_window import MainWindow


class MicroscopyControls:
    """Channel selector and height-map export wired into ``window``.

    Parameters
    ----------
    window : MainWindow
        Needs ``controller``, ``method_panel`` (its ``top_form``), ``settings``,
        ``file_menu`` and ``act_export`` (the height action goes after it).
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        c = window.controller
        c.channel = window.settings.channel
        self.channel_box = ChannelBox()
        self.channel_label = QLabel("Depth from")
        window.method_panel.top_form.addRow(self.channel_label, self.channel_box)
        self.channel_box.channelChosen.connect(self.set_channel)
        self.act_export_height = make_action(
            window,
            "Export &height map…",
            self.export_height_dialog,
            None,
            "export",
            "Export the height map (32-bit float TIFF, µm) and its colour preview",
        )
        menu = window.file_menu
        actions = menu.actions()
        after = actions.index(window.act_export) + 1
        menu.insertAction(actions[after] if after < len(actions) else None, self.act_export_height)
        c.sourcesChanged.connect(self.update_channels)
        c.resultChanged.connect(lambda _o: self.update_actions())
        c.exportStateChanged.connect(lambda _b: self.update_actions())
        self.update_channels()
        self.update_actions()

    def update_channels(self) -> None:
        """Show the selector for a multi-channel stack (hide it for ordinary photos)."""
        c = self.window.controller
        info = c.channel_info
        self.channel_box.set_info(info, c.channel)
        for w in (self.channel_label, self.channel_box):
            w.setVisible(info is not None)
        # The planes of one microscopy volume are registered already: Align does not apply.
        panel = self.window.method_panel
        for w in (panel.align, panel.align_options):
            w.setEnabled(info is None)

    def set_channel(self, choice: str) -> None:
        """Choose the guide channel (``"sum"`` or a 1-based number); fuse again if a result is
        shown or a run is under way."""
        c = self.window.controller
        changed = choice != c.channel
        c.channel = choice
        self.window.settings.channel = choice
        if self.channel_box.choice != choice:
            self.channel_box.select(choice)
        if changed and (c.outcome is not None or c.running) and len(c.included_sources) >= 2:
            self.window.fuse()

    def update_actions(self) -> None:
        """Enable the height export when a result is shown."""
        c = self.window.controller
        ok = c.outcome is not None and not c.exporting
        self.act_export_height.setEnabled(ok)

    def export_height_dialog(self) -> None:
        """File ▸ Export height map…: ask for a .tif name, then write in the background."""
        c = self.window.controller
        if c.outcome is None:
            self.window.show_error("Nothing to export yet: fuse the stack first.")
            return
        first = c.outcome.metas[0].path
        folder = Path(self.window.settings.last_folder or (first.parent if first else Path.home()))
        stem = (first.name.split(".")[0] if first else "fused") + "-height.tif"
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export height map", str(folder / stem), "TIFF (*.tif *.tiff)"
        )
        if path:
            self.export_height(Path(path))

    def export_height(self, path: Path) -> bool:
        """Start writing the height map to ``path`` (and ``<stem>_preview.png``)."""
        self.window.settings.last_folder = str(path.parent)
        return self.window.controller.export_height(path)


__all__ = ["MicroscopyControls"]
