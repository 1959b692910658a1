"""Microscopy stacks (issue 22): OME-TIFF physical sizes, multi-channel fusion, height maps."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
import tifffile
from microscopy_stacks import two_channel_volume, write_ome

from mffgui.cli import main
from mffgui.core.channels import fuse_channels, guide_stack, parse_channel
from mffgui.core.height import fractional_index, height_map, height_preview
from mffgui.core.synthetic import render_focus_stack, sharp_scene
from mffgui.errors import MissingExtra
from mffgui.io.microscopy import ome_physical, read_volume, sniff_microscopy
from mffgui.io.readers import probe
from mffgui.io.stacks import read_stack
from mffgui.io.writers import write_image, write_ome_tiff
from mffgui.methods import get_method
from mffgui.methods.classical import DepthMapParams
from mffgui.pipeline import fuse_volume
from mffgui.types import PhysicalSize, Stack

RNG = np.random.default_rng(22)


def _pixels_attrs(path) -> dict[str, str]:
    """The OME ``Pixels`` attributes of a file, parsed here independently of mffgui."""
    with tifffile.TiffFile(path) as tif:
        root = ET.fromstring(tif.ome_metadata)
    ns = {"ome": root.tag.split("}")[0].strip("{")}
    return dict(root.find("ome:Image/ome:Pixels", ns).attrib)


def _stack_frames(n: int = 5, h: int = 48, w: int = 64, seed: int = 1) -> np.ndarray:
    """(N, H, W) uint16 focus stack: depth a ramp along x."""
    sharp = sharp_scene(h, w, seed=seed)[:, :, 1]
    depth = np.broadcast_to(np.linspace(0, 1, w, dtype=np.float32), (h, w))
    frames = render_focus_stack(sharp, depth, n, max_sigma=4.0)[..., 0]
    return np.rint(frames * 60000).astype(np.uint16)


def test_ome_round_trip_keeps_physical_sizes_and_z_step(tmp_path):
    zyx = _stack_frames()
    src = tmp_path / "z.ome.tif"
    # Sizes in nm in the source: they must come back converted to µm.
    tifffile.imwrite(
        src,
        zyx,
        ome=True,
        photometric="minisblack",
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": 325.0,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": 330.0,
            "PhysicalSizeYUnit": "nm",
            "PhysicalSizeZ": 0.5,
            "PhysicalSizeZUnit": "µm",
        },
    )
    stack = read_stack(src)
    assert len(stack) == zyx.shape[0]
    phys = stack.metas[0].physical
    assert phys == pytest.approx(PhysicalSize(0.325, 0.33, 0.5))
    assert stack.metas[0].format == "OME-TIFF"
    np.testing.assert_array_equal(np.rint(stack.frame(2)[:, :, 0] * 65535), zyx[2])

    result = get_method("depthmap").fuse(stack, DepthMapParams())
    out = write_image(tmp_path / "fused.ome.tif", result.fused, meta=stack.metas[0])
    attrs = _pixels_attrs(out)
    assert float(attrs["PhysicalSizeX"]) == pytest.approx(0.325)
    assert float(attrs["PhysicalSizeY"]) == pytest.approx(0.33)
    assert float(attrs["PhysicalSizeZ"]) == pytest.approx(0.5)
    assert attrs["Type"] == "uint16"
    (back,) = probe(out)
    assert back.physical == pytest.approx(phys)
    # The pixels written are the fused image at 16 bits.
    np.testing.assert_array_equal(
        tifffile.imread(out), np.rint(np.clip(result.fused[:, :, 0], 0, 1) * 65535)
    )


def test_ome_physical_units_and_missing():
    assert ome_physical(None) == (None, ())
    assert ome_physical("<not xml") == (None, ())
    xml = (
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image><Pixels '
        'PhysicalSizeX="0.001" PhysicalSizeXUnit="mm" PhysicalSizeZ="2"><Channel Name="a"/>'
        '<Channel Name="b"/></Pixels></Image></OME>'
    )
    phys, names = ome_physical(xml)
    assert phys == pytest.approx(PhysicalSize(1.0, None, 2.0))
    assert names == ("a", "b")


def _two_channel_volume(tmp_path):
    """Channel 2 offset by 0.2 per frame, so fused channel 2 shows which frame channel 1 chose."""
    path = tmp_path / "cells.ome.tif"
    data, left = two_channel_volume(
        path, RNG, ch1_range=(0.2, 0.8), ch2_range=(0.0, 0.1), ch2_step=0.2, pixel_um=0.1, z_um=2.0
    )
    return path, data, left


def test_two_channels_share_one_depth_map(tmp_path):
    path, data, left = _two_channel_volume(tmp_path)
    volume = read_volume(path)
    assert volume.shape == data.shape
    assert volume.meta.channel_names == ("DAPI", "GFP")
    result = get_method("depthmap").fuse(guide_stack(volume, 0), DepthMapParams(blend_sigma=0))
    idx = result.index_map
    # The guide (channel 1) chose frame 0 on the left and frame 3 on the right.
    assert np.mean(idx[:, left] == 0) > 0.9
    assert np.mean(idx[:, ~left] == 3) > 0.9
    fused = fuse_channels(volume, result.weights)
    assert fused.shape == (*data.shape[2:], 2)
    # Read as an ordinary stack (the app), the frames are channel 1's planes.
    plain = read_stack(path)
    assert len(plain) == data.shape[0]
    np.testing.assert_array_equal(np.rint(plain.frame(3)[:, :, 0] * 65535), data[3, 0])
    rows, cols = np.indices(idx.shape)
    for c in range(2):
        expected = data[idx, c, rows, cols] / 65535.0
        np.testing.assert_allclose(fused[:, :, c], expected, atol=1e-6)


def test_cli_fuses_every_channel_into_ome_tiff(tmp_path):
    path, data, _left = _two_channel_volume(tmp_path)
    out = tmp_path / "fused.ome.tif"
    assert (
        main(
            [
                "fuse",
                str(path),
                "-o",
                str(out),
                "--channel",
                "1",
                "--set",
                "blend_sigma=0",
                "--maps",
                str(tmp_path / "maps"),
            ]
        )
        == 0
    )
    fused = tifffile.imread(out)
    assert fused.shape == (2, *data.shape[2:])
    idx = cv2.imread(str(tmp_path / "maps" / "fused_index.png"), cv2.IMREAD_UNCHANGED)
    rows, cols = np.indices(idx.shape)
    np.testing.assert_array_equal(fused[1], data[idx, 1, rows, cols])
    np.testing.assert_array_equal(fused[0], data[idx, 0, rows, cols])
    attrs = _pixels_attrs(out)
    assert float(attrs["PhysicalSizeZ"]) == pytest.approx(2.0)
    assert attrs["SizeC"] == "2"


@pytest.mark.parametrize(("method", "channel"), [("laplacian", "sum"), ("depthmap", "2")])
def test_cli_channels_are_fused_by_the_pipelines_fuse_volume(tmp_path, method, channel):
    """`mffgui fuse --channel` writes what pipeline.fuse_volume (the app's path) makes of the
    same volume: the same pixels, the same index map."""
    path, data, _left = _two_channel_volume(tmp_path)
    out, maps = tmp_path / "cli.ome.tif", tmp_path / "maps"
    args = ["fuse", str(path), "-o", str(out), "-m", method, "--channel", channel]
    assert main([*args, "--bit-depth", "16", "--maps", str(maps)]) == 0
    volume = read_volume(path)
    ref = fuse_volume(volume, method, channel=parse_channel(channel, 2))
    ref_path = write_ome_tiff(
        tmp_path / "ref.ome.tif", ref.result.fused, bit_depth=16, meta=volume.meta
    )
    cli_pixels = tifffile.imread(out)
    assert cli_pixels.shape == (2, *data.shape[2:])
    np.testing.assert_array_equal(cli_pixels, tifffile.imread(ref_path))
    index = cv2.imread(str(maps / "cli_index.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(index, ref.result.index_map)


def test_cli_multichannel_errors(tmp_path, capsys):
    path, _, _ = _two_channel_volume(tmp_path)
    assert main(["fuse", str(path), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "x.png" in err
    assert "2-channel result needs an OME-TIFF" in err
    assert main(["fuse", str(path), "-o", str(tmp_path / "y.ome.tif"), "--channel", "3"]) == 2
    err = capsys.readouterr().err
    assert "cells.ome.tif" in err
    assert "channel 3 does not exist" in err


def test_parse_channel():
    assert parse_channel("sum", 3) == "sum"
    assert parse_channel("2", 3) == 1
    with pytest.raises(ValueError, match="does not exist"):
        parse_channel("4", 3)
    with pytest.raises(ValueError, match="number"):
        parse_channel("red", 3)


def test_sum_guide_weights_channels_equally(tmp_path):
    path, data, _ = _two_channel_volume(tmp_path)
    volume = read_volume(path)
    g = guide_stack(volume, "sum").frame(1)[:, :, 0]
    peaks = data.reshape(4, 2, -1).max(axis=(0, 2)).astype(np.float64)
    expected = (data[1, 0] / peaks[0] + data[1, 1] / peaks[1]) / 2
    np.testing.assert_allclose(g, expected, rtol=1e-5)


def test_sniff_microscopy_magic():
    assert sniff_microscopy(b"ZISRAWFILE\x00\x00\x00\x00\x00\x00") == "CZI"
    assert sniff_microscopy(b"\xda\xce\xbe\x0a" + b"\x00" * 12) == "ND2"
    assert sniff_microscopy(b"\x70\x00\x00\x00\x10\x00\x00\x00\x2a" + b"\x00" * 7) == "LIF"
    assert sniff_microscopy(b"II*\x00" + b"\x00" * 12) is None


# ---------------------------------------------------------------------------------------------
# Height maps


def _tilted_plane(n: int = 9, h: int = 96, w: int = 256):
    sharp = sharp_scene(h, w, seed=3)
    depth = np.broadcast_to(np.linspace(0, 1, w, dtype=np.float32), (h, w))
    frames = render_focus_stack(sharp, depth, n, max_sigma=6.0)
    return frames, depth * (n - 1)


def test_tilted_plane_gives_linear_height_within_one_z_step():
    z_step = 2.0
    frames, true_index = _tilted_plane()
    result = get_method("depthmap").fuse(Stack.from_arrays(list(frames)))
    height = height_map(result.index_map, result.focus_maps, z_step)
    coarse = height_map(result.index_map, result.focus_maps, z_step, refine=False)
    m = 16  # the stack's first and last frames have no focus peak to interpolate
    inner = (slice(m, -m), slice(m, -m))
    x = np.broadcast_to(np.arange(frames.shape[2], dtype=np.float64), height.shape)[inner]
    slope, icpt = np.polyfit(x.ravel(), height[inner].ravel().astype(np.float64), 1)
    true_slope = z_step * (len(frames) - 1) / (frames.shape[2] - 1)
    assert slope == pytest.approx(true_slope, rel=0.05)
    residual = height[inner] - (slope * x + icpt)
    assert np.abs(residual).max() < z_step  # linear in position within one z-step
    err = height[inner] - true_index[inner] * z_step
    err_coarse = coarse[inner] - true_index[inner] * z_step
    rms, rms_coarse = np.sqrt(np.mean(err**2)), np.sqrt(np.mean(err_coarse**2))
    assert rms < 0.25 * z_step
    assert rms < 0.6 * rms_coarse  # the interpolation between frames helps


def test_fractional_index_parabola_vertex():
    # Focus values from a parabola peaking at 2.3 are refined to exactly 2.3.
    n, h, w = 6, 3, 4
    z = np.arange(n, dtype=np.float32)[:, None, None]
    focus = np.broadcast_to(10.0 - (z - 2.3) ** 2, (n, h, w)).astype(np.float32)
    idx = np.full((h, w), 2, np.uint16)
    np.testing.assert_allclose(fractional_index(idx, focus), 2.3, atol=1e-5)
    # Chosen one frame off: centred on the better neighbour.
    np.testing.assert_allclose(fractional_index(idx + 1, focus), 2.3, atol=1e-5)
    # First frame: no peak inside the stack, kept as is.
    edge = 10.0 - (z + 1.0) ** 2
    np.testing.assert_array_equal(
        fractional_index(np.zeros((h, w), np.uint16), np.broadcast_to(edge, (n, h, w))), 0.0
    )


def test_height_preview_is_viridis_from_low_to_high():
    h = np.tile(np.linspace(0, 5, 16, dtype=np.float32), (4, 1))
    rgb = height_preview(h)
    assert rgb.shape == (4, 16, 3)
    assert rgb.dtype == np.float32
    # viridis: dark purple (blue > red) at the bottom, yellow (red and green high) at the top.
    assert rgb[0, 0, 2] > rgb[0, 0, 0]
    assert rgb[0, 0].sum() < 1.0
    assert rgb[0, -1, 0] > 0.9
    assert rgb[0, -1, 1] > 0.8
    assert rgb[0, -1, 2] < 0.3


def test_cli_height_map(tmp_path):
    zyx = _stack_frames(n=7, w=96)
    src = tmp_path / "z.ome.tif"
    write_ome(src, zyx, "ZYX", 0.5, 3.0)
    hm = tmp_path / "height.tif"
    assert main(["fuse", str(src), "-o", str(tmp_path / "f.tif"), "--height-map", str(hm)]) == 0
    height = tifffile.imread(hm)
    assert height.dtype == np.float32
    assert height.shape == zyx.shape[1:]
    assert 0.0 <= height.min()
    assert height.max() <= 3.0 * 6
    cols = height[8:-8].mean(axis=0)
    assert cols[-10] > cols[10] + 3.0  # rises along the ramp, in µm
    assert float(_pixels_attrs(hm)["PhysicalSizeX"]) == pytest.approx(0.5)
    assert (tmp_path / "height_preview.png").is_file()
    # --z-step overrides the file's step: heights scale with it.
    hm2 = tmp_path / "h2.tif"
    assert (
        main(
            [
                "fuse",
                str(src),
                "-o",
                str(tmp_path / "g.tif"),
                "--height-map",
                str(hm2),
                "--z-step",
                "1.5",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(tifffile.imread(hm2), height / 2, rtol=1e-5, atol=1e-5)
    # ... and is what an OME-TIFF export records.
    ome = tmp_path / "g.ome.tif"
    assert main(["fuse", str(src), "-o", str(ome), "--z-step", "1.5"]) == 0
    assert float(_pixels_attrs(ome)["PhysicalSizeZ"]) == pytest.approx(1.5)
    assert float(_pixels_attrs(ome)["PhysicalSizeX"]) == pytest.approx(0.5)


def test_cli_height_map_needs_tiff(tmp_path, capsys):
    zyx = _stack_frames(n=3)
    src = tmp_path / "z.tif"
    tifffile.imwrite(src, zyx, photometric="minisblack")
    assert (
        main(
            [
                "fuse",
                str(src),
                "-o",
                str(tmp_path / "f.png"),
                "--height-map",
                str(tmp_path / "h.png"),
            ]
        )
        == 2
    )
    assert "h.png" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "head", "fmt"),
    [
        ("scan.czi", b"ZISRAWFILE" + b"\x00" * 54, "CZI"),
        ("scan.nd2", b"\xda\xce\xbe\x0a" + b"\x00" * 60, "ND2"),
        ("scan.lif", b"\x70\x00\x00\x00\x10\x00\x00\x00\x2a" + b"\x00" * 55, "LIF"),
    ],
)
def test_microscopy_formats_without_the_extra_name_it(
    tmp_path, monkeypatch, capsys, name, head, fmt
):
    path = tmp_path / name
    path.write_bytes(head)
    monkeypatch.setitem(sys.modules, "bioio", None)  # import bioio -> ImportError
    with pytest.raises(MissingExtra, match=r'pip install "mffgui\[microscopy\]"') as info:
        read_volume(path)
    assert name in str(info.value)
    assert fmt in str(info.value)
    with pytest.raises(MissingExtra, match="microscopy"):
        probe(path)
    assert main(["fuse", str(path), "-o", str(tmp_path / "o.ome.tif")]) == 2
    err = capsys.readouterr().err
    assert name in err
    assert "mffgui[microscopy]" in err


def test_imagej_hyperstack_sizes_and_first_channel_frames(tmp_path):
    data = RNG.integers(0, 65536, (3, 2, 8, 9), dtype=np.uint16)
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.25),
        metadata={"spacing": 1.5, "unit": "um", "axes": "ZCYX"},
    )
    vol = read_volume(path)
    np.testing.assert_array_equal(vol.data, data)
    assert vol.meta.physical == pytest.approx(PhysicalSize(0.2, 0.25, 1.5))
    stack = read_stack(path)
    assert len(stack) == 3
    for z in range(3):
        np.testing.assert_array_equal(np.rint(stack.frame(z)[:, :, 0] * 65535), data[z, 0])
    assert any("channel 1 of 2" in n for n in stack.notes)


def test_height_map_is_not_for_batch(tmp_path, capsys):
    (tmp_path / "root").mkdir()
    assert (
        main(
            [
                "fuse",
                "--batch",
                str(tmp_path / "root"),
                "-o",
                str(tmp_path / "out"),
                "--height-map",
                str(tmp_path / "h.tif"),
            ]
        )
        == 2
    )
    assert "--height-map" in capsys.readouterr().err
