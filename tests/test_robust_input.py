"""Bad-input suite: every kind of damaged or unusual input is handled or gives a clear MffError.

Each case is checked at the library level (:func:`read_stack` and the stack's frames) and a
representative subset through the real command line in a subprocess (``python -m mffgui fuse``):
exit code 2, the message names the file, no traceback, and the sha256 of every file in the
input folder is the same before and after the run.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from mffgui.errors import (
    CorruptImage,
    ExportError,
    MffError,
    StackMismatch,
    TooFewImages,
    UnsupportedImage,
)
from mffgui.io import read_image, read_stack
from mffgui.io.readers import sniff_format

REPO = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(11)
H, W = 48, 64


def _rgb(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _png(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def _jpeg_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _tiff_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def _sha(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- building the bad inputs -------------------------------------------------------------------


def _make_case(name: str, folder: Path) -> tuple[list[Path], Path | None]:
    """Create case ``name`` in ``folder``: (inputs to pass, the file an error must name)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = _png(folder / "a_good.png", _rgb(1))
    if name == "truncated-jpeg":
        data = _jpeg_bytes(_rgb(2))
        bad = folder / "b_cut.jpg"
        bad.write_bytes(data[: len(data) * 2 // 3])
    elif name == "truncated-png":
        _ok, buf = cv2.imencode(".png", _rgb(2))
        bad = folder / "b_cut.png"
        bad.write_bytes(buf.tobytes()[: len(buf) * 2 // 3])
    elif name == "truncated-tiff":
        data = _tiff_bytes(_rgb(2), photometric="rgb")
        bad = folder / "b_cut.tif"
        bad.write_bytes(data[: len(data) // 2])
    elif name == "zero-byte":
        bad = folder / "b_empty.png"
        bad.write_bytes(b"")
    elif name == "text-as-png":
        bad = folder / "b_notes.png"
        bad.write_text("shopping list: film, batteries\n", encoding="utf-8")
    elif name == "float32-tiff":
        bad = folder / "b_float.tif"
        bad.write_bytes(_tiff_bytes(RNG.random((H, W), dtype=np.float32)))
    elif name == "1-bit-png":
        bad = folder / "b_bw.png"
        Image.fromarray(RNG.random((H, W)) > 0.5).save(bad)
    elif name == "1-bit-tiff":
        bad = folder / "b_bw.tif"
        bad.write_bytes(_tiff_bytes(RNG.random((H, W)) > 0.5))
    elif name == "mixed-sizes":
        bad = _png(folder / "b_small.png", _rgb(2)[: H - 8, : W - 8])
        _png(folder / "c_good.png", _rgb(3))
    elif name == "single-image":
        return [good], good
    elif name == "empty-folder":
        good.unlink()
        return [folder], folder
    else:
        raise AssertionError(name)
    return [good, bad], bad


# (case, expected error type, phrase the message must contain)
ERROR_CASES = [
    ("truncated-jpeg", CorruptImage, "truncated"),
    ("truncated-png", CorruptImage, "truncated"),
    ("truncated-tiff", CorruptImage, "TIFF"),
    ("zero-byte", CorruptImage, "empty"),
    ("text-as-png", UnsupportedImage, "not an image"),
    ("float32-tiff", UnsupportedImage, "floating-point"),
    ("1-bit-png", UnsupportedImage, "1-bit"),
    ("1-bit-tiff", UnsupportedImage, "1-bit"),
    ("mixed-sizes", StackMismatch, "same size"),
    ("single-image", TooFewImages, "at least two"),
    ("empty-folder", TooFewImages, "no images found"),
]


def _read_all(inputs: list[Path]) -> None:
    stack = read_stack(inputs, cache_bytes=0)
    for i in range(len(stack)):
        stack.frame(i)


@pytest.mark.parametrize(("case", "exc", "phrase"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_library_error_names_the_file(tmp_path, case, exc, phrase):
    inputs, culprit = _make_case(case, tmp_path / "in")
    before = _sha(tmp_path / "in")
    with pytest.raises(exc, match=phrase) as info:
        _read_all(inputs)
    assert isinstance(info.value, MffError)
    assert info.value.path is not None
    assert info.value.path == culprit
    assert str(culprit) in str(info.value)
    assert _sha(tmp_path / "in") == before


# --- the same through the real CLI -------------------------------------------------------------


def _cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "mffgui", "fuse", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=240,
        env=env,
        cwd=cwd or REPO,
    )


CLI_CASES = [
    "truncated-jpeg",
    "truncated-tiff",
    "zero-byte",
    "text-as-png",
    "float32-tiff",
    "1-bit-png",
    "mixed-sizes",
    "single-image",
    "empty-folder",
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_exit_2_names_file_no_traceback(tmp_path, case):
    inputs, culprit = _make_case(case, tmp_path / "in")
    before = _sha(tmp_path / "in")
    out = tmp_path / "out" / "fused.png"
    out.parent.mkdir()
    proc = _cli(*inputs, "-o", out, "-m", "depthmap")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "mffgui: error:" in proc.stderr
    assert str(culprit) in proc.stderr
    assert not out.exists()
    assert not any(out.parent.iterdir())
    assert _sha(tmp_path / "in") == before


def test_cli_refuses_output_equal_to_a_source(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    a, b = _png(folder / "a.png", _rgb(1)), _png(folder / "b.png", _rgb(2))
    before = _sha(folder)
    # the same file, spelled three ways: as given, through "..", and relative to the cwd
    for target, cwd in ((a, None), (folder / "x" / ".." / "b.png", None), (Path("a.png"), folder)):
        if "x" in target.parts:
            (folder / "x").mkdir(exist_ok=True)
        proc = _cli(a, b, "-o", target, "-m", "depthmap", cwd=cwd)
        assert proc.returncode == 2, proc.stderr
        assert "refusing to overwrite a source" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert _sha(folder) == before
        assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["a.png", "b.png"]


# --- inputs that must be handled correctly -----------------------------------------------------


def test_jpeg_named_png_read_by_content(tmp_path):
    data = _jpeg_bytes(_rgb(4))
    real, fake = tmp_path / "real.jpg", tmp_path / "fake.png"
    real.write_bytes(data)
    fake.write_bytes(data)
    assert sniff_format(fake) == "JPEG"
    a, meta = read_image(fake)
    b, _ = read_image(real)
    assert meta.format == "JPEG"
    np.testing.assert_array_equal(a, b)
    # independent decode: Pillow's libjpeg
    ref = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255
    assert np.abs(a - ref).max() <= 1.5 / 255


def test_alpha_channels_dropped_with_note(tmp_path):
    rgb = _rgb(5)
    alpha = RNG.integers(0, 256, (H, W, 1), dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=2)
    p1 = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p1)
    p2 = tmp_path / "b.tif"
    p2.write_bytes(_tiff_bytes(rgba, photometric="rgb", extrasamples=[2]))
    stack = read_stack([p1, p2], cache_bytes=0)
    assert stack.channels == 3
    for i in range(2):
        np.testing.assert_array_equal(stack.frame(i), rgb.astype(np.float32) / 255)
        assert stack.metas[i].had_alpha
    assert sum("alpha channel dropped" in n for n in stack.notes) == 2


def test_mixed_gray_and_colour_promoted(tmp_path):
    rgb = _rgb(6)
    gray = rgb[:, :, 1].copy()
    c = _png(tmp_path / "a.png", rgb)
    g = tmp_path / "b.png"
    assert cv2.imwrite(str(g), gray)
    stack = read_stack([c, g], cache_bytes=0)
    assert stack.channels == 3
    assert stack.frame(1).shape == (H, W, 3)
    for ch in range(3):
        np.testing.assert_array_equal(stack.frame(1)[:, :, ch], gray.astype(np.float32) / 255)
    assert any("mixed gray and colour" in n for n in stack.notes)


def test_16bit_tiff_holding_8bit_values_is_kept_16bit(tmp_path):
    """Values are not guessed to be 8-bit: v / 65535 exactly, and a 16-bit export returns v."""
    small = np.random.default_rng(7).integers(0, 256, (H, W), dtype=np.uint16)
    paths = []
    for k in range(2):
        p = tmp_path / f"f{k}.tif"
        p.write_bytes(_tiff_bytes(small + k))
        paths.append(p)
    stack = read_stack(paths, cache_bytes=0)
    assert stack.bit_depth == 16
    img = stack.frame(0)
    assert img.max() <= 255 / 65535 + 1e-9
    np.testing.assert_array_equal(np.rint(img[:, :, 0] * 65535).astype(np.uint16), small)

    from mffgui.io import write_image

    out = write_image(tmp_path / "out.tif", img, meta=stack.metas[0])
    np.testing.assert_array_equal(tifffile.imread(out), small)


SPECIAL_NAMES = ["my stack", "Schärfe — 焦点 ü", "日本語 フォルダ"]


@pytest.mark.parametrize("dirname", SPECIAL_NAMES)
def test_spaces_and_non_ascii_paths_library(tmp_path, dirname):
    folder = tmp_path / dirname
    folder.mkdir()
    frames = [_rgb(10 + k) for k in range(3)]
    for k, f in enumerate(frames):
        name = f"Bild {k + 1} é.png" if k != 1 else f"Bild {k + 1} é.jpg"
        if name.endswith(".png"):
            _png(folder / name, f)
        else:
            (folder / name).write_bytes(_jpeg_bytes(f))
    stack = read_stack(folder, cache_bytes=0)
    assert len(stack) == 3
    np.testing.assert_array_equal(stack.frame(0), frames[0].astype(np.float32) / 255)
    assert [m.path.name for m in stack.metas] == ["Bild 1 é.png", "Bild 2 é.jpg", "Bild 3 é.png"]


def test_spaces_and_non_ascii_paths_cli(tmp_path):
    folder = tmp_path / "Schärfe 焦点 stack"
    folder.mkdir()
    for k in range(2):
        _png(folder / f"frame {k + 1} ü.png", _rgb(20 + k))
    before = _sha(folder)
    out = tmp_path / "résultat 結果" / "fusionné 1.tif"
    out.parent.mkdir()
    proc = _cli(folder, "-o", out, "-m", "depthmap")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    _img, meta = read_image(out)
    assert (meta.width, meta.height, meta.channels) == (W, H, 3)
    assert _sha(folder) == before
    # an error about such a file is printed readably, too
    bad = folder / "kaputt ß.png"
    bad.write_bytes(b"")
    proc = _cli(folder, "-o", tmp_path / "x.png", "-m", "depthmap")
    assert proc.returncode in (0, 2)  # an empty file in a folder is skipped with a note
    assert "kaputt ß.png" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- unreadable files ----------------------------------------------------------------------------


def test_permission_denied_real(tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip(
            "running as root: chmod 000 does not stop root from reading "
            "(the monkeypatched tests below cover the error paths)"
        )
    inputs, _ = _make_case("truncated-jpeg", tmp_path / "in")
    locked = _png(tmp_path / "in" / "locked.png", _rgb(3))
    locked.chmod(0)
    try:
        with pytest.raises(UnsupportedImage, match="cannot be opened") as info:
            _read_all([inputs[0], locked])
        assert info.value.path == locked
    finally:
        locked.chmod(0o644)


def _deny(monkeypatch, victim: Path) -> None:
    """Make every Python-level open of ``victim`` fail as chmod 000 would for a normal user."""
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and Path(file) == victim:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    real_fromfile = np.fromfile

    def fake_fromfile(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and Path(file) == victim:
            raise PermissionError(13, "Permission denied", str(file))
        return real_fromfile(file, *args, **kwargs)

    monkeypatch.setattr(np, "fromfile", fake_fromfile)


def test_permission_denied_at_discovery(tmp_path, monkeypatch):
    a = _png(tmp_path / "a.png", _rgb(1))
    locked = _png(tmp_path / "locked.png", _rgb(2))
    _deny(monkeypatch, locked)
    with pytest.raises(UnsupportedImage, match="Permission denied") as info:
        read_stack([a, locked])
    assert info.value.path == locked
    # in a folder, the unreadable file is skipped with the reason
    c = _png(tmp_path / "c.png", _rgb(3))
    stack = read_stack(tmp_path)
    assert [m.path for m in stack.metas] == [a, c]
    assert any("locked.png" in n and "Permission denied" in n for n in stack.notes)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_permission_lost_during_a_run(tmp_path, monkeypatch, ext):
    """A frame that becomes unreadable after discovery fails on read, naming the file."""
    paths = []
    for k in range(2):
        p = tmp_path / f"f{k}{ext}"
        if ext == ".jpg":
            p.write_bytes(_jpeg_bytes(_rgb(k)))
        elif ext == ".tif":
            p.write_bytes(_tiff_bytes(_rgb(k), photometric="rgb"))
        else:
            _png(p, _rgb(k))
        paths.append(p)
    stack = read_stack(paths, cache_bytes=0)
    _deny(monkeypatch, paths[1])
    stack.frame(0)
    with pytest.raises(MffError) as info:
        stack.frame(1)
    assert info.value.path == paths[1]
    assert "Permission denied" in str(info.value)


def test_permission_denied_cli_in_process(tmp_path, monkeypatch, capsys):
    from mffgui.cli import main

    a = _png(tmp_path / "a.png", _rgb(1))
    locked = _png(tmp_path / "locked.png", _rgb(2))
    _deny(monkeypatch, locked)
    code = main(["fuse", str(a), str(locked), "-o", str(tmp_path / "o.png"), "-m", "depthmap"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(locked) in err
    assert "Permission denied" in err
    assert not (tmp_path / "o.png").exists()


def test_unwritable_output_folder_cli_in_process(tmp_path, monkeypatch, capsys):
    """mkstemp failing (read-only folder, as for a normal user) -> exit 2, sources untouched."""
    import tempfile

    from mffgui.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    a, b = _png(folder / "a.png", _rgb(1)), _png(folder / "b.png", _rgb(2))
    before = _sha(folder)
    out_dir = tmp_path / "ro"
    out_dir.mkdir()

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code = main(["fuse", str(a), str(b), "-o", str(out_dir / "f.png"), "-m", "depthmap"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot write into" in err
    assert str(out_dir / "f.png") in err
    assert list(out_dir.iterdir()) == []
    assert _sha(folder) == before
    assert isinstance(ExportError("x"), MffError)


# --- damaged TIFF internals found by the fuzz test (tests/test_robust_fuzz.py) ---------------


def _tiff_with(tmp_path: Path, name: str, **kw) -> tuple[Path, bytearray]:
    p = tmp_path / name
    p.write_bytes(_tiff_bytes(_rgb(8), photometric="rgb", **kw))
    return p, bytearray(p.read_bytes())


def test_tiff_with_zero_width_is_corrupt(tmp_path):
    p, data = _tiff_with(tmp_path, "zero-width.tif")
    with tifffile.TiffFile(p) as tif:
        tag = tif.pages[0].tags["ImageWidth"]
        offset, size = tag.valueoffset, (2 if int(tag.dtype) == 3 else 4)  # SHORT or LONG
    data[offset : offset + size] = bytes(size)
    p.write_bytes(bytes(data))
    for fn in (read_image, lambda q: read_stack([q, _png(tmp_path / "ok.png", _rgb(1))])):
        with pytest.raises(CorruptImage, match="damaged TIFF page header") as info:
            fn(p)
        assert info.value.path == p


def test_tiff_with_damaged_deflate_data_is_corrupt(tmp_path):
    p, data = _tiff_with(tmp_path, "bad-zlib.tif", compression="zlib")
    with tifffile.TiffFile(p) as tif:
        start = int(tif.pages[0].dataoffsets[0])
    data[start : start + 2] = b"\x00\x00"  # break the zlib stream header
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptImage, match="damaged or truncated TIFF data") as info:
        read_image(p)
    assert info.value.path == p


def test_tiff_whose_page_chain_loops_is_corrupt(tmp_path):
    """A next-page offset pointing back at the page made tifffile yield it forever."""
    p, data = _tiff_with(tmp_path, "loop.tif")
    ifd = int.from_bytes(data[4:8], "little")
    n = int.from_bytes(data[ifd : ifd + 2], "little")
    nxt = ifd + 2 + 12 * n
    data[nxt : nxt + 4] = ifd.to_bytes(4, "little")
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptImage, match="loops") as info:
        read_image(p)
    assert info.value.path == p
