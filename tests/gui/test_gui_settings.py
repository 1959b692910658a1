"""AppSettings <-> JSON (Qt-free)."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import json

from gui_support import config_dir  # noqa: F401 - fixture

from mffgui.settings import MAX_RECENT, AppSettings, load_settings, save_settings, settings_path


def test_round_trip(tmp_path):
    s = AppSettings(
        last_folder="/data",
        method="gff",
        device="cpu",
        theme="light",
        layout="stacked",
        params={"gff": {"r1": 30}},
    )
    s.add_recent(["/a", "/b"])
    path = tmp_path / "s.json"
    assert save_settings(s, path)
    assert load_settings(path) == s


def test_env_var_selects_the_folder(config_dir):
    assert settings_path() == config_dir / "settings.json"
    save_settings(AppSettings(method="laplacian"))
    assert json.loads((config_dir / "settings.json").read_text())["method"] == "laplacian"


def test_damaged_or_foreign_files_give_defaults(tmp_path):
    p = tmp_path / "s.json"
    p.write_text("{not json")
    assert load_settings(p) == AppSettings()
    p.write_text(json.dumps({"theme": "purple", "method": 3, "recent": "x", "unknown": 1}))
    assert load_settings(p) == AppSettings()
    assert load_settings(tmp_path / "missing.json") == AppSettings()


def test_recent_is_newest_first_without_duplicates_and_bounded():
    s = AppSettings()
    for i in range(MAX_RECENT + 3):
        s.add_recent([f"/stack{i}"])
    s.add_recent(["/stack5"])
    assert s.recent[0] == ["/stack5"]
    assert len(s.recent) == MAX_RECENT
    assert sum(r == ["/stack5"] for r in s.recent) == 1


def test_unwritable_folder_reports_false(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not save_settings(AppSettings(), blocker / "sub" / "s.json")
