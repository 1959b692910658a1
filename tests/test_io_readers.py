"""Reading single images: every supported format/bit depth, metadata and the error cases."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from mffgui.errors import CorruptImage, MffError, UnsupportedImage
from mffgui.io.readers import is_image_file, probe, read_image, sniff_format
from tests.conftest import shared_path

RNG = np.random.default_rng(1234)


def _u8(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _u16(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 65536, size=shape, dtype=np.uint16)


def _expect(raw: np.ndarray) -> np.ndarray:
    """Independent expectation: the stored integers over the type's maximum."""
    a = raw if raw.ndim == 3 else raw[:, :, None]
    return (a.astype(np.float64) / np.iinfo(raw.dtype).max).astype(np.float32)


def _write_cv2(path: Path, rgb_or_gray: np.ndarray) -> None:
    a = rgb_or_gray
    if a.ndim == 3 and a.shape[2] == 3:
        a = a[:, :, ::-1]
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(a))


# --- lossless formats: values must come back exactly ------------------------------------------

LOSSLESS_CASES = [
    # (id, shape, dtype, writer, bit_depth, channels, had_alpha)
    ("png8-gray", (17, 23), np.uint8, "pil-png", 8, 1, False),
    ("png8-rgb", (17, 23, 3), np.uint8, "pil-png", 8, 3, False),
    ("png8-rgba", (17, 23, 4), np.uint8, "pil-png", 8, 3, True),
    ("png16-gray", (17, 23), np.uint16, "cv2-png", 16, 1, False),
    ("png16-rgb", (17, 23, 3), np.uint16, "cv2-png", 16, 3, False),
    ("png16-rgba", (17, 23, 4), np.uint16, "cv2-png", 16, 3, True),
    ("tif8-gray", (17, 23), np.uint8, "tif<", 8, 1, False),
    ("tif8-rgb", (17, 23, 3), np.uint8, "tif<", 8, 3, False),
    ("tif8-rgba", (17, 23, 4), np.uint8, "tif<", 8, 3, True),
    ("tif16-gray-le", (17, 23), np.uint16, "tif<", 16, 1, False),
    ("tif16-gray-be", (17, 23), np.uint16, "tif>", 16, 1, False),
    ("tif16-rgb-be", (17, 23, 3), np.uint16, "tif>", 16, 3, False),
    ("tif16-rgba-le", (17, 23, 4), np.uint16, "tif<", 16, 3, True),
    ("tif16-rgb-planar", (17, 23, 3), np.uint16, "tif-planar", 16, 3, False),
    ("tif16-rgb-deflate", (17, 23, 3), np.uint16, "tif-zlib", 16, 3, False),
    ("bmp8-rgb", (17, 23, 3), np.uint8, "pil-bmp", 8, 3, False),
    ("bmp8-gray", (17, 23), np.uint8, "pil-bmp", 8, 1, False),
]


@pytest.mark.parametrize(
    ("shape", "dtype", "writer", "depth", "channels", "alpha"),
    [c[1:] for c in LOSSLESS_CASES],
    ids=[c[0] for c in LOSSLESS_CASES],
)
def test_lossless_formats_read_exactly(tmp_path, shape, dtype, writer, depth, channels, alpha):
    raw = _u8(shape) if dtype == np.uint8 else _u16(shape)
    ext = {"pil-png": ".png", "cv2-png": ".png", "pil-bmp": ".bmp"}.get(writer, ".tif")
    path = tmp_path / f"img{ext}"
    if writer == "pil-png":
        Image.fromarray(raw).save(path)
    elif writer == "pil-bmp":
        Image.fromarray(raw).save(path)
    elif writer == "cv2-png":
        _write_cv2(path, raw)
    elif writer == "tif-planar":
        tifffile.imwrite(path, np.moveaxis(raw, -1, 0), photometric="rgb", planarconfig="separate")
    elif writer == "tif-zlib":
        tifffile.imwrite(path, raw, photometric="rgb", compression="zlib")
    else:
        photometric = "minisblack" if raw.ndim == 2 else "rgb"
        extra = {"extrasamples": ["unassalpha"]} if raw.ndim == 3 and raw.shape[2] == 4 else {}
        tifffile.imwrite(path, raw, photometric=photometric, byteorder=writer[-1], **extra)

    img, meta = read_image(path)
    expected = _expect(raw)[:, :, :3] if raw.ndim == 3 else _expect(raw)
    assert img.dtype == np.float32
    assert img.shape == (*shape[:2], channels)
    np.testing.assert_array_equal(img, expected)
    assert meta.bit_depth == depth
    assert meta.channels == channels
    assert meta.had_alpha is alpha
    assert ("alpha channel dropped" in meta.notes) is alpha
    assert (meta.width, meta.height) == (shape[1], shape[0])
    assert probe(path)[0].bit_depth == depth


