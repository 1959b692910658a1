"""Camera RAW / DNG input through rawpy (extra ``raw``), with a DNG the test writes itself."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from mffgui.cli import main
from mffgui.errors import MissingExtra
from mffgui.io.readers import probe, read_image, sniff_format
from mffgui.io.stacks import read_stack
from mffgui.io.writers import write_image

WHITE = 4000
NEUTRAL = (0.5, 1.0, 0.8)  # the camera's response to white (AsShotNeutral), R G B


def _rational(v: float) -> tuple[int, int]:
    return (round(v * 10000), 10000)


def write_dng(path, level: np.ndarray, *, make: str = "TestMake", model: str = "TestModel") -> None:
    """A minimal RGGB DNG of a gray scene whose linear reflectance is ``level`` (H, W).

    Each CFA sample is ``level * neutral[colour] * WHITE``, so with the camera white balance
    applied the scene comes out neutral gray at ``level``.
    """
    h, w = level.shape
    gain = np.empty((h, w))
    gain[0::2, 0::2] = NEUTRAL[0]
    gain[0::2, 1::2] = NEUTRAL[1]
    gain[1::2, 0::2] = NEUTRAL[1]
    gain[1::2, 1::2] = NEUTRAL[2]
    cfa = np.rint(level * gain * WHITE).astype(np.uint16)
    identity = (1, 0, 0, 0, 1, 0, 0, 0, 1)
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "mffgui test camera", True),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (50714, "H", 1, 0, True),  # BlackLevel
        (50717, "H", 1, WHITE, True),  # WhiteLevel
        (50721, "2i", 9, tuple(x for v in identity for x in (v * 10000, 10000)), True),
        (50728, "2I", 3, tuple(x for v in NEUTRAL for x in _rational(v)), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1 D65
        (271, "s", 0, make, True),
        (272, "s", 0, model, True),
    ]
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags, metadata=None)


def _halves(h: int = 32, w: int = 48) -> np.ndarray:
    level = np.full((h, w), 0.5)
    level[:, w // 2 :] = 0.25
    return level


def test_dng_is_recognised_and_probed(tmp_path):
    pytest.importorskip("rawpy")
    dng = tmp_path / "shot.dng"
    write_dng(dng, _halves())
    assert sniff_format(dng) == "RAW"
    (meta,) = probe(dng)
    assert (meta.width, meta.height, meta.channels, meta.bit_depth) == (48, 32, 3, 16)
    assert meta.format == "RAW"


def test_linear_mode_is_proportional_and_white_balanced(tmp_path):
    pytest.importorskip("rawpy")
    dng = tmp_path / "shot.dng"
    write_dng(dng, _halves())
    img, _ = read_image(dng, raw="linear")
    assert img.shape == (32, 48, 3)
    assert img.dtype == np.float32
    inner = img[4:-4]
    left, right = inner[:, 4:20], inner[:, 28:-4]
    # Camera white balance: the gray scene is neutral in every channel.
    np.testing.assert_allclose(left, 0.5, atol=2e-3)
    np.testing.assert_allclose(right, 0.25, atol=2e-3)


def test_srgb_mode_applies_the_srgb_curve(tmp_path):
    pytest.importorskip("rawpy")
    dng = tmp_path / "shot.dng"
    write_dng(dng, _halves())
    img, _ = read_image(dng)  # default: sRGB
    for lin, sl in ((0.5, np.s_[4:-4, 4:20]), (0.25, np.s_[4:-4, 28:-4])):
        expected = 1.055 * lin ** (1 / 2.4) - 0.055
        np.testing.assert_allclose(img[sl], expected, atol=5e-3)


def test_raw_stack_fuses_and_export_keeps_exif(tmp_path):
    pytest.importorskip("rawpy")
    folder = tmp_path / "shots"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for k in range(2):
        write_dng(folder / f"img{k}.dng", rng.uniform(0.1, 0.9, (32, 48)))
    stack = read_stack(folder)
    assert len(stack) == 2
    assert stack.bit_depth == 16
    out = tmp_path / "fused.tif"
    assert main(["fuse", str(folder), "-o", str(out), "--raw", "linear", "--align", "off"]) == 0
    assert tifffile.imread(out).dtype == np.uint16
    with Image.open(out) as im:
        exif = im.getexif()
    assert exif.get(271) == "TestMake"
    assert exif.get(272) == "TestModel"
    # PNG export carries it too (eXIf).
    png = write_image(tmp_path / "f.png", stack.frame(0), meta=stack.metas[0])
    with Image.open(png) as im:
        assert im.getexif().get(272) == "TestModel"


def test_missing_raw_extra_names_the_extra_and_the_file(tmp_path, monkeypatch):
    dng = tmp_path / "shot.dng"
    write_dng(dng, _halves())
    monkeypatch.setitem(sys.modules, "rawpy", None)  # import rawpy -> ImportError
    with pytest.raises(MissingExtra, match=r'pip install "mffgui\[raw\]"') as info:
        read_image(dng)
    assert "shot.dng" in str(info.value)
    assert main(["fuse", str(dng), str(dng), "-o", str(tmp_path / "o.png")]) == 2


def test_tiff_with_sensor_data_in_a_subifd_is_raw_and_ordinary_subifds_are_not(tmp_path):
    raw = tmp_path / "nef-like.tif"
    with tifffile.TiffWriter(raw) as tw:
        tw.write(
            np.zeros((8, 8, 3), np.uint8),
            photometric="rgb",
            subifds=1,
            extratags=[(271, "s", 0, "NIKON", True)],
        )
        tw.write(np.zeros((16, 16), np.uint16), photometric=32803)
    assert sniff_format(raw) == "RAW"
    plain = tmp_path / "with-thumbnail.tif"
    with tifffile.TiffWriter(plain) as tw:
        tw.write(
            np.zeros((16, 16, 3), np.uint8),
            photometric="rgb",
            subifds=1,
            extratags=[(271, "s", 0, "NIKON", True)],
        )
        tw.write(np.zeros((4, 4, 3), np.uint8), photometric="rgb", subfiletype=1)
    assert sniff_format(plain) == "TIFF"
