"""Retouching in the app (pytest-qt): brush strokes, undo/redo, re-fuse, project files, source
view, and drops on every result view."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from gui_support import (  # noqa: F401 - fixtures
    blurred_pair,
    choose,
    config_dir,
    pair_dir,
    sharp_texture,
    slow_method,
    window,
    write_png,
)
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QScrollArea

from mffgui.gui.convert import from_qimage, to_uint8
from mffgui.gui.project_io import open_project, save_project_to
from mffgui.gui.widgets.result_panel import DECISION, FUSED, OVERLAY


def _read(path) -> np.ndarray:
    """A PNG as float RGB, read with OpenCV (independent of mffgui.io)."""
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1].astype(np.float32) / 255


def _disc(h, w, cx, cy, r) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r


def _wait_done(qtbot, window, timeout=20000):
    qtbot.waitUntil(lambda: window.controller.state == "done", timeout=timeout)


@pytest.fixture
def trio_dir(tmp_path):
    """Three different 8-bit frames."""
    d = tmp_path / "trio"
    d.mkdir()
    for k in range(3):
        write_png(d / f"f_{k + 1}.png", sharp_texture(96, 128, seed=k + 1))
    return d


def _fuse(qtbot, window, folder, tag=0):
    choose(window, "test-slow", seconds=0.0, tag=tag)
    window.open_paths([folder])
    _wait_done(qtbot, window)


def test_hard_stroke_copies_exactly_the_source_inside_and_nothing_outside(qtbot, window, pair_dir):
    _fuse(qtbot, window, pair_dir)  # the test method's result is frame 1
    a, b = _read(pair_dir / "img_1.png"), _read(pair_dir / "img_2.png")
    rc = window.retouch
    rc.panel.set_source_index(1)
    rc.paint(1, [(40.0, 30.0)], radius=12.0)
    res = window.controller.outcome.result
    inside = _disc(96, 128, 40.0, 30.0, 12.0)
    assert inside.sum() > 400
    np.testing.assert_array_equal(res.fused[inside], b[inside])
    np.testing.assert_array_equal(res.fused[~inside], a[~inside])
    # the views follow: fused pixels, the decision map (weight of frame 1) and the index map
    view = from_qimage(window.results.views[FUSED].base_image())
    np.testing.assert_array_equal(view[inside], to_uint8(b)[inside])
    np.testing.assert_array_equal(view[~inside], to_uint8(a)[~inside])
    assert (res.index_map[inside] == 1).all()
    assert (res.index_map[~inside] == 0).all()
    dec = from_qimage(window.results.views[DECISION].base_image())
    assert dec.ndim == 3
    assert (dec[inside] == dec[inside][0]).all()
    assert not (dec[~inside] == dec[inside][0]).all(axis=-1).any()
    assert rc.panel.count.text() == "1 stroke"


def test_mouse_stroke_with_the_brush(qtbot, window, pair_dir):
    _fuse(qtbot, window, pair_dir)
    rc = window.retouch
    rc.panel.set_source_index(1)
    rc.panel.size.setValue(8)
    window.retouch.act_brush.trigger()
    assert rc.brush.enabled
    view = window.results.views[FUSED]
    vp = view.viewport()
    start = view.mapFromScene(QPointF(30, 40))
    end = view.mapFromScene(QPointF(90, 40))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
    for t in np.linspace(0, 1, 6)[1:]:
        qtbot.mouseMove(vp, pos=QPoint(int(start.x() + t * (end.x() - start.x())), start.y()))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=end)
    assert len(rc.retoucher.strokes) == 1
    s = rc.retoucher.strokes[0]
    assert s.source == 1
    assert s.radius == 8
    assert len(s.points) >= 2
    assert rc.brush.cursor.rect().width() == pytest.approx(16)
    b = _read(pair_dir / "img_2.png")
    fused = window.controller.outcome.result.fused
    np.testing.assert_array_equal(fused[40, 35:85], b[40, 35:85])


def test_undo_redo_restore_bit_exactly(qtbot, window, pair_dir):
    _fuse(qtbot, window, pair_dir)
    rc = window.retouch
    auto = window.controller.outcome.result.fused.copy()
    rc.paint(1, [(20.0, 20.0), (60.0, 50.0)], radius=10.0, hardness=0.3, opacity=0.8)
    one = window.controller.outcome.result.fused.copy()
    rc.paint(1, [(100.0, 70.0)], radius=15.0, hardness=0.6)
    two = window.controller.outcome.result.fused.copy()
    assert not np.array_equal(one, two)
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(window.controller.outcome.result.fused, one)
    rc.act_undo.trigger()
    np.testing.assert_array_equal(window.controller.outcome.result.fused, auto)
    assert not rc.act_undo.isEnabled()
    qtbot.keyClick(
        window,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    np.testing.assert_array_equal(window.controller.outcome.result.fused, one)
    rc.act_redo.trigger()
    np.testing.assert_array_equal(window.controller.outcome.result.fused, two)
    view = from_qimage(window.results.views[FUSED].base_image())
    np.testing.assert_array_equal(view, to_uint8(two))


def test_strokes_survive_a_refuse_with_other_parameters(qtbot, window, trio_dir):
    _fuse(qtbot, window, trio_dir, tag=0)
    frames = [_read(trio_dir / f"f_{k + 1}.png") for k in range(3)]
    window.retouch.paint(2, [(64.0, 48.0)], radius=20.0)
    choose(window, "test-slow", seconds=0.0, tag=1)  # new automatic result: frame 2
    assert window.fuse()
    _wait_done(qtbot, window)
    res = window.controller.outcome.result
    inside = _disc(96, 128, 64.0, 48.0, 20.0)
    np.testing.assert_array_equal(res.fused[inside], frames[2][inside])
    np.testing.assert_array_equal(res.fused[~inside], frames[1][~inside])
    np.testing.assert_array_equal(window.retouch.auto.result.fused, frames[1])


def test_project_save_and_open_round_trip(qtbot, window, trio_dir, tmp_path):
    _fuse(qtbot, window, trio_dir, tag=1)
    frames = [_read(trio_dir / f"f_{k + 1}.png") for k in range(3)]
    window.retouch.paint(0, [(30.0, 30.0), (90.0, 60.0)], radius=9.0)
    window.retouch.paint(2, [(100.0, 20.0)], radius=6.0, hardness=0.5)
    expected = window.controller.outcome.result.fused.copy()
    first = window.controller.sources[0]
    window.controller.set_included(first.id, False)
    window.controller.set_included(first.id, True)
    proj = tmp_path / "work" / "p.mffproj"
    proj.parent.mkdir()
    assert save_project_to(window, proj)
    doc = json.loads(proj.read_text())
    assert doc["method"] == "test-slow"
    assert doc["params"]["tag"] == 1
    assert len(doc["retouch"]["strokes"]) == 2
    assert doc["sources"][0]["path"] == "../trio/f_1.png"

    window.controller.clear_sources()
    choose(window, "test-slow", seconds=0.0, tag=0)
    assert open_project(window, proj)
    assert window.method_panel.values()["tag"] == 1
    _wait_done(qtbot, window)
    np.testing.assert_array_equal(window.controller.outcome.result.fused, expected)
    assert len(window.retouch.retoucher.strokes) == 2
    np.testing.assert_array_equal(window.retouch.auto.result.fused, frames[1])


def test_export_writes_the_retouched_image(qtbot, window, pair_dir, tmp_path):
    from mffgui.gui.worker import ExportRequest

    _fuse(qtbot, window, pair_dir)
    window.retouch.paint(1, [(64.0, 48.0)], radius=25.0)
    out = tmp_path / "out.png"
    with qtbot.waitSignal(window.controller.exportFinished, timeout=20000):
        assert window.export(ExportRequest(out, "PNG", 8))
    np.testing.assert_array_equal(_read(out), window.controller.outcome.result.fused)


def test_clicking_a_thumbnail_shows_the_source_and_s_toggles(qtbot, window, trio_dir):
    _fuse(qtbot, window, trio_dir)
    view = window.results.views[FUSED]
    view.zoom_to(2.0)
    zoom = view.zoom
    item = window.sources.item(2)
    rect = window.sources.visualItemRect(item)
    qtbot.mouseClick(window.sources.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.retouch.shown_source == 2
    shown = from_qimage(view.base_image())
    np.testing.assert_array_equal(shown, to_uint8(_read(trio_dir / "f_3.png")))
    assert view.zoom == pytest.approx(zoom)
    assert "Source 3" in window.results.panes[FUSED].title.text()
    assert window.retouch.panel.source_index == 2  # and it is the brush's source
    window.retouch.act_source_view.trigger()
    assert window.retouch.shown_source == -1
    np.testing.assert_array_equal(
        from_qimage(view.base_image()), to_uint8(window.controller.outcome.result.fused)
    )
    window.retouch.act_source_view.trigger()
    assert window.retouch.shown_source == 2


def test_decision_map_click_picks_the_brush_source(qtbot, window, pair_dir):
    choose(window, "test-slow", seconds=0.0, tag=1)
    window.open_paths([pair_dir])
    _wait_done(qtbot, window)
    window.retouch.panel.set_source_index(0)
    window.results._on_decision_clicked(10, 10)  # the map chose frame 2 everywhere
    assert window.retouch.panel.source_index == 1


def _drop_on(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(pos.toPoint(), *args)
    QApplication.sendEvent(widget, enter)
    move = QDragMoveEvent(pos.toPoint(), *args)
    QApplication.sendEvent(widget, move)
    accepted = move.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(pos, *args))
    return accepted


@pytest.mark.parametrize("index", [FUSED, DECISION, OVERLAY])
def test_drop_on_each_view_opens_the_stack(qtbot, window, pair_dir, trio_dir, index):
    _fuse(qtbot, window, pair_dir)
    viewport = window.results.views[index].viewport()
    with qtbot.waitSignal(window.controller.sourcesChanged):
        assert _drop_on(viewport, [trio_dir])
    assert [s.name for s in window.controller.sources] == ["f_1.png", "f_2.png", "f_3.png"]
    _wait_done(qtbot, window)
    assert len(window.controller.outcome.metas) == 3


def test_one_frame_stack_says_why_fuse_is_off(qtbot, window, pair_dir):
    window.open_paths([pair_dir / "img_1.png"])
    mp = window.method_panel
    assert not mp.fuse_button.isEnabled()
    assert "needs at least two images" in mp.fuse_button.toolTip()
    assert mp.fuse_note.isVisible()
    assert "needs at least two images" in mp.fuse_note.text()
    window.add_paths([pair_dir / "img_2.png"])
    assert mp.fuse_button.isEnabled()
    assert not mp.fuse_note.isVisible()


def test_non_image_in_a_folder_is_listed(qtbot, window, pair_dir):
    (pair_dir / "notes.txt").write_text("not an image")
    window.open_paths([pair_dir], fuse=False)
    texts = [window.sources.item(i).text() for i in range(window.sources.count())]
    assert any(t.startswith("Skipped: notes.txt") for t in texts)
    assert window.sources.ids() == [s.id for s in window.controller.sources]
    assert len(window.sources.ids()) == 2


def test_long_names_are_elided_in_the_middle(qtbot, window, tmp_path):
    d = tmp_path / "long"
    d.mkdir()
    _s, a, b = blurred_pair()
    long_a = "a_very_long_focus_stack_file_name_from_the_microscope_slice_0001.png"
    write_png(d / long_a, a)
    write_png(d / long_a.replace("0001", "0002"), b)
    window.open_paths([d], fuse=False)
    first = window.sources.item(0).text().split("\n")[0]
    assert len(first) == 40
    assert "…" in first
    assert first.endswith("0001.png")
    assert first.startswith("a_very_long")


def test_method_list_and_automatic_zero(qtbot, window):
    mp = window.method_panel
    titles = [mp.combo.itemText(i) for i in range(mp.combo.count())]
    assert not any("(network) (network)" in t or "(network)  (network)" in t for t in titles)
    assert any("Fusion2Void" in t for t in titles)
    mp.set_method("gacn")
    from PySide6.QtWidgets import QSpinBox

    spins = [
        w for w in mp.form_host.findChildren(QSpinBox) if w.minimum() == 0 and w.specialValueText()
    ]
    assert len(spins) >= 3
    assert all("automatic" in w.specialValueText() for w in spins)


def test_method_panel_scrolls_at_1280x800(qtbot, window):
    assert isinstance(window.method_dock.widget(), QScrollArea)
    window.resize(1280, 800)
    assert window.method_dock.widget().widget() is window.method_panel


def test_brush_on_pans_with_the_middle_button_and_does_not_paint(qtbot, window, pair_dir):
    _fuse(qtbot, window, pair_dir)
    rc = window.retouch
    rc.act_brush.trigger()
    view = window.results.views[FUSED]
    view.zoom_to(10.0)  # the image is larger than the view both ways
    vp = view.viewport()
    before = view.center()
    c = vp.rect().center()
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, pos=c)
    qtbot.mouseMove(vp, pos=c + QPoint(40, 20))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, pos=c + QPoint(40, 20))
    after = view.center()
    assert after.x() == pytest.approx(before.x() - 4, abs=0.5)
    assert after.y() == pytest.approx(before.y() - 2, abs=0.5)
    assert rc.retoucher.strokes == []
    rc.act_brush.trigger()  # off: the left button pans again
    assert not rc.brush.enabled
