"""The compare report's folder picker starts at the stack's folder, then the last one used."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

from pathlib import Path

from gui_support import config_dir, pair_dir, slow_method, window  # noqa: F401 - fixtures
from PySide6.QtWidgets import QFileDialog

from mffgui.settings import AppSettings, load_settings, start_folder


def test_start_folder_rules(tmp_path):
    stack = tmp_path / "stack"
    stack.mkdir()
    frame = stack / "f1.png"
    frame.write_bytes(b"")
    assert start_folder("", [frame]) == str(stack)
    assert start_folder(str(tmp_path / "gone"), [frame]) == str(stack)  # removed: fall back
    assert start_folder(str(tmp_path), [frame]) == str(tmp_path)
    assert start_folder("", []) == ""
    s = AppSettings(report_folder=str(tmp_path))
    assert AppSettings.from_dict(s.to_dict()).report_folder == str(tmp_path)


def test_report_dialog_starts_in_stack_then_last_folder(
    qtbot, window, pair_dir, config_dir, tmp_path, monkeypatch
):
    from mffgui.gui.compare_window import open_compare

    window.open_paths([pair_dir], fuse=False)
    win = open_compare(window)
    assert win is not None
    qtbot.addWidget(win)
    starts: list[str] = []
    chosen = tmp_path / "reports"
    chosen.mkdir()

    def fake_dialog(parent, title, start="", *a, **k):
        starts.append(start)
        return str(chosen)

    exported: list[Path] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(fake_dialog))
    monkeypatch.setattr(win, "export_report", lambda folder: exported.append(folder) or True)
    win.export_dialog()
    assert Path(starts[0]) == Path(win.frames[0][0]).parent == pair_dir
    assert exported == [chosen]
    win.export_dialog()
    assert starts[1] == str(chosen)
    assert window.settings.report_folder == str(chosen)
    win.close()
    window.close()  # the main window saves its settings
    assert load_settings().report_folder == str(chosen)