def test_16bit_values_invert_exactly():
    v = np.arange(65536, dtype=np.uint16)
    x = np.divide(v, np.float32(65535.0), dtype=np.float32)
    back = np.rint(x * np.float32(65535.0)).astype(np.uint16)
    np.testing.assert_array_equal(back, v)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg_matches_pillow_decode(tmp_path, mode):
    raw = _u8((40, 56, 3))
    im = Image.fromarray(raw).convert(mode)
    path = tmp_path / "photo.jpg"
    im.save(path, quality=80)
    img, meta = read_image(path)
    ref = np.asarray(Image.open(path).convert(mode))
    np.testing.assert_array_equal(img, _expect(ref))
    assert meta.format == "JPEG"
    assert meta.bit_depth == 8
    assert meta.channels == (1 if mode == "L" else 3)


def test_format_is_detected_by_content_not_extension(tmp_path):
    raw = _u8((20, 30, 3))
    path = tmp_path / "actually_a_jpeg.png"
    Image.fromarray(raw).save(path, format="JPEG", quality=90)
    assert sniff_format(path) == "JPEG"
    img, meta = read_image(path)
    assert meta.format == "JPEG"
    np.testing.assert_array_equal(img, _expect(np.asarray(Image.open(path).convert("RGB"))))


def test_cmyk_jpeg_converted_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(_u8((16, 16, 3))).convert("CMYK").save(path, quality=95)
    img, meta = read_image(path)
    ref = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(img, _expect(ref))
    assert "CMYK converted to RGB" in meta.notes


def test_palette_png_expands_to_rgb(tmp_path):
    path = tmp_path / "pal.png"
    im = Image.fromarray(_u8((12, 14, 3))).convert("P", palette=Image.Palette.ADAPTIVE)
    im.save(path)
    img, meta = read_image(path)
    np.testing.assert_array_equal(img, _expect(np.asarray(Image.open(path).convert("RGB"))))
    assert meta.channels == 3


def test_lzw_tiff_read_without_imagecodecs(tmp_path):
    raw = _u8((20, 24, 3))
    path = tmp_path / "lzw.tif"
    Image.fromarray(raw).save(path, compression="tiff_lzw")
    img, _ = read_image(path)
    np.testing.assert_array_equal(img, _expect(raw))


def test_min_is_white_tiff_is_inverted(tmp_path):
    raw = _u8((10, 12))
    path = tmp_path / "miniswhite.tif"
    tifffile.imwrite(path, raw, photometric="miniswhite")
    img, _meta = read_image(path)
    np.testing.assert_array_equal(img, _expect(255 - raw))


def test_multipage_tiff_pages(tmp_path):
    pages = _u16((3, 9, 11))
    path = tmp_path / "stack.tif"
    with tifffile.TiffWriter(path) as tw:
        for p in pages:
            tw.write(p, photometric="minisblack")
    metas = probe(path)
    assert [m.page for m in metas] == [0, 1, 2]
    for i in range(3):
        img, meta = read_image(path, i)
        np.testing.assert_array_equal(img, _expect(pages[i]))
        assert meta.page == i
    with pytest.raises(UnsupportedImage, match="page 4 does not exist") as exc:
        read_image(path, 3)
    assert exc.value.path == path


