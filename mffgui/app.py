"""The desktop app entry point: ``python main.py [FILES...] [--device DEV]`` or ``mffgui``.

With no files the bundled sample stack is opened and fused, so a first run shows something.
Heavy modules (torch) are not imported here: the window appears first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

_T0 = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the desktop app."""
    p = argparse.ArgumentParser(
        prog="mffgui",
        description="mffgui desktop app: open a focus "
        "stack, fuse it and export the all-in-focus image.",
    )
    p.add_argument(
        "files",
        nargs="*",
        help="images, folders or multi-page TIFFs to open (default: the bundled sample stack)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default=None,
        help="device for network methods (default: the last one used)",
    )
    p.add_argument(
        "--theme",
        choices=("dark", "light"),
        default=None,
        help="colour theme (default: the last one used)",
    )
    p.add_argument(
        "--no-fuse", action="store_true", help="open the files without fusing them right away"
    )
    # Prints seconds from interpreter start to the first shown frame, then quits (benchmark).
    p.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app until its window is closed; returns the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("mffgui")
    app.setOrganizationName("mffgui")

    from mffgui.gui.main_window import MainWindow, icon
    from mffgui.gui.style.palettes import apply_theme
    from mffgui.resources import sample_stack_dir
    from mffgui.settings import load_settings

    settings = load_settings()
    if args.theme:
        settings.theme = args.theme
    apply_theme(app, settings.theme)
    app.setWindowIcon(icon("mffgui"))
    window = MainWindow(
        settings, device=args.device, probe_devices=not args.startup_probe, defer_methods=True
    )
    if args.startup_probe:
        return _startup_probe(app, window)
    window.show()

    def _open() -> None:
        if args.files:
            window.open_paths(args.files, fuse=not args.no_fuse)
            return
        sample = sample_stack_dir()
        if sample.is_dir():
            window.open_paths([sample], fuse=not args.no_fuse)

    window.after_first_paint(_open)
    from mffgui.gui.tasks import set_exit_status

    code = app.exec()
    set_exit_status(code)
    return code


def _startup_probe(app, window) -> int:
    """Print the seconds from start to the first painted frame and to a usable window (method
    list filled), then quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    marks: dict[str, object] = {}

    class _FirstPaint(QObject):
        def eventFilter(self, obj, event) -> bool:
            if event.type() == QEvent.Type.Paint and "paint" not in marks:
                marks["paint"] = time.perf_counter() - _T0
                marks["methods"] = "mffgui.methods" in sys.modules
            return False

    spy = _FirstPaint()
    window.installEventFilter(spy)
    window.show()

    def _report() -> None:
        if "paint" not in marks or not window.method_panel.methods:
            QTimer.singleShot(2, _report)  # not painted, or the method list not filled yet
            return
        mods = sys.modules
        print(
            f"startup {marks.get('paint', float('nan')):.3f} "
            f"ready {time.perf_counter() - _T0:.3f} "
            f"torch_imported={'torch' in mods} "
            f"methods_imported={marks.get('methods')}",
            flush=True,
        )
        window.close()

    QTimer.singleShot(0, _report)
    return app.exec()
