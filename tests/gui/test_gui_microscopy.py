"""Microscopy stacks in the app (issue 22): channel selector, height read-out and export."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
import tifffile
from gui_support import (  # noqa: F401 - fixtures
    choose,
    config_dir,
    pair_dir,
    slow_method,
    window,
)
from microscopy_stacks import two_channel_volume, write_ome

from mffgui.core.synthetic import render_focus_stack, sharp_scene
from mffgui.gui.convert import from_qimage, viridis_lut
from mffgui.gui.widgets.result_panel import DECISION
from mffgui.gui.worker import ExportRequest
from mffgui.settings import load_settings

RNG = np.random.default_rng(2022)


def _pixels_attrs(path) -> dict[str, str]:
    root = ET.fromstring(tifffile.TiffFile(path).ome_metadata)
    pixels = next(el for el in root.iter() if el.tag.endswith("Pixels"))
    names = [el.get("Name") for el in pixels if el.tag.endswith("Channel")]
    return {**pixels.attrib, "ChannelNames": ",".join(n or "" for n in names)}


def _two_channel_file(tmp_path):
    """Channel 1 strong, channel 2 faint (dominated by channel 1 in the sum), so channel 2 and
    the sum choose different planes."""
    path = tmp_path / "cells.ome.tif"
    data, left = two_channel_volume(
        path,
        RNG,
        ch1_range=(0.1, 0.7),
        ch2_range=(0.4, 0.44),
        ch2_step=0.05,
        pixel_um=0.25,
        z_um=1.5,
    )
    return path, data, left


def _sharpest_plane(planes: np.ndarray) -> np.ndarray:
    """Per pixel, the plane with the largest local Laplacian energy (the test's own focus
    measure, independent of mffgui's methods)."""
    energy = [
        cv2.GaussianBlur(cv2.Laplacian(p.astype(np.float32), cv2.CV_32F) ** 2, (0, 0), 3.0)
        for p in planes
    ]
    return np.argmax(np.stack(energy), axis=0)


def _wait_result(qtbot, window, generation):
    qtbot.waitUntil(
        lambda: (
            window.controller.outcome is not None
            and window.controller.outcome.request.generation >= generation
        ),
        timeout=30000,
    )
    return window.controller.outcome


def test_channel_selector_picks_the_guide_and_keeps_every_channel(qtbot, window, tmp_path):
    path, data, left = _two_channel_file(tmp_path)
    choose(window, "depthmap", blend_sigma=0.0)
    box = window.microscopy.channel_box
    assert window.open_paths([path])
    assert box.isVisible()
    assert [box.itemText(i) for i in range(box.count())] == ["Sum of channels", "1: DAPI", "2: GFP"]
    assert not window.method_panel.align.isEnabled()  # not applied to a volume's planes
    first = _wait_result(qtbot, window, 1)
    assert first.request.channel == "sum"

    box.select("2")  # the user picks channel 2: fused again with its depth map
    out = _wait_result(qtbot, window, first.request.generation + 1)
    assert out.request.channel == 1
    assert window.settings.channel == "2"
    assert out.stack.names == [s.meta.name for s in window.controller.included_sources]
    fused = out.result.fused
    assert fused.shape == (*data.shape[2:], 2)  # every channel kept
    idx = out.result.index_map
    # The planes channel 2 is sharpest in, by the test's own focus measure, away from the
    # border between the halves: the app's depth map follows channel 2 there.
    truth = _sharpest_plane(data[:, 1])
    inner = np.abs(np.arange(data.shape[3]) - data.shape[3] // 2) > 6
    inner = np.broadcast_to(inner, idx.shape).copy()
    inner[:6], inner[-6:] = False, False
    assert np.mean(idx[inner] == truth[inner]) > 0.9
    assert np.mean(idx[:, left][inner[:, left]] == 3) > 0.9  # not channel 1's plane 0
    # Fused channel 1 holds the values of the planes channel 2 chose, never mixed.
    rows, cols = np.indices(idx.shape)
    np.testing.assert_array_equal(np.rint(fused[:, :, 0] * 65535), data[idx, 0, rows, cols])
    np.testing.assert_array_equal(np.rint(fused[:, :, 1] * 65535), data[idx, 1, rows, cols])
    assert window.results.panes[0].note.text() == "composite: DAPI magenta, GFP green"
    # The fused view is the composite: channel 1 stretched in magenta (R and B), channel 2 in
    # green, each on its own percentiles.
    shown = from_qimage(window.results.views[0]._base.pixmap().toImage()).astype(float)
    for c, rgb_channels in ((0, (0, 2)), (1, (1,))):
        lo, hi = np.percentile(fused[:, :, c], [0.1, 99.9])
        expected = np.clip((fused[:, :, c] - lo) / (hi - lo), 0, 1) * 255
        for k in rgb_channels:
            assert np.abs(shown[:, :, k] - expected).max() <= 1.0

    window.save_settings()
    assert load_settings(window._settings_file).channel == "2"

    target = tmp_path / "fused.ome.tif"
    assert window.export(ExportRequest(target, fmt="OME-TIFF", bit_depth=16))
    qtbot.waitUntil(lambda: not window.controller.exporting, timeout=20000)
    assert window.controller.last_error == ""
    back = tifffile.imread(target)
    assert back.shape == (2, *data.shape[2:])
    np.testing.assert_array_equal(back[0], data[idx, 0, rows, cols])
    np.testing.assert_array_equal(back[1], data[idx, 1, rows, cols])
    attrs = _pixels_attrs(target)
    assert attrs["SizeC"] == "2"
    assert float(attrs["PhysicalSizeX"]) == pytest.approx(0.25)
    assert float(attrs["PhysicalSizeY"]) == pytest.approx(0.25)
    assert float(attrs["PhysicalSizeZ"]) == pytest.approx(1.5)
    assert attrs["ChannelNames"] == "DAPI,GFP"


def test_channel_selector_hidden_for_photos_and_export_offers_ome_only_for_channels(
    qtbot, window, pair_dir, tmp_path, monkeypatch
):
    assert window.open_paths([pair_dir], fuse=False)
    assert not window.microscopy.channel_box.isVisible()
    assert window.controller.guide_channel is None
    assert window.method_panel.align.isEnabled()

    from mffgui.gui.widgets import export_dialog

    seen = {}

    class Probe(export_dialog.ExportDialog):
        def exec(self):
            seen["formats"] = [self.format.itemText(i) for i in range(self.format.count())]
            seen["path"] = self.path_edit.text()
            return 0

    monkeypatch.setattr("mffgui.gui.main_window.ExportDialog", Probe)
    path, _data, _left = _two_channel_file(tmp_path)
    choose(window, "depthmap")
    assert window.open_paths([path])
    _wait_result(qtbot, window, 1)
    window.export_dialog()
    assert seen["formats"] == ["OME-TIFF"]
    assert seen["path"].endswith("cells-fused.ome.tif")


def _tilted_plane_file(tmp_path, z_step: float):
    n, h, w = 9, 96, 256
    sharp = sharp_scene(h, w, seed=3)
    depth = np.broadcast_to(np.linspace(0, 1, w, dtype=np.float32), (h, w))
    frames = render_focus_stack(sharp, depth, n, max_sigma=6.0)
    gray = frames.mean(axis=3) if frames.ndim == 4 else frames
    data = np.rint(np.clip(gray, 0, 1) * 65535).astype(np.uint16)
    path = tmp_path / "tilted.ome.tif"
    write_ome(path, data, "ZYX", 0.5, z_step)
    return path, depth * (n - 1) * z_step


def test_hover_shows_height_in_um_and_height_map_exports(qtbot, window, tmp_path):
    z_step = 2.5
    path, true_height = _tilted_plane_file(tmp_path, z_step)
    choose(window, "depthmap")
    assert window.open_paths([path])
    out = _wait_result(qtbot, window, 1)
    assert out.z_step == pytest.approx(z_step)
    assert not window.microscopy.channel_box.isVisible()  # one channel: no selector
    window.results.hovered.emit(5, 5)  # the first hover asks for the height map
    assert "height …" in window.status.hover_label.text()
    qtbot.waitUntil(lambda: window.results.height is not None, timeout=20000)
    for x, y in [(40, 30), (128, 48), (200, 60), (220, 70)]:
        window.results.hovered.emit(x, y)
        text = window.status.hover_label.text()
        m = re.search(r"height (-?[\d.]+) µm", text)
        assert m, text
        assert abs(float(m.group(1)) - true_height[y, x]) < z_step  # within one z-step

    # The depth view's height colouring and its colour bar in µm.
    results = window.results
    assert results.depth_mode.isVisible()
    results.set_depth_mode("height")
    assert results.showing_height
    shown = from_qimage(results.views[DECISION]._base.pixmap().toImage())
    hmap = window.controller.result_jobs.height
    assert window.controller.result_jobs.height_outcome is out
    lo, hi = float(hmap.min()), float(hmap.max())
    level = np.rint((hmap - lo) / (hi - lo) * 255).astype(int)
    lut = viridis_lut()
    # Preview = viridis of the normalised height (low dark, high yellow); the legend's LUT is
    # a polynomial fit of viridis (within 2 %), the preview OpenCV's table.
    assert np.abs(shown.astype(int) - lut[level].astype(int)).max() <= 6
    assert results.legend._ends == (f"{lo:.2f} µm", f"{hi:.2f} µm")
    results.set_depth_mode("frames")
    np.testing.assert_array_equal(
        from_qimage(results.views[DECISION]._base.pixmap().toImage()),
        from_qimage(out.display.decision),
    )

    target = tmp_path / "height.tif"
    assert window.microscopy.act_export_height.isEnabled()
    assert window.microscopy.export_height(target)
    qtbot.waitUntil(lambda: not window.controller.exporting, timeout=20000)
    assert window.controller.last_error == ""
    back = tifffile.imread(target)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, hmap)
    m = 16
    err = back[m:-m, m:-m] - true_height[m:-m, m:-m]
    assert np.sqrt(np.mean(err**2)) < 0.5 * z_step
    preview = cv2.imread(str(tmp_path / "height_preview.png"))[:, :, ::-1]
    np.testing.assert_array_equal(preview, shown)  # the file is the preview the view shows


def test_hover_without_z_step_shows_frames(qtbot, window, pair_dir, tmp_path):
    choose(window, "depthmap")
    assert window.open_paths([pair_dir])
    out = _wait_result(qtbot, window, 1)
    assert out.z_step is None
    # Exported before anything asked for the height map: the export makes it itself.
    assert window.microscopy.export_height(tmp_path / "h.tif")
    qtbot.waitUntil(lambda: not window.controller.exporting, timeout=20000)
    assert window.controller.last_error == ""
    exported = tifffile.imread(tmp_path / "h.tif")
    window.results.hovered.emit(10, 10)
    qtbot.waitUntil(lambda: window.results.height is not None, timeout=20000)
    window.results.hovered.emit(10, 10)
    text = window.status.hover_label.text()
    m = re.search(r"height (-?[\d.]+) frames", text)
    assert m, text
    height = window.results.height
    assert float(m.group(1)) == pytest.approx(float(height[10, 10]), abs=0.005)
    assert float(height[10, 10]) == pytest.approx(float(out.result.index_map[10, 10]), abs=0.5)
    np.testing.assert_array_equal(exported, height)  # in frames: no z-step recorded


def test_retouching_a_multichannel_result_paints_every_channel_of_the_plane(
    qtbot, window, tmp_path
):
    path, data, _left = _two_channel_file(tmp_path)
    choose(window, "depthmap", blend_sigma=0.0)
    assert window.open_paths([path])
    auto = _wait_result(qtbot, window, 1)
    before = auto.result.fused.copy()
    rc = window.retouch
    rc.panel.set_source_index(2)
    rc.paint(2, [(40.0, 20.0)], radius=8.0)
    res = window.controller.outcome.result
    yy, xx = np.mgrid[0 : data.shape[2], 0 : data.shape[3]]
    inside = (xx + 0.5 - 40.0) ** 2 + (yy + 0.5 - 20.0) ** 2 <= 64
    assert inside.sum() > 150
    # Inside the stroke: plane 3's own value in each channel (never the guide's); outside:
    # the automatic result.
    for c in range(2):
        np.testing.assert_array_equal(np.rint(res.fused[inside, c] * 65535), data[2, c][inside])
    np.testing.assert_array_equal(res.fused[~inside], before[~inside])
    rc.show_source(2)
    # The source view shows that plane's channels as the composite (channel 2 in green).
    shown = from_qimage(window.results.views[0].base_image()).astype(float)
    plane = data[2, 1] / 65535
    lo, hi = np.percentile(plane, [0.1, 99.9])
    expected = np.clip((plane - lo) / (hi - lo), 0, 1) * 255
    assert np.abs(shown[:, :, 1] - expected).max() <= 1.0


def test_project_keeps_the_guide_channel(qtbot, window, tmp_path):
    from mffgui.gui.project_io import open_project, save_project_to

    path, _data, _left = _two_channel_file(tmp_path)
    choose(window, "depthmap")
    assert window.open_paths([path])
    first = _wait_result(qtbot, window, 1)
    window.microscopy.channel_box.select("1")
    _wait_result(qtbot, window, first.request.generation + 1)
    assert save_project_to(window, tmp_path / "cells.mffproj")
    window.microscopy.set_channel("sum")
    assert window.controller.channel == "sum"
    assert open_project(window, tmp_path / "cells.mffproj")
    out = _wait_result(qtbot, window, window.controller.generation)
    assert out.request.channel == 0
    assert window.microscopy.channel_box.choice == "1"
