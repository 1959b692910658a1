"""The one atomic writer (mffgui.io.atomic): all or nothing, no temporaries, normal mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mffgui.io import atomic
from mffgui.io.atomic import (
    atomic_write,
    temporaries_of,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def _mask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_writes_bytes_text_and_json(tmp_path: Path):
    assert write_bytes_atomic(tmp_path / "a.bin", b"\x00\x01") == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    write_text_atomic(tmp_path / "b.txt", "µm\r\n")
    assert (tmp_path / "b.txt").read_bytes() == "µm\r\n".encode()
    write_json_atomic(tmp_path / "c.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_mode_is_a_normal_files_not_0600(tmp_path: Path):
    out = write_text_atomic(tmp_path / "t.json", "{}")
    assert out.stat().st_mode & 0o777 == 0o666 & ~_mask()
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_mode_respects_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(atomic, "_UMASK", 0o077)
    assert write_text_atomic(tmp_path / "private", "x").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("exc", [RuntimeError("encoder failed"), KeyboardInterrupt()])
def test_error_mid_write_leaves_old_file_and_no_temporary(tmp_path: Path, exc: BaseException):
    target = tmp_path / "out.json"
    target.write_text("old")

    def write(tmp: Path) -> None:
        tmp.write_text("half")
        raise exc

    with pytest.raises(type(exc)):
        atomic_write(target, write, suffix=".part")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_missing_folder_is_an_oserror(tmp_path: Path):
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "no" / "such.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_temporary_is_named_after_target_and_writer(tmp_path: Path):
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        assert temporaries_of(tmp_path / "w.pt") == [(tmp, os.getpid())]
        tmp.write_bytes(b"x")

    atomic_write(tmp_path / "w.pt", write, suffix=".part.png")
    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith(f".w.pt.tmp-{os.getpid()}-")
    assert seen[0].name.endswith(".part.png")
    assert temporaries_of(tmp_path / "w.pt") == []


def test_alignment_transforms_file_has_normal_mode(tmp_path: Path):
    """`mffgui align --save-transforms` used to write a 0600 file."""
    from mffgui.core.align import AlignmentReport
    from mffgui.io.transforms import save_transforms

    report = AlignmentReport(model="translation", reference=0, width=4, height=3, frames=())
    out = save_transforms(report, tmp_path / "rig.json")
    if os.name == "posix":
        assert out.stat().st_mode & 0o777 == 0o666 & ~_mask()
    assert json.loads(out.read_text())["model"] == "translation"
