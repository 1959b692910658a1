"""Render the main window with a stack fused, offscreen, to a PNG (for the docs).

``python -m mffgui.gui.screenshot OUT.png [INPUTS...] [--method NAME] [--size 1600x900]
[--channel sum|N] [--depth frames|height]``

Runs the real window and worker (no mock-ups): opens the inputs (default: the bundled sample
stack), fuses them, waits for the result and saves ``QWidget.grab()``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Write the screenshot; returns 0 on success, 1 when fusion failed or timed out."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("inputs", nargs="*")
    p.add_argument("--method", default="")
    p.add_argument("--size", default="1600x900")
    p.add_argument("--theme", default="dark", choices=("dark", "light"))
    p.add_argument(
        "--select",
        type=int,
        default=-1,
        help="source shown in the focus overlay (default: the most chosen one)",
    )
    p.add_argument(
        "--channel", default="sum", help="multi-channel stacks: guide channel (sum or 1-based)"
    )
    p.add_argument(
        "--depth", default="frames", choices=("frames", "height"), help="the depth view's colours"
    )
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MFFGUI_CONFIG_DIR", tempfile.mkdtemp(prefix="mffgui-shot-"))

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from mffgui.gui.main_window import MainWindow, icon
    from mffgui.gui.style.palettes import apply_theme
    from mffgui.resources import sample_stack_dir
    from mffgui.settings import AppSettings

    apply_theme(app, args.theme)
    app.setWindowIcon(icon("mffgui"))
    w, h = (int(v) for v in args.size.split("x"))
    window = MainWindow(AppSettings(theme=args.theme, channel=args.channel), probe_devices=False)
    window.resize(w, h)
    window.show()
    if args.method:
        window.method_panel.set_method(args.method)
    window.open_paths(args.inputs or [sample_stack_dir()])
    t0 = time.monotonic()
    while window.controller.running and time.monotonic() - t0 < args.timeout:
        app.processEvents()
        time.sleep(0.02)
    if window.controller.state != "done":
        print(
            f"fusion did not finish: {window.controller.state} {window.controller.last_error}",
            file=sys.stderr,
        )
        return 1
    import numpy as np

    index = window.controller.outcome.result.index_map
    select = args.select if args.select >= 0 else int(np.bincount(index.ravel()).argmax())
    window.results.set_selected_source(select)
    window.results.set_depth_mode(args.depth)
    for _ in range(30):  # thumbnails and layout settle
        app.processEvents()
        time.sleep(0.02)
    x, y = (v // 2 for v in window.controller.outcome.result.index_map.shape[::-1])
    window.statusBar().clearMessage()
    text = window.results.pixel_info(x, y)
    t1 = time.monotonic()
    while "…" in text and time.monotonic() - t1 < 30:  # weights read in the background
        app.processEvents()
        time.sleep(0.02)
        text = window.results.pixel_info(x, y)
    window.hover_label.setText(text)
    app.processEvents()
    ok = window.grab().save(args.out)
    window.close()
    print(f"{'wrote' if ok else 'could not write'} {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
