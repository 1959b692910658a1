"""Render the compare window on a real stack offscreen into a PNG (for the docs).

``python -m mffgui.gui.compare_window OUT.png INPUT... [--methods a,b] [--region x,y,w,h]``
(or ``python -m mffgui.gui.compare_screenshot ...``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def render_screenshot(
    out: Path,
    inputs: Sequence[str],
    methods: Sequence[str],
    size: tuple[int, int] = (1500, 950),
    region: tuple[int, int, int, int] | None = None,
    timeout: float = 600.0,
) -> bool:
    """Render the compare window on a real stack offscreen into ``out`` (for the docs).

    ``python -m mffgui.gui.compare_window OUT.png INPUT... [--methods a,b] [--region x,y,w,h]``
    """
    import time

    from PySide6.QtWidgets import QApplication

    from mffgui.gui.compare_window import CompareWindow
    from mffgui.io import discover

    app = QApplication.instance() or QApplication([])
    disc = discover(list(inputs))
    win = CompareWindow(disc.frames, disc.metas)
    win.resize(*size)
    win.show()
    win.set_checked(list(methods))
    win.run()
    t0 = time.monotonic()
    while win.running and time.monotonic() - t0 < timeout:
        app.processEvents()
        time.sleep(0.02)
    if win.state != "done":
        return False
    if region is not None:
        win.select_region(region)
        while win.region is None and time.monotonic() - t0 < timeout:
            app.processEvents()
            time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    ok = win.grab().save(str(out))
    win.close()
    return bool(ok)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, render, return the exit status (0: saved)."""
    import argparse
    import os
    import tempfile

    from mffgui.gui.widgets.compare_runs import FAST_DEFAULTS

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MFFGUI_CONFIG_DIR", tempfile.mkdtemp(prefix="mffgui-shot-"))
    ap = argparse.ArgumentParser(description="Screenshot of the compare window")
    ap.add_argument("out")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--methods", default=",".join(FAST_DEFAULTS))
    ap.add_argument("--region", default="")
    ap.add_argument("--theme", default="dark", choices=("dark", "light"))
    args = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from mffgui.gui.style.palettes import apply_theme

    apply_theme(QApplication.instance() or QApplication(sys.argv[:1]), args.theme)
    reg = tuple(int(v) for v in args.region.split(",")) if args.region else None
    ok = render_screenshot(Path(args.out), args.inputs, args.methods.split(","), region=reg)  # type: ignore[arg-type]
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover - docs helper
    sys.exit(main())
