"""The napari plugin's Qt-free logic (no napari needed) and its manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from mffgui.core.height import height_map
from mffgui.core.synthetic import render_focus_stack, sharp_scene
from mffgui.errors import MffError
from mffgui.io.writers import write_image
from mffgui.methods import get_method
from mffgui.napari import logic
from mffgui.types import Stack

REPO = Path(__file__).resolve().parent.parent


def _zyx(n: int = 5, h: int = 40, w: int = 64) -> np.ndarray:
    sharp = sharp_scene(h, w, seed=2)[:, :, 0]
    depth = np.broadcast_to(np.linspace(0, 1, w, dtype=np.float32), (h, w))
    return render_focus_stack(sharp, depth, n, max_sigma=4.0)[..., 0]


def test_gray_layer_fuses_like_the_method_and_gives_three_layers():
    zyx = np.rint(_zyx() * 65535).astype(np.uint16)
    vol = logic.volume_from_layer(zyx, name="cells", scale=(2.0, 0.5, 0.5))
    assert vol.shape == (5, 1, 40, 64)
    assert vol.meta.physical.z == 2.0
    out = logic.fuse_layer_data(vol, "depthmap")
    ref = get_method("depthmap").fuse(Stack.from_arrays(list(zyx)))
    np.testing.assert_array_equal(out.index_map, ref.index_map)
    np.testing.assert_allclose(out.fused, ref.fused[:, :, 0], atol=1e-6)
    # Height: the refined index map times the layer's z scale.
    np.testing.assert_allclose(out.height, height_map(ref.index_map, ref.focus_maps, 2.0))
    assert np.all(np.abs(out.height / 2.0 - out.index_map) <= 1.5 + 1e-6)
    layers = logic.result_layers(out, "cells", (2.0, 0.5, 0.5))
    assert [kind for _, _, kind in layers] == ["image", "image", "image"]
    assert layers[0][1]["scale"] == (0.5, 0.5)
    assert "height" in layers[2][1]["name"]
    np.testing.assert_array_equal(layers[2][0], out.height)


def test_multichannel_layer_shares_one_depth_map():
    ch1 = _zyx()
    rng = np.random.default_rng(0)
    ch2 = np.stack([np.full(ch1.shape[1:], 0.1 * k) for k in range(len(ch1))]) + rng.uniform(
        0, 0.001, ch1.shape
    )
    data = np.stack([ch1, ch2], axis=-1).astype(np.float32)  # (Z, Y, X, C) floats in [0, 1]
    vol = logic.volume_from_layer(data, name="two")
    out = logic.fuse_layer_data(vol, "depthmap", {"blend_sigma": "0"}, channel=0)
    assert out.fused.shape == (*ch1.shape[1:], 2)
    rows, cols = np.indices(out.index_map.shape)
    expected = np.rint(data[..., 1].astype(np.float64) * 65535)[out.index_map, rows, cols] / 65535
    np.testing.assert_allclose(out.fused[:, :, 1], expected, atol=1e-6)
    layers = logic.result_layers(out, "two")
    assert layers[0][1]["channel_axis"] == 0
    assert layers[0][0].shape == (2, *ch1.shape[1:])


def test_rgb_layer_and_bad_layers():
    rgb = np.stack([_zyx()] * 3, axis=-1)
    out = logic.fuse_layer_data(logic.volume_from_layer(rgb, rgb=True), "laplacian")
    assert out.rgb
    assert out.fused.shape == (*rgb.shape[1:3], 3)
    with pytest.raises(MffError, match="single RGB image"):
        logic.volume_from_layer(rgb[0], rgb=True, name="one")
    with pytest.raises(MffError, match="two"):
        logic.volume_from_layer(rgb[:1, ..., 0], name="flat")


def test_params_form_comes_from_the_method_params():
    names = [f["name"] for f in logic.params_form("depthmap")]
    assert "blend_sigma" in names
    assert ("Depth map (DMap)", "depthmap") in logic.method_choices()


def test_reader_for_folders_and_multipage_tiffs(tmp_path):
    zyx = _zyx(n=3)
    folder = tmp_path / "shots"
    folder.mkdir()
    for k, f in enumerate(zyx):
        write_image(folder / f"f{k}.png", f, bit_depth=16)
    reader = logic.napari_get_reader(str(folder))
    assert reader is not None
    ((data, kw, kind),) = reader(str(folder))
    assert kind == "image"
    assert data.shape == zyx.shape
    np.testing.assert_allclose(data, np.rint(zyx * 65535) / 65535, atol=1e-6)
    ome = tmp_path / "z.ome.tif"
    tifffile.imwrite(
        ome,
        np.rint(zyx * 255).astype(np.uint8),
        ome=True,
        photometric="minisblack",
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 1.0},
    )
    ((data, kw, _),) = logic.napari_get_reader(str(ome))(str(ome))
    assert data.shape == zyx.shape
    assert kw["scale"] == (1.0, 0.2, 0.2)
    assert logic.napari_get_reader(str(tmp_path / "nothing.png")) is None


def test_manifest_points_at_existing_callables():
    yaml = (REPO / "mffgui" / "napari" / "napari.yaml").read_text()
    import importlib
    import re

    targets = re.findall(r"python_name:\s*(\S+)", yaml)
    assert len(targets) == 2
    for target in targets:
        module, attr = target.split(":")
        assert callable(getattr(importlib.import_module(module), attr))
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"napari.manifest"' in pyproject
    assert 'mffgui = "mffgui.napari:napari.yaml"' in pyproject


def test_single_channel_layer_ignores_the_guide_channel():
    """A one-channel layer fuses as itself whatever channel the form names (a pyramid method
    gives its own output, not the guided hard selection)."""
    zyx = np.rint(_zyx() * 65535).astype(np.uint16)
    vol = logic.volume_from_layer(zyx, name="one")
    ref = get_method("laplacian").fuse(Stack.from_arrays(list(zyx)))
    for channel in (None, "sum", 0):
        out = logic.fuse_layer_data(vol, "laplacian", channel=channel)
        np.testing.assert_allclose(out.fused, ref.fused[:, :, 0], atol=1e-6)
