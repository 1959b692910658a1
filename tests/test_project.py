"""Project files (mffgui.project): JSON round trip, relative paths, errors naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mffgui.core.retouch import ERASE, Stroke
from mffgui.errors import MffError
from mffgui.project import (
    Project,
    ProjectSource,
    load_project,
    project_from_json,
    save_project,
)


def _project(folder: Path) -> Project:
    imgs = folder / "imgs"
    imgs.mkdir()
    for name in ("a.png", "b.png", "c.tif"):
        (imgs / name).write_bytes(b"x")
    sources = [
        ProjectSource(imgs / "a.png"),
        ProjectSource(imgs / "b.png", None, False),
        ProjectSource(imgs / "c.tif", 2),
    ]
    strokes = [
        Stroke(1, ((1.5, 2.0), (10.0, 12.25)), 5.0, 0.5, 0.75),
        Stroke(ERASE, ((3.0, 4.0),), 2.0),
    ]
    return Project(
        sources,
        "depthmap",
        {"focus": "sml", "radius": 3, "smooth": 1.5},
        "affine",
        "cubic",
        False,
        [(imgs / "a.png", None), (imgs / "c.tif", 2)],
        strokes,
        "2",
    )


def test_round_trip(tmp_path):
    p = _project(tmp_path)
    path = save_project(p, tmp_path / "x.mffproj")
    assert load_project(path) == p
    doc = json.loads(path.read_text())
    assert doc["format"] == "mffgui-project"
    assert doc["sources"][0]["path"] == "imgs/a.png"
    assert doc["sources"][2]["page"] == 2
    assert doc["retouch"]["strokes"][1]["source"] == -1
    assert doc["channel"] == p.channel == "2"
    del doc["channel"]  # a project written before multi-channel stacks: the sum
    assert project_from_json(doc, tmp_path).channel == "sum"


def test_a_moved_project_finds_its_images_relative_to_it(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    save_project(_project(old), old / "x.mffproj")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    q = load_project(new / "x.mffproj")
    assert q.sources[0].path == new / "imgs" / "a.png"
    assert q.frames[1] == (new / "imgs" / "c.tif", 2)
    assert not q.sources[1].included


@pytest.mark.parametrize(
    "content",
    [
        "{",
        '{"format": "other"}',
        '{"format": "mffgui-project", "retouch": {"strokes": [{"source": 0, "points": []}]}}',
    ],
)
def test_bad_files_raise_an_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.mffproj"
    path.write_text(content)
    with pytest.raises(MffError, match=r"bad\.mffproj"):
        load_project(path)
    with pytest.raises(MffError, match=r"missing\.mffproj"):
        load_project(tmp_path / "missing.mffproj")
