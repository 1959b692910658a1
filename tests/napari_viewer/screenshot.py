"""Screenshot of the plugin in napari for the docs (``docs/screenshot-napari.png``).

Run on an X display, e.g. ``QT_QPA_PLATFORM=xcb xvfb-run -a python
tests/napari_viewer/screenshot.py docs/screenshot-napari.png``: opens the bundled sample stack
through the plugin's reader, fuses it with the dock widget's default method and saves the window.
"""

from __future__ import annotations

import sys

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from mffgui.napari.logic import read_focus_stack
from mffgui.resources import sample_stack_dir


def main(out: str) -> int:
    viewer = napari.Viewer(show=True, title="napari — mffgui focus stack fusion")
    viewer.window._qt_window.resize(1280, 800)
    for data, kw, _kind in read_focus_stack(sample_stack_dir()):
        viewer.add_image(data, **kw)
    stack = viewer.layers[-1]
    _dock, widget = viewer.window.add_plugin_dock_widget("mffgui", "Focus stack fusion")
    widget[0].value = stack
    before = len(viewer.layers)
    widget[4].changed.emit(True)
    app = QApplication.instance()
    while len(viewer.layers) < before + 3:
        app.processEvents()
    stack.visible = False
    viewer.layers[-1].visible = False  # the height map; shown in the layer list
    viewer.layers.selection.active = viewer.layers[before]
    for _ in range(20):
        app.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    import cv2

    cv2.imwrite(out, cv2.cvtColor(np.asarray(shot), cv2.COLOR_RGBA2BGR))
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshot-napari.png"))
