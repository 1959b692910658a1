"""Stacked layout (Ctrl+L) gives landscape images room: fused on top, the maps below."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import pytest
from gui_support import (  # noqa: F401 - fixtures
    blurred_pair,
    choose,
    config_dir,
    slow_method,
    window,
    write_png,
)

from mffgui.gui.view_arrangement import choose_stacked, fit_scale, view_areas


def test_choice_follows_the_aspect_ratio():
    # 3:2 frames on a wide area: fused on top and the maps side by side beat a column.
    assert choose_stacked(1900, 900, (1500, 1000), header=30) == "top+pair"
    # A 5:1 panorama is better in a column of full-width views.
    assert choose_stacked(1900, 900, (5000, 1000), header=30) == "column"
    # The choice is the one with the larger smallest view (computed independently here).
    for image in [(600, 400), (400, 600), (1000, 1000), (3000, 500)]:
        worst = {
            k: min(fit_scale(a, image) for a in view_areas(k, 1600, 1000, 30))
            for k in ("column", "top+pair")
        }
        got = choose_stacked(1600, 1000, image, header=30)
        assert worst[got] == max(worst.values())


def _fitted(view) -> tuple[float, float]:
    w, h = view._image_size
    return w * view.zoom, h * view.zoom


def test_stacked_layout_on_a_full_hd_window(qtbot, window, tmp_path):
    """1920×1080 window, 4:3 landscape frames: in the stacked layout every view shows the whole
    image at least 40 % of the results area's height tall (three views in a column: < 33 %)."""
    folder = tmp_path / "landscape"
    folder.mkdir()
    _sharp, a, b = blurred_pair(96, 128)
    write_png(folder / "a.png", a)
    write_png(folder / "b.png", b)
    window.resize(1920, 1080)
    choose(window, "test-slow", seconds=0.0)
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.controller.state == "done", timeout=20000)
    panel = window.results
    window.act_layout.trigger()
    assert panel.layout_mode == "stacked"
    qtbot.wait(50)
    for v in panel.views:
        v.fit()
    assert panel.arrangement == "top+pair"
    area_h, area_w = panel.splitter.height(), panel.splitter.width()
    assert area_h > 500, "the window did not get its size"
    for v in panel.views:
        fw, fh = _fitted(v)
        assert fh >= 0.4 * area_h, (fw, fh, area_w, area_h)
        assert fw <= v.viewport().width() + 1
    # The fused view spans the width; the two maps share the row below.
    _fused, decision, overlay = (p.geometry() for p in panel.panes)
    assert panel.panes[0].width() >= 0.9 * area_w
    assert decision.width() >= 0.4 * area_w
    assert overlay.width() >= 0.4 * area_w
    # Maximising and the side-by-side layout still work.
    window.act_max[0].trigger()
    assert [p.isVisible() for p in panel.panes] == [True, False, False]
    window.act_max[0].trigger()
    assert all(p.isVisible() for p in panel.panes)
    window.act_layout.trigger()
    assert panel.layout_mode == "side"
    assert panel.arrangement == "row"
    tops = {p.mapTo(panel, p.rect().topLeft()).y() for p in panel.panes}
    assert len(tops) == 1


@pytest.mark.parametrize("kind", ["row", "column", "top+pair"])
def test_view_areas_cover_the_area(kind):
    areas = view_areas(kind, 1200, 900)
    assert len(areas) == 3
    if kind == "top+pair":
        assert areas[0] == (1200, 450)
        assert areas[1] == areas[2] == (600, 450)
