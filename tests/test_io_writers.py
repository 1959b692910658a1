"""Export: bit depths, exact round trips, metadata, atomic writes and the maps."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

import mffgui.io.writers as writers_mod
from mffgui.errors import ExportError
from mffgui.io.readers import probe, read_image
from mffgui.io.stacks import read_stack
from mffgui.io.writers import to_uint, write_image, write_maps
from mffgui.types import FusionResult, ImageMeta
from tests.conftest import shared_path

RNG = np.random.default_rng(99)


def _img(h: int = 18, w: int = 26, c: int = 3, depth: int = 16) -> np.ndarray:
    hi = 255 if depth == 8 else 65535
    raw = RNG.integers(0, hi + 1, size=(h, w, c))
    return (raw / hi).astype(np.float32)


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_lossless_round_trip(tmp_path, ext, depth, channels):
    img = _img(c=channels, depth=depth)
    out = write_image(tmp_path / f"out{ext}", img, bit_depth=depth)
    back, meta = read_image(out)
    assert meta.bit_depth == depth
    assert meta.channels == channels
    np.testing.assert_array_equal(back, img)
    # Independent decoder agrees on the stored integers.
    stored = tifffile.imread(out) if ext != ".png" else cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    if channels == 3 and ext == ".png":
        stored = stored[:, :, ::-1]
    expected = to_uint(img, depth)
    np.testing.assert_array_equal(stored.reshape(expected.shape), expected)


def test_default_bit_depth_follows_meta(tmp_path):
    img = _img()
    write_image(tmp_path / "a.png", img, meta=ImageMeta(bit_depth=16))
    write_image(tmp_path / "b.png", img, meta=ImageMeta(bit_depth=8))
    write_image(tmp_path / "c.png", img)
    assert [probe(tmp_path / n)[0].bit_depth for n in ("a.png", "b.png", "c.png")] == [16, 8, 8]


def test_to_uint_rounds_and_clips():
    x = np.array([-0.5, 0.0, 0.5 / 255, 1.49 / 255, 1.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(to_uint(x, 8), [0, 0, 0, 1, 255, 255])
    v = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(to_uint(v / np.float32(65535), 16), v)


def test_jpeg_quality_and_8bit(tmp_path):
    img = _img(64, 64, depth=8)
    hi = write_image(tmp_path / "hi.jpg", img, quality=98)
    lo = write_image(tmp_path / "lo.jpg", img, quality=20)
    assert hi.stat().st_size > lo.stat().st_size
    back, meta = read_image(hi)
    assert meta.format == "JPEG"
    assert meta.bit_depth == 8
    assert np.abs(back - img).mean() < np.abs(read_image(lo)[0] - img).mean()
    # A 16-bit source defaults to 8 bits for JPEG; asking for 16 explicitly is an error.
    write_image(tmp_path / "d.jpg", img, meta=ImageMeta(bit_depth=16))
    with pytest.raises(ExportError, match="8 bits only"):
        write_image(tmp_path / "e.jpg", img, bit_depth=16)
    with pytest.raises(ExportError, match="quality"):
        write_image(tmp_path / "f.jpg", img, quality=0)


def test_bad_extension_and_shape(tmp_path):
    with pytest.raises(ExportError, match=r"\.webp") as exc:
        write_image(tmp_path / "x.webp", _img())
    assert exc.value.path == tmp_path / "x.webp"
    with pytest.raises(ExportError, match="shape"):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 2), np.float32))


# --- metadata ---------------------------------------------------------------------------------


def _exif() -> bytes:
    e = Image.Exif()
    e[0x010F] = "AcmeCam"
    e[0x0110] = "Model 7"
    e[0x0131] = "firmware 1.2"
    return e.tobytes()


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif"])
def test_icc_and_exif_carried_from_jpeg(tmp_path, ext):
    icc = b"icc-profile-bytes-" + bytes(range(256)) * 3
    exif = _exif()
    src = tmp_path / "src.jpg"
    Image.fromarray(RNG.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
        src, quality=92, icc_profile=icc, exif=exif
    )
    img, meta = read_image(src)
    out = write_image(tmp_path / f"fused{ext}", img, meta=meta)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == icc
        if ext != ".tif":  # TIFF: tags re-laid out in the file (next test)
            got = im.info.get("exif") or im.getexif().tobytes()
            got = got if got.startswith(b"Exif") else b"Exif\x00\x00" + got
            assert got == exif
        assert im.getexif()[0x010F] == "AcmeCam"
    # And our own reader sees the same bytes.
    back = probe(out)[0]
    assert back.icc_profile == icc
    if ext != ".tif":
        assert back.exif == exif


@pytest.mark.parametrize("depth", [8, 16])
def test_tiff_export_carries_exif_sub_ifd_and_icc(tmp_path, depth):
    icc = b"icc-profile-bytes-" + bytes(range(256)) * 2
    e = Image.Exif()
    e[0x010F] = "AcmeCam"
    e[0x0110] = "Model 7"
    e[0x0132] = "2026:11:30 09:15:00"
    e[0x0112] = 6  # Orientation: rotate 90° CW to view
    sub = e.get_ifd(0x8769)
    sub[0x9003] = "2026:11:30 09:14:59"  # DateTimeOriginal
    sub[0x829A] = (1, 125)  # ExposureTime
    sub[0x8827] = 400  # ISO
    sub[0x920A] = (105, 1)  # FocalLength
    src = tmp_path / "src.jpg"
    pixels = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(src, quality=95, icc_profile=icc, exif=e.tobytes())
    img, meta = read_image(src)
    out = write_image(tmp_path / "fused.tif", img, meta=meta, bit_depth=depth)
    with Image.open(out) as im:
        got = im.getexif()
        assert (got[0x010F], got[0x0110], got[0x0132], got[0x0112]) == (
            "AcmeCam",
            "Model 7",
            "2026:11:30 09:15:00",
            6,
        )
        assert dict(got.get_ifd(0x8769)) == {
            0x9003: "2026:11:30 09:14:59",
            0x829A: (1, 125),
            0x8827: 400,
            0x920A: (105, 1),
        }
        assert im.info.get("icc_profile") == icc
    with tifffile.TiffFile(out) as tf:  # a second reader agrees and the pixels are intact
        page = tf.pages[0]
        assert page.tags["ExifTag"].value["ExposureTime"] == (1, 125)
        assert page.dtype == (np.uint8 if depth == 8 else np.uint16)
        np.testing.assert_array_equal(page.asarray(), to_uint(img, depth))
    back, back_meta = read_image(out)
    np.testing.assert_array_equal(back, img)
    assert back_meta.exif is not None
    reread = Image.Exif()
    reread.load(back_meta.exif[6:])
    assert dict(reread.get_ifd(0x8769))[0x829A] == (1, 125)


# --- safety: sources, atomicity -----------------------------------------------------------------


def test_refuses_to_overwrite_a_source(tmp_path):
    src = tmp_path / "frame1.png"
    write_image(src, _img())
    before = src.read_bytes()
    with pytest.raises(ExportError, match="source") as exc:
        write_image(tmp_path / "." / "frame1.png", _img(), sources=[src])
    assert exc.value.path is not None
    with pytest.raises(ExportError, match="source"):
        write_image(src, _img(), meta=ImageMeta(path=src))
    assert src.read_bytes() == before


def test_refuses_source_through_symlink(tmp_path):
    src = tmp_path / "frame1.png"
    write_image(src, _img())
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(ExportError, match="source"):
        write_image(link, _img(), sources=[src])


def _leftovers(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg"])
def test_failed_encode_leaves_nothing(tmp_path, monkeypatch, ext):
    def boom(*a, **k):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(writers_mod.cv2, "imencode", boom)
    monkeypatch.setattr(writers_mod.tifffile, "imwrite", boom)
    monkeypatch.setattr(writers_mod.Image.Image, "save", boom)
    with pytest.raises(ExportError, match="disk full") as exc:
        write_image(tmp_path / f"out{ext}", _img(depth=8))
    assert exc.value.path == tmp_path / f"out{ext}"
    assert _leftovers(tmp_path) == []


def test_failed_encode_keeps_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    write_image(target, _img())
    before = target.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(writers_mod.cv2, "imencode", boom)
    with pytest.raises(ExportError):
        write_image(target, _img())
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == ["out.png"]


def test_missing_or_unusable_folder(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        write_image(tmp_path / "no" / "such" / "dir" / "x.png", _img())
    afile = tmp_path / "plain.txt"
    afile.write_text("x")
    with pytest.raises(ExportError):
        write_image(afile / "x.png", _img())
    with pytest.raises(ExportError, match="folder"):
        write_image(tmp_path, _img())


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="cannot write"):
            write_image(ro / "x.png", _img())
    finally:
        ro.chmod(0o700)


def test_export_has_normal_permissions(tmp_path):
    out = write_image(tmp_path / "perm.png", _img())
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


# --- 16-bit through the real DFNN stack ---------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_dfnn_16bit_round_trip_exact(tmp_path, ext):
    folder = shared_path("data", "stacks", "dfnn-microtubules-16bit")
    stack = read_stack(sorted(folder.glob("*.tif"))[:2], cache_bytes=0)
    frame = stack.frame(0)
    out = write_image(tmp_path / f"frame{ext}", frame, meta=stack.metas[0])
    back, meta = read_image(out)
    assert meta.bit_depth == 16
    np.testing.assert_array_equal(back, frame)
    np.testing.assert_array_equal(
        np.rint(back[:, :, 0] * 65535).astype(np.uint16), tifffile.imread(stack.metas[0].path)
    )


# --- maps ---------------------------------------------------------------------------------------


def _result(n: int, h: int = 10, w: int = 14) -> FusionResult:
    w8 = RNG.random((n, h, w)).astype(np.float32)
    w8 /= w8.sum(axis=0, keepdims=True)
    idx = np.argmax(w8, axis=0).astype(np.uint16)
    focus = RNG.random((n, h, w)).astype(np.float32)
    return FusionResult(
        fused=RNG.random((h, w, 3)).astype(np.float32), index_map=idx, weights=w8, focus_maps=focus
    )


def test_write_maps_pair(tmp_path):
    res = _result(2)
    files = write_maps(res, tmp_path, "fused")
    assert sorted(p.name for p in files) == [
        "fused_decision.png",
        "fused_focus_001.png",
        "fused_focus_002.png",
        "fused_index.png",
    ]
    idx = cv2.imread(str(tmp_path / "fused_index.png"), cv2.IMREAD_UNCHANGED)
    assert idx.dtype == np.uint16
    np.testing.assert_array_equal(idx, res.index_map)
    dec = cv2.imread(str(tmp_path / "fused_decision.png"), cv2.IMREAD_UNCHANGED)
    assert dec.dtype == np.uint16
    np.testing.assert_array_equal(dec, np.rint(res.weights[0] * 65535).astype(np.uint16))
    f2 = cv2.imread(str(tmp_path / "fused_focus_002.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(f2, np.rint(res.focus_maps[1] * 65535).astype(np.uint16))


def test_write_maps_depth_stack(tmp_path):
    res = _result(5)
    files = write_maps(res, tmp_path, "s", which=("decision",))
    assert [p.name for p in files] == ["s_decision.png"]
    dec = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(dec, np.rint(res.index_map / 4 * 65535).astype(np.uint16))


def test_write_maps_errors(tmp_path):
    res = _result(2)
    with pytest.raises(ExportError, match="does not exist"):
        write_maps(res, tmp_path / "missing", "x")
    with pytest.raises(ExportError, match="unknown map"):
        write_maps(res, tmp_path, "x", which=("depth",))


def test_jpeg_chroma_subsampling_by_quality(tmp_path):
    from PIL import JpegImagePlugin

    img = _img(32, 32, depth=8)
    for q, expected in ((95, 0), (75, 2)):  # 0 = 4:4:4, 2 = 4:2:0
        out = write_image(tmp_path / f"q{q}.jpg", img, quality=q)
        with Image.open(out) as im:
            assert JpegImagePlugin.get_sampling(im) == expected


def _imagej_16bit_frames(folder: Path, lo: float, hi: float) -> list[Path]:
    """Two 16-bit gray ImageJ TIFFs, each sharp on one half, with display range (lo, hi)."""
    rng = np.random.default_rng(5)
    tex = rng.integers(800, 2600, size=(48, 64)).astype(np.float32)
    blur = cv2.GaussianBlur(tex, (0, 0), 3)
    paths = []
    for k in range(2):
        frame = blur.copy()
        cols = slice(0, 32) if k == 0 else slice(32, 64)
        frame[:, cols] = tex[:, cols]
        p = folder / f"z{k}.tif"
        tifffile.imwrite(p, frame.astype(np.uint16), imagej=True, metadata={"min": lo, "max": hi})
        paths.append(p)
    return paths


def test_16bit_tiff_keeps_imagej_display_range(tmp_path):
    from mffgui.methods import get_method
    from mffgui.methods.classical import DepthMapParams

    lo, hi = 750.0, 2700.0
    stack = read_stack(_imagej_16bit_frames(tmp_path, lo, hi))
    assert stack.metas[0].display_range == (lo, hi)
    fused = get_method("depthmap").fuse(stack, DepthMapParams()).fused
    (tmp_path / "out").mkdir()
    out = write_image(tmp_path / "out" / "fused.tif", fused, meta=stack.metas[0])
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej
        md = tif.imagej_metadata
        assert (md["min"], md["max"]) == (lo, hi)
        np.testing.assert_array_equal(tif.asarray(), to_uint(fused[:, :, 0], 16))
    meta = read_image(out)[1]
    assert meta.bit_depth == 16
    assert meta.display_range == (lo, hi)


def test_display_range_from_imagej_ranges_and_not_on_8bit_or_plain(tmp_path):
    a = (np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16)
    src = tmp_path / "r.tif"
    tifffile.imwrite(
        src, np.stack([a, a]), imagej=True, metadata={"axes": "ZYX", "Ranges": (10.0, 900.0)}
    )
    meta = probe(src)[0]
    assert meta.display_range == (10.0, 900.0)
    img = a[:, :, None].astype(np.float32) / 65535
    out8 = write_image(tmp_path / "o8.tif", img, bit_depth=8, meta=meta)
    with tifffile.TiffFile(out8) as tif:
        assert not tif.is_imagej
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, a)
    assert probe(plain)[0].display_range is None