# --- metadata ---------------------------------------------------------------------------------


def _exif_bytes() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestMake"
    exif[0x0110] = "TestModel"
    return exif.tobytes()


def test_jpeg_icc_and_exif_kept(tmp_path):
    icc = b"fake-icc-profile-" + bytes(range(200))
    exif = _exif_bytes()
    path = tmp_path / "meta.jpg"
    Image.fromarray(_u8((16, 16, 3))).save(path, quality=90, icc_profile=icc, exif=exif)
    meta = probe(path)[0]
    assert meta.icc_profile == icc
    assert meta.exif == exif
    assert read_image(path)[1].exif == exif


def test_png_icc_kept(tmp_path):
    icc = b"png-icc-" + bytes(range(100))
    path = tmp_path / "meta.png"
    Image.fromarray(_u8((8, 8, 3))).save(path, icc_profile=icc)
    assert probe(path)[0].icc_profile == icc


def test_tiff_icc_kept(tmp_path):
    icc = b"tiff-icc-" + bytes(range(64))
    path = tmp_path / "meta.tif"
    tifffile.imwrite(path, _u16((8, 8, 3)), photometric="rgb", iccprofile=icc)
    assert probe(path)[0].icc_profile == icc


# --- errors: the right MffError, naming the file ----------------------------------------------


def _assert_names(err: MffError, path: Path) -> None:
    assert err.path == path
    assert str(path) in str(err)


def test_zero_byte_file_is_corrupt(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(CorruptImage, match="empty") as exc:
        read_image(path)
    _assert_names(exc.value, path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF"])
def test_truncated_file_is_corrupt(tmp_path, fmt):
    buf = io.BytesIO()
    raw = _u8((64, 64, 3))
    if fmt == "TIFF":
        tifffile.imwrite(buf, raw, photometric="rgb")
    else:
        Image.fromarray(raw).save(buf, format=fmt)
    data = buf.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptImage) as exc:
        read_image(path)
    _assert_names(exc.value, path)


def test_garbage_after_valid_header_is_corrupt(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_u8((32, 32, 3))).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[60:-20] = bytes(len(data) - 80)  # zero out the compressed pixel data
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptImage) as exc:
        read_image(path)
    _assert_names(exc.value, path)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are my notes, not a picture")
    with pytest.raises(UnsupportedImage, match="not an image") as exc:
        read_image(path)
    _assert_names(exc.value, path)
    assert not is_image_file(path)


def test_float_tiff_unsupported(tmp_path):
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, RNG.random((8, 8), dtype=np.float32))
    with pytest.raises(UnsupportedImage, match="floating-point") as exc:
        probe(path)
    _assert_names(exc.value, path)


def test_one_bit_images_unsupported(tmp_path):
    bits = RNG.random((16, 16)) > 0.5
    png = tmp_path / "bw.png"
    Image.fromarray(bits).save(png)
    tif = tmp_path / "bw.tif"
    tifffile.imwrite(tif, bits)
    for path in (png, tif):
        with pytest.raises(UnsupportedImage, match="1-bit") as exc:
            read_image(path)
        _assert_names(exc.value, path)


