"""``mffgui.app.main``: argv handling and a cold start that does not import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from gui_support import config_dir  # noqa: F401 - fixture

from mffgui.app import build_parser


def test_argv_files_and_device():
    args = build_parser().parse_args(["a.png", "dir", "--device", "cpu"])
    assert args.files == ["a.png", "dir"]
    assert args.device == "cpu"
    assert build_parser().parse_args([]).files == []


def test_cold_start_shows_window_without_torch(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MFFGUI_CONFIG_DIR=str(tmp_path))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mffgui.app import main; raise SystemExit(main(['--startup-probe']))",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("startup"))
    assert "torch_imported=False" in line
    assert "methods_imported=False" in line  # the method list is filled after the first paint
    assert float(line.split()[1]) > 0


def test_long_sessions_survive_pyside_refcount_defect(tmp_path):
    """Tens of thousands of Qt calls (a long session) must not abort the interpreter."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "import mffgui.gui\n"
        "app = QApplication([])\n"
        "label = QLabel()\n"
        "for i in range(40000):\n"
        "    label.setText(str(i)); label.isVisible(); app.processEvents()\n"
        "print('ok', mffgui.gui.SINGLETONS_GUARDED)\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MFFGUI_CONFIG_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok")


def test_main_opens_and_fuses_the_given_files(tmp_path):
    """``main(FILES)`` shows the window, then opens and fuses FILES with the default method.

    Runs in a subprocess: after ``QApplication.exec()`` returns, Qt treats the application as
    closing down, which would break the following tests in this process.
    """
    from gui_support import blurred_pair, write_png

    folder = tmp_path / "stack"
    folder.mkdir()
    _sharp, a, b = blurred_pair()
    write_png(folder / "a.png", a)
    write_png(folder / "b.png", b)
    code = (
        "import json, sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6 import QtWidgets\n"
        "from mffgui.app import main\n"
        "exec_ = QtWidgets.QApplication.exec\n"
        "def check():\n"
        "    app = QtWidgets.QApplication.instance()\n"
        "    w = [x for x in app.topLevelWidgets() if type(x).__name__ == 'MainWindow'][0]\n"
        "    c = w.controller\n"
        "    if c.state in ('done', 'failed'):\n"
        "        print(json.dumps({'state': c.state, 'error': c.last_error, 'device': c.device,\n"
        "                          'frames': len(c.outcome.metas) if c.outcome else 0}))\n"
        "        w.close(); app.quit()\n"
        "    else:\n"
        "        QTimer.singleShot(50, check)\n"
        "def run():\n"
        "    QTimer.singleShot(50, check)\n"
        "    QTimer.singleShot(120000, QtWidgets.QApplication.instance().quit)\n"
        "    return exec_()\n"
        "QtWidgets.QApplication.exec = staticmethod(run)\n"
        f"sys.exit(main([{str(folder)!r}, '--device', 'cpu']))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MFFGUI_CONFIG_DIR=str(tmp_path / "cfg"))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("{"))
    assert json.loads(line) == {"state": "done", "error": "", "device": "cpu", "frames": 2}
