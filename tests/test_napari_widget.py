"""The napari dock widget with a stand-in viewer (napari's own viewer needs OpenGL, which a
headless CI machine lacks; tests/test_napari_viewer.py covers the real viewer); skipped without
napari (in the ``test`` extra)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from mffgui.core.synthetic import render_focus_stack, sharp_scene  # noqa: E402
from mffgui.napari.widget import FusionWidget  # noqa: E402


class _Viewer:
    """What the widget uses of a napari viewer: ``add_image``."""

    def __init__(self) -> None:
        self.added: list[tuple[Any, dict[str, Any]]] = []

    def add_image(self, data: Any, **kwargs: Any) -> None:
        self.added.append((data, kwargs))


def _zyx(n: int = 5, h: int = 40, w: int = 64) -> np.ndarray:
    sharp = sharp_scene(h, w, seed=2)[:, :, 0]
    depth = np.broadcast_to(np.linspace(0, 1, w, dtype=np.float32), (h, w))
    return render_focus_stack(sharp, depth, n, max_sigma=4.0)[..., 0]


def _widget(layer: Any) -> tuple[Any, _Viewer]:
    viewer = _Viewer()
    widget = FusionWidget(viewer)
    widget[0].choices = (layer,)
    widget[0].value = layer
    return widget, viewer


def test_widget_fuses_the_layer_and_adds_three_layers(qtbot):
    layer = napari.layers.Image(_zyx(), name="stack", scale=(2.0, 0.5, 0.5))
    widget, viewer = _widget(layer)
    from mffgui.methods.registry import DEFAULT_METHOD

    assert widget[1].value == DEFAULT_METHOD == "halofree"
    assert "blend_sigma" in [w.name for w in widget[2]]
    widget[4].changed.emit(True)  # Fuse
    qtbot.waitUntil(lambda: len(viewer.added) == 3, timeout=60000)
    names = [kw["name"] for _, kw in viewer.added]
    assert names[0].startswith("stack fused")
    height, kw = viewer.added[2]
    assert kw["scale"] == (0.5, 0.5)
    # Heights in the layer's z units: frames 0..4 at a z scale of 2.
    assert 0.0 <= float(height.min())
    assert float(height.max()) <= 8.0
    cols = height.mean(axis=0)
    assert cols[-8] > cols[8] + 2.0


@pytest.mark.parametrize("method", ["halofree", "depthmap", "laplacian", "gff"])
def test_form_values_parse_back_to_the_defaults(qtbot, method):
    from mffgui.methods import get_method
    from mffgui.napari import logic

    layer = napari.layers.Image(_zyx(), name="stack")
    widget, _ = _widget(layer)
    widget[1].value = method
    values = {w.name: w.value for w in widget[2]}
    parsed = logic.parse_params(method, values)
    defaults = get_method(method).info.params()
    for name, value in parsed.items():
        assert value == pytest.approx(getattr(defaults, name)), name


def test_widget_method_change_rebuilds_the_form(qtbot):
    layer = napari.layers.Image(_zyx(n=3), name="s")
    widget, _ = _widget(layer)
    widget[1].value = "gff"
    names = [w.name for w in widget[2]]
    assert "r1" in names
    assert "blend_sigma" not in names


def test_widget_cancel_stops_the_run(qtbot):
    layer = napari.layers.Image(_zyx(n=8, h=700, w=900), name="big")
    widget, viewer = _widget(layer)
    widget[1].value = "laplacian"
    widget[4].changed.emit(True)
    widget[5].changed.emit(True)  # Cancel
    qtbot.waitUntil(lambda: widget[4].enabled, timeout=60000)
    assert widget[7].value == "cancelled"
    assert viewer.added == []