def test_gif_unsupported(tmp_path):
    path = tmp_path / "anim.gif"
    Image.fromarray(_u8((8, 8, 3))).save(path)
    with pytest.raises(UnsupportedImage, match="GIF") as exc:
        read_image(path)
    _assert_names(exc.value, path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(UnsupportedImage, match="not found") as exc:
        read_image(path)
    _assert_names(exc.value, path)


def test_int32_tiff_unsupported(tmp_path):
    path = tmp_path / "i32.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.int32))
    with pytest.raises(UnsupportedImage, match="integer") as exc:
        read_image(path)
    _assert_names(exc.value, path)


# --- shared real data -------------------------------------------------------------------------


@pytest.mark.shared
def test_dfnn_16bit_big_endian_exact():
    folder = shared_path("data", "stacks", "dfnn-microtubules-16bit")
    files = sorted(folder.glob("*.tif"))
    assert len(files) == 31
    lo, hi = 65535, 0
    for f in files[::5]:
        raw = tifffile.imread(f)
        assert raw.dtype.byteorder in ("=", "<", ">", "|")
        img, meta = read_image(f)
        assert (meta.bit_depth, meta.channels, meta.format) == (16, 1, "TIFF")
        assert img.shape == (800, 512, 1)
        back = np.rint(img[:, :, 0] * np.float32(65535)).astype(np.uint16)
        np.testing.assert_array_equal(back, raw)
        lo, hi = min(lo, int(raw.min())), max(hi, int(raw.max()))
    # The stack uses a small part of the range; nothing was rescaled.
    assert 0 < lo
    assert hi < 1000


@pytest.mark.shared
def test_edf_skeleton_multipage_rgb():
    path = shared_path("data", "stacks", "edf-skeleton-zeiss", "stack.tif")
    metas = probe(path)
    assert len(metas) == 3
    ref = tifffile.imread(path)
    for i, m in enumerate(metas):
        assert (m.width, m.height, m.channels, m.bit_depth) == (170, 116, 3, 8)
        img, _ = read_image(path, m.page)
        np.testing.assert_array_equal(img, _expect(ref[i]))


@pytest.mark.shared
def test_lytro_jpeg_decode_is_identical_to_pillow():
    # Reference outputs elsewhere in the project come from a Pillow decode of these JPEGs.
    root = shared_path("data", "lytro")
    files = sorted(root.glob("*/*.jpg"))
    assert len(files) == 52
    for f in files:
        img, meta = read_image(f)
        ref = np.asarray(Image.open(f).convert("RGB"))
        np.testing.assert_array_equal(np.rint(img * 255).astype(np.uint8), ref, err_msg=str(f))
        assert (meta.width, meta.height, meta.channels) == (520, 520, 3)


@pytest.mark.parametrize(
    ("mode_bits", "compression"), [(16, "tiff_lzw"), (8, "packbits"), (8, "tiff_adobe_deflate")]
)
def test_pillow_compressed_gray_tiff_exact(tmp_path, mode_bits, compression):
    raw = _u16((20, 30)) if mode_bits == 16 else _u8((20, 30))
    path = tmp_path / "c.tif"
    Image.fromarray(raw).save(path, compression=compression)
    img, meta = read_image(path)
    assert meta.bit_depth == mode_bits
    np.testing.assert_array_equal(img, _expect(raw))


def test_16bit_colour_tiff_needing_imagecodecs_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "rgb16.tif"
    tifffile.imwrite(path, _u16((8, 8, 3)), photometric="rgb")

    def needs_codecs(self, *a, **k):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", needs_codecs)
    with pytest.raises(UnsupportedImage, match="imagecodecs") as exc:
        read_image(path)
    _assert_names(exc.value, path)


def test_gray_alpha_png_drops_alpha(tmp_path):
    raw = _u8((10, 12, 2))
    path = tmp_path / "la.png"
    Image.fromarray(raw, mode="LA").save(path)
    img, meta = read_image(path)
    np.testing.assert_array_equal(img, _expect(raw[:, :, 0]))
    assert meta.had_alpha
    assert meta.channels == 1


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_exif_orientation_is_not_applied(tmp_path, mode):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(_u8((20, 40, 3))).convert(mode).save(path, quality=95, exif=exif.tobytes())
    img, meta = read_image(path)
    assert img.shape[:2] == (20, 40)
    np.testing.assert_array_equal(img, _expect(np.asarray(Image.open(path).convert(mode))))
    kept = Image.Exif()
    kept.load(meta.exif)
    assert kept[0x0112] == 6  # carried to exports unchanged
