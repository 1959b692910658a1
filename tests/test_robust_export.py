"""Export faults: disk full, unwritable folder, interruption -> ExportError, nothing left behind.

The encoders are made to fail *after* writing part of the temporary file (as a full disk does),
so the tests check that the partial temporary file is removed and that a file already at the
target is left byte-for-byte as it was.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from mffgui.errors import ExportError
from mffgui.io import write_image

IMG = np.random.default_rng(3).random((40, 56, 3), dtype=np.float32)
OLD = b"an existing export the user cares about\n" * 10


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _disk_full_after_half(monkeypatch, ext: str) -> None:
    """Make the encoder of ``ext`` write half its output, then fail with ENOSPC."""
    if ext == ".png":
        real = Path.write_bytes

        def write_bytes(self, data):
            real(self, data[: len(data) // 2])
            _enospc()

        monkeypatch.setattr(Path, "write_bytes", write_bytes)
    elif ext == ".tif":
        real_tif = tifffile.imwrite

        def imwrite(file, *args, **kwargs):
            real_tif(file, *args, **kwargs)
            with open(file, "r+b") as fh:
                fh.truncate(os.path.getsize(file) // 2)
            _enospc()

        monkeypatch.setattr(tifffile, "imwrite", imwrite)
    else:
        real_save = Image.Image.save

        def save(self, fp, *args, **kwargs):
            real_save(self, fp, *args, **kwargs)
            with open(fp, "r+b") as fh:
                fh.truncate(os.path.getsize(fp) // 2)
            _enospc()

        monkeypatch.setattr(Image.Image, "save", save)


@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("existing", [False, True])
def test_disk_full_leaves_nothing_and_keeps_existing(tmp_path, monkeypatch, ext, existing):
    target = tmp_path / f"fused{ext}"
    if existing:
        target.write_bytes(OLD)
    _disk_full_after_half(monkeypatch, ext)
    with pytest.raises(ExportError, match="No space left on device") as info:
        write_image(target, IMG, bit_depth=8)
    assert info.value.path == target
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ([target.name] if existing else [])  # no temp or partial file
    if existing:
        assert target.read_bytes() == OLD


@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg"])
def test_rename_failure_leaves_nothing(tmp_path, monkeypatch, ext):
    target = tmp_path / f"fused{ext}"
    target.write_bytes(OLD)
    monkeypatch.setattr(os, "replace", _enospc)
    with pytest.raises(ExportError):
        write_image(target, IMG)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert target.read_bytes() == OLD


def test_unwritable_folder(tmp_path, monkeypatch):
    target = tmp_path / "fused.png"
    target.write_bytes(OLD)

    def denied(*_a, **_k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(ExportError, match="cannot write into") as info:
        write_image(target, IMG)
    assert info.value.path == target
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert target.read_bytes() == OLD


def test_unwritable_folder_real(tmp_path):
    if os.geteuid() == 0:
        pytest.skip(
            "running as root: a read-only folder does not stop root from writing "
            "(test_unwritable_folder simulates it)"
        )
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ExportError, match="cannot write into"):
            write_image(folder / "fused.png", IMG)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_interrupted_export_cleans_up_and_reraises(tmp_path, monkeypatch):
    """Ctrl+C (or the app closing) in the middle of encoding: the interrupt propagates."""
    target = tmp_path / "fused.png"
    target.write_bytes(OLD)
    real = Path.write_bytes

    def write_bytes(self, data):
        real(self, data[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(KeyboardInterrupt):
        write_image(target, IMG)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert target.read_bytes() == OLD


def test_disk_full_during_cli_fuse(tmp_path, monkeypatch, capsys):
    """The whole CLI path: exit 2, message, old output untouched, sources untouched."""
    from mffgui.cli import main
    from mffgui.methods import list_methods

    assert "depthmap" in {i.name for i in list_methods()}, "the default method is not registered"
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        assert cv2.imwrite(str(src / f"f{k}.png"), rng.integers(0, 256, (32, 48, 3), np.uint8))
    sources = {p: p.read_bytes() for p in src.iterdir()}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "fused.png"
    target.write_bytes(OLD)
    _disk_full_after_half(monkeypatch, ".png")
    code = main(["fuse", str(src), "-o", str(target), "-m", "depthmap"])
    err = capsys.readouterr().err
    assert code == 2
    assert "No space left on device" in err
    assert str(target) in err
    assert [p.name for p in out_dir.iterdir()] == ["fused.png"]
    assert target.read_bytes() == OLD
    assert {p: p.read_bytes() for p in src.iterdir()} == sources
