"""The plugin in napari's real viewer (run by ``tests/test_napari_viewer.py`` in a child pytest
on an X display; the file name keeps it out of the normal collection).

napari's viewer draws with OpenGL, which Qt's offscreen platform does not provide, so the parent
test starts this module under ``xvfb-run`` with ``QT_QPA_PLATFORM=xcb``. It uses napari's own
``make_napari_viewer`` fixture, opens the dock widget through the npe2 manifest (as a user does
from the Plugins menu), fuses a 5-frame stack with two methods and checks the added layers against
``mffgui fuse`` run on the same stack.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from mffgui.cli import main as cli_main
from mffgui.core.synthetic import render_focus_stack, sharp_scene

Z_STEP = 2.0


def _stack(n: int = 5, h: int = 48, w: int = 72) -> np.ndarray:
    sharp = sharp_scene(h, w, seed=3)[:, :, 0]
    depth = np.broadcast_to(np.linspace(0, 1, w, dtype=np.float32), (h, w))
    frames = render_focus_stack(sharp, depth, n, max_sigma=4.0)[..., 0]
    return np.rint(frames * 65535).astype(np.uint16)


def _cli_outputs(stack: np.ndarray, method: str, tmp: Path) -> dict[str, np.ndarray]:
    """What ``mffgui fuse`` writes for the same stack: fused 16-bit TIFF, index map, heights."""
    src = tmp / "stack.tif"
    if not src.exists():
        tifffile.imwrite(src, stack)
    out, maps, height = tmp / f"{method}.tif", tmp / f"maps-{method}", tmp / f"{method}-h.tif"
    rc = cli_main(
        [
            "fuse",
            str(src),
            "-o",
            str(out),
            "-m",
            method,
            "--align",
            "off",
            "--bit-depth",
            "16",
            "--maps",
            str(maps),
            "--height-map",
            str(height),
            "--z-step",
            str(Z_STEP),
        ]
    )
    assert rc == 0
    return {
        "fused": tifffile.imread(out),
        "index": cv2.imread(str(maps / f"{method}_index.png"), cv2.IMREAD_UNCHANGED),
        "height": tifffile.imread(height),
    }


def test_plugin_in_a_real_viewer(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    stack = _stack()
    layer = viewer.add_image(stack, name="stack", scale=(Z_STEP, 1.0, 1.0))
    _dock, widget = viewer.window.add_plugin_dock_widget("mffgui", "Focus stack fusion")
    widget[0].value = layer
    for method in ("depthmap", "laplacian"):
        widget[1].value = method
        before = len(viewer.layers)
        widget[4].changed.emit(True)  # Fuse
        qtbot.waitUntil(lambda b=before: len(viewer.layers) == b + 3, timeout=120_000)
        fused, depth, height = viewer.layers[-3:]
        assert fused.name == f"stack fused ({method})"
        assert fused.data.shape == stack.shape[1:]
        assert depth.data.shape == stack.shape[1:]
        assert np.issubdtype(depth.data.dtype, np.integer)
        assert height.data.dtype == np.float32
        ref = _cli_outputs(stack, method, tmp_path)
        np.testing.assert_array_equal(
            np.rint(np.asarray(fused.data) * 65535), ref["fused"], err_msg=method
        )
        np.testing.assert_array_equal(np.asarray(depth.data), ref["index"])
        np.testing.assert_allclose(np.asarray(height.data), ref["height"], rtol=1e-6, atol=1e-6)
        assert widget[7].value.startswith(f"fused {len(stack)} planes")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
