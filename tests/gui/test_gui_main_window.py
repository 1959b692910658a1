"""Acceptance tests of the desktop app (pytest-qt, offscreen)."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import tifffile
from gui_support import (  # noqa: F401 - fixtures
    FINISHED_TAGS,
    blurred_pair,
    choose,
    config_dir,
    pair_dir,
    slow_method,
    window,
    write_png,
)
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from mffgui.gui.convert import LUTS, apply_lut, from_qimage, to_uint8
from mffgui.gui.widgets.result_panel import DECISION, FUSED, OVERLAY


def _drop(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(
        pos.toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    highlighted = widget.drop_highlighted
    drop = QDropEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)
    return highlighted


def _view_pixels(view) -> np.ndarray:
    return from_qimage(view._base.pixmap().toImage())


def _wait_state(qtbot, window, state, timeout=20000):
    qtbot.waitUntil(lambda: window.controller.state == state, timeout=timeout)


def _open_and_fuse(qtbot, window, paths, timeout=20000):
    window.open_paths(paths)  # opening a stack fuses it right away
    assert window.controller.state == "running"
    _wait_state(qtbot, window, "done", timeout)


def test_drop_files_lists_sources(qtbot, window, tmp_path):
    _sharp, a, b = blurred_pair()
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_png(folder / "f2.png", a)
    write_png(folder / "f10.png", b)
    (folder / "notes.txt").write_text("not an image")
    pages = tmp_path / "pages.tif"
    tifffile.imwrite(pages, np.stack([to_uint8(x) for x in (a, b, a)]), photometric="rgb")

    with qtbot.waitSignal(window.controller.sourcesChanged):
        highlighted = _drop(window, [folder, pages])
    assert highlighted, "dragging files over the window shows the drop highlight"
    assert not window.drop_highlighted

    names = [s.name for s in window.controller.sources]
    # natural sort: f2 before f10; the text file is skipped; 3 pages of the TIFF
    assert names[:2] == ["f2.png", "f10.png"]
    assert sorted(names[2:]) == ["pages.tif [1]", "pages.tif [2]", "pages.tif [3]"]
    lst = window.sources
    assert lst.count() == 6  # the 5 frames, then the skipped text file (issue 20, finding 7)
    assert [lst.item(i).text().split("\n")[0] for i in range(5)] == names
    assert lst.item(5).text().startswith("Skipped: notes.txt")
    assert lst.ids() == [s.id for s in window.controller.sources]
    assert all(lst.item(i).checkState() == Qt.CheckState.Checked for i in range(5))
    assert "128×96" in lst.item(0).text()
    assert "8-bit" in lst.item(0).text()
    # thumbnails arrive from the background
    qtbot.waitUntil(lambda: len(window.controller.thumbnails) == 5, timeout=10000)


def test_source_list_exclude_reorder_remove(qtbot, window, pair_dir, tmp_path):
    _sharp, a, _b = blurred_pair()
    write_png(pair_dir / "img_3.png", a)
    window.open_paths([pair_dir], fuse=False)
    ids = window.sources.ids()
    assert len(ids) == 3
    # uncheck the second item in the list -> excluded from the request
    window.sources.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert not window.controller.source(ids[1]).included
    # reorder (what a drag does), then remove the first
    window.sources.orderChanged.emit([ids[2], ids[0], ids[1]])
    assert window.sources.ids() == [ids[2], ids[0], ids[1]]
    choose(window, "test-slow", seconds=0.0)
    req = window.controller.build_request()
    assert [p.name for p, _ in req.frames] == ["img_3.png", "img_1.png"]
    window.sources.item(0).setSelected(True)
    window.sources.remove_action.trigger()
    assert window.sources.ids() == [ids[0], ids[1]]


def test_fuse_shows_result_in_all_three_views(qtbot, window, pair_dir):
    choose(window, "test-slow", seconds=0.1, tag=1)
    window.open_paths([pair_dir], fuse=False)
    with qtbot.waitSignal(window.controller.resultChanged, timeout=20000):
        window.act_fuse.trigger()
    outcome = window.controller.outcome
    res = outcome.result
    views = window.results.views
    assert all(v.has_image() for v in views)
    # fused view shows exactly the fused image (frame 2, tag 1)
    np.testing.assert_array_equal(_view_pixels(views[FUSED]), to_uint8(res.fused))
    # decision map of a pair: weights[0] through the gray LUT
    expected = apply_lut(np.asarray(res.weights[0]), LUTS["gray"]())
    np.testing.assert_array_equal(_view_pixels(views[DECISION]), expected)
    # focus overlay: the selected source as base, focus map and outline layers on top
    src0 = outcome.stack.frame(0)
    np.testing.assert_array_equal(_view_pixels(views[OVERLAY]), to_uint8(src0))
    assert views[OVERLAY].layer_opacity("focus") == pytest.approx(0.6)
    # hover read-out: source index and fused value of that pixel
    info = window.results.pixel_info(5, 7)
    assert "source 2" in info
    assert str(round(float(res.fused[7, 5, 0]) * 255)) in info


def test_real_method_end_to_end(qtbot, window, pair_dir):
    from mffgui.methods import list_methods

    names = [m.name for m in list_methods() if m.kind == "classical" and m.name != "test-slow"]
    assert names, "no classical method registered"
    choose(window, names[0])
    _open_and_fuse(qtbot, window, [pair_dir], 60000)
    fused = window.controller.outcome.result.fused
    sharp, a, b = blurred_pair()
    err = lambda x: float(np.mean(np.abs(x - sharp)))  # noqa: E731
    assert err(fused) < min(err(a), err(b))


def test_cancel_mid_run_keeps_ui_responsive(qtbot, window, pair_dir):
    choose(window, "test-slow", seconds=30.0)
    window.open_paths([pair_dir], fuse=False)
    gaps = []
    last = [time.monotonic()]

    def tick():
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    with qtbot.waitSignal(window.controller.progressChanged, timeout=5000):
        window.act_fuse.trigger()
    assert window.controller.state == "running"
    assert window.act_cancel.isEnabled()
    qtbot.wait(400)  # let it run a little while the event loop is watched
    t0 = time.monotonic()
    with qtbot.waitSignal(
        window.controller.stateChanged, timeout=3000, check_params_cb=lambda s: s == "cancelled"
    ):
        window.act_cancel.trigger()  # Esc
    took = time.monotonic() - t0
    timer.stop()
    assert took < 1.0, f"cancel took {took:.2f} s"
    assert window.controller.state == "cancelled"
    assert window.controller.outcome is None
    assert not window.act_cancel.isEnabled()
    assert window.act_fuse.isEnabled()
    assert not window.progress.isVisible()
    # The event loop kept running while the worker slept (generous bound on a shared CPU).
    assert len(gaps) > 20
    assert max(gaps) < 0.5, f"event loop stalled for {max(gaps):.3f} s"


def test_two_quick_runs_only_second_result_shown(qtbot, window, pair_dir):
    window.open_paths([pair_dir], fuse=False)
    # run 1 ignores cancel and finishes first; run 2 is the one the user wants
    choose(window, "test-slow", seconds=0.3, tag=0, ignore_cancel=True)
    shown = []
    window.controller.resultChanged.connect(lambda o: shown.append(o))
    with qtbot.waitSignal(
        window.controller.progressChanged,
        timeout=5000,
        check_params_cb=lambda f, stage, eta: stage == "Sleeping",
    ):
        assert window.fuse()
    choose(window, "test-slow", seconds=0.8, tag=1, ignore_cancel=False)
    assert window.fuse()
    _wait_state(qtbot, window, "done")
    qtbot.waitUntil(lambda: 0 in FINISHED_TAGS, timeout=5000)
    assert FINISHED_TAGS.index(0) < FINISHED_TAGS.index(1)  # the stale result did arrive
    assert len(shown) == 1
    assert shown[0].result.meta["tag"] == 1
    np.testing.assert_array_equal(
        _view_pixels(window.results.views[FUSED]), to_uint8(shown[0].stack.frame(1))
    )


def test_bad_file_message_names_it_and_app_goes_on(qtbot, window, pair_dir):
    bad = pair_dir / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    errors = []
    window.controller.errorOccurred.connect(errors.append)
    window.open_paths([pair_dir], fuse=False)
    assert errors
    assert "broken.png" in errors[0]
    box = window._error_box
    assert isinstance(box, QMessageBox)
    assert "broken.png" in box.text()
    src = next(s for s in window.controller.sources if s.path.name == "broken.png")
    assert src.problem
    assert not src.included
    item = window.sources.item_for(src.id)
    assert "broken.png" in item.text()
    assert "⚠" in item.text()
    assert not item.flags() & Qt.ItemFlag.ItemIsUserCheckable
    # the two good images still fuse
    choose(window, "test-slow", seconds=0.0)
    with qtbot.waitSignal(window.controller.resultChanged, timeout=20000):
        window.fuse()
    assert len(window.controller.outcome.metas) == 2


def test_size_mismatch_fails_with_message_naming_file(qtbot, window, pair_dir):
    write_png(pair_dir / "small.png", np.zeros((40, 50, 3), np.float32))
    window.open_paths([pair_dir], fuse=False)
    src = next(s for s in window.controller.sources if s.path.name == "small.png")
    assert "50×40" in src.warning
    choose(window, "test-slow", seconds=0.0)
    errors = []
    window.controller.errorOccurred.connect(errors.append)
    window.fuse()
    _wait_state(qtbot, window, "failed")
    assert errors
    assert "small.png" in errors[-1]
    assert window.controller.outcome is None


@pytest.mark.parametrize("bits", [8, 16])
def test_export_writes_the_input_bit_depth(qtbot, window, tmp_path, bits):
    from mffgui.gui.widgets.export_dialog import ExportDialog

    d = tmp_path / f"in{bits}"
    d.mkdir()
    _sharp, a, b = blurred_pair()
    write_png(d / "a.png", a * 0.3, bits)  # dim 16-bit data must survive exactly
    write_png(d / "b.png", b * 0.3, bits)
    choose(window, "test-slow", seconds=0.0, tag=1)
    _open_and_fuse(qtbot, window, [d], 20000)
    outcome = window.controller.outcome
    out = tmp_path / "out" / "fused.tif"
    out.parent.mkdir()
    dlg = ExportDialog(out, outcome.stack.bit_depth, [m.path for m in outcome.metas], window)
    qtbot.addWidget(dlg)
    assert dlg.depth.currentData() == bits
    dlg.map_checks["index"].setChecked(True)
    with qtbot.waitSignal(window.controller.exportFinished, timeout=20000) as sig:
        window.export(dlg.request())
    written = sig.args[0].written
    assert out in written
    assert (out.parent / "fused_index.png") in written
    back = tifffile.imread(out)
    assert back.dtype == (np.uint8 if bits == 8 else np.uint16)
    source_b = cv2.imread(str(d / "b.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    np.testing.assert_array_equal(back, source_b)  # tag 1 = frame b, kept exactly
    index = cv2.imread(str(out.parent / "fused_index.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(index, outcome.result.index_map)


def test_export_dialog_refuses_a_source_and_jpeg_is_8_bit(qtbot, window, pair_dir):
    from mffgui.gui.widgets.export_dialog import ExportDialog

    src = pair_dir / "img_1.png"
    dlg = ExportDialog(src, 16, [src, pair_dir / "img_2.png"], window)
    qtbot.addWidget(dlg)
    assert "source" in dlg.validate()
    dlg.path_edit.setText(str(pair_dir / "out.jpg"))
    assert dlg.format.currentText() == "JPEG"
    assert dlg.depth.currentData() == 8
    assert dlg.validate() == ""


def test_zoom_and_pan_stay_linked(qtbot, window, pair_dir):
    choose(window, "test-slow", seconds=0.0)
    _open_and_fuse(qtbot, window, [pair_dir], 20000)
    qtbot.wait(50)
    views = window.results.views

    def centers():
        return [(v.center().x(), v.center().y()) for v in views]

    views[FUSED].zoom_to(6.0)
    assert [v.zoom for v in views] == pytest.approx([6.0] * 3)
    c = centers()
    assert np.allclose(c, c[0], atol=1.0)
    # pan the overlay view; the others follow
    views[OVERLAY].horizontalScrollBar().setValue(
        views[OVERLAY].horizontalScrollBar().value() + 120
    )
    views[OVERLAY].verticalScrollBar().setValue(views[OVERLAY].verticalScrollBar().value() + 60)
    c2 = centers()
    assert abs(c2[0][0] - c[0][0]) > 10  # it really moved
    assert np.allclose(c2, c2[2], atol=1.0)
    # wheel on the decision map zooms about the cursor in all views
    vp = views[DECISION].viewport()
    ev = QWheelEvent(
        QPointF(vp.width() / 2, vp.height() / 2),
        QPointF(),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(vp, ev)
    assert [v.zoom for v in views] == pytest.approx([6.0 * 1.25] * 3)
    assert np.allclose(centers(), centers()[1], atol=1.0)
    window.act_fit.trigger()
    zooms = [v.zoom for v in views]
    assert zooms[0] < 6.0
    assert zooms == pytest.approx([zooms[0]] * 3)


def test_clicking_decision_map_selects_source(qtbot, window, pair_dir):
    choose(window, "test-slow", seconds=0.0, tag=1)
    _open_and_fuse(qtbot, window, [pair_dir], 20000)
    assert window.results.selected_source == 0
    with qtbot.waitSignal(window.results.sourceSelected):
        window.results.views[DECISION].clicked.emit(3, 3)
    assert window.results.selected_source == 1  # index map is all 1 (tag 1)
    assert window.results.source_combo.currentIndex() == 1
    # the overlay of frame 2 is prepared in the background, then shown
    frame2 = to_uint8(window.controller.outcome.stack.frame(1))
    overlay = window.results.views[OVERLAY]
    qtbot.waitUntil(lambda: np.array_equal(_view_pixels(overlay), frame2), timeout=5000)
    assert "100%" in window.results.panes[OVERLAY].note.text()


def test_fresh_window_selects_the_default_method(qtbot, config_dir):
    from mffgui.gui.main_window import MainWindow
    from mffgui.methods.registry import DEFAULT_METHOD
    from mffgui.settings import AppSettings

    fresh = MainWindow(AppSettings(), probe_devices=False)
    qtbot.addWidget(fresh)
    assert fresh.method_panel.method == DEFAULT_METHOD


def test_settings_remembered_between_runs(qtbot, window, pair_dir, config_dir):
    from mffgui.gui.main_window import MainWindow
    from mffgui.settings import load_settings

    choose(window, "test-slow", seconds=1.5)
    window.open_paths([pair_dir], fuse=False)
    window.resize(761, 703)  # fits the offscreen screen (800×800)
    window.close()
    s = load_settings()
    assert (config_dir / "settings.json").is_file()
    assert s.method == "test-slow"
    assert s.last_folder == str(pair_dir)  # an opened folder is where dialogs start next
    assert s.recent[0] == [str(pair_dir)]
    assert s.params["test-slow"]["seconds"] == 1.5
    again = MainWindow(s, probe_devices=False)
    qtbot.addWidget(again)
    assert again.method_panel.method == "test-slow"
    assert again.method_panel.values()["seconds"] == 1.5
    assert (again.width(), again.height()) == (761, 703)
    again.close()


def test_align_option_registers_frames_before_fusing(qtbot, window, tmp_path):
    from gui_support import sharp_texture

    big = sharp_texture(140, 180, seed=3)
    d = tmp_path / "shifted"
    d.mkdir()
    write_png(d / "a.png", big[10:106, 10:138])
    write_png(d / "b.png", big[13:109, 16:144])  # the camera moved by (6, 3) px
    choose(window, "test-slow", seconds=0.0, tag=1)
    window.method_panel.set_align("translation")
    messages = []
    window.controller.message.connect(messages.append)
    _open_and_fuse(qtbot, window, [d])
    outcome = window.controller.outcome
    assert outcome.request.align == "translation"
    report = outcome.stack.report
    dx, dy = report.matrices()[1 - report.reference][:2, 2]
    sign = 1 if report.reference == 0 else -1
    assert (sign * dx, sign * dy) == (pytest.approx(6, abs=0.3), pytest.approx(3, abs=0.3))
    h, w = outcome.result.fused.shape[:2]
    assert (h, w) == outcome.stack.shape
    assert h <= 93
    assert w <= 122
    assert window.results.views[FUSED].image_size == (w, h)
    assert any("aligned (translation)" in m for m in messages)
    assert window.settings.align == "translation"


def test_about_lists_versions_and_citations(window):
    from mffgui import __version__
    from mffgui.methods import list_methods

    text = window.about_text()
    assert f"mffgui {__version__}" in text
    import PySide6

    assert PySide6.__version__ in text
    for info in list_methods():
        assert info.title in text
        if info.citation:
            assert info.citation in text


def test_layout_maximise_and_theme(qtbot, window, pair_dir):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    choose(window, "test-slow", seconds=0.0)
    _open_and_fuse(qtbot, window, [pair_dir])
    panel = window.results
    window.act_layout.trigger()
    assert panel.splitter.orientation() == Qt.Orientation.Vertical
    assert window.settings.layout == "stacked"
    window.act_max[1].trigger()
    assert [p.isVisible() for p in panel.panes] == [False, True, False]
    window.act_max[1].trigger()
    assert all(p.isVisible() for p in panel.panes)
    window.act_theme.trigger()  # the action starts checked (dark): now light
    assert window.settings.theme == "light"
    light = QApplication.palette().color(QPalette.ColorRole.Window).lightness()
    window.act_theme.trigger()
    assert window.settings.theme == "dark"
    dark = QApplication.palette().color(QPalette.ColorRole.Window).lightness()
    assert light > dark + 100


def test_methods_load_after_first_show_when_deferred(qtbot, slow_method):
    from mffgui.gui.main_window import MainWindow
    from mffgui.settings import AppSettings

    w = MainWindow(AppSettings(method="test-slow"), probe_devices=False, defer_methods=True)
    qtbot.addWidget(w)
    assert w.method_panel.combo.count() == 0
    w.show()
    qtbot.waitUntil(lambda: w.method_panel.combo.count() > 0, timeout=5000)
    assert w.method_panel.method == "test-slow"
    assert w.controller.method == "test-slow"
    w.close()


def test_hover_reads_on_demand_weights_in_the_background(qtbot, window, pair_dir):
    choose(window, "test-slow", seconds=0.0, tag=1, lazy_maps=True)
    _open_and_fuse(qtbot, window, [pair_dir])
    res = window.controller.outcome.result
    assert not isinstance(res.weights, np.ndarray)
    first = window.results.pixel_info(4, 6)
    assert "source 2" in first
    assert "weight …" in first  # not computed on the GUI thread
    qtbot.waitUntil(lambda: "weight 1.000" in window.results.pixel_info(4, 6), timeout=5000)
    window.results.views[FUSED].hovered.emit(4, 6)
    assert "weight 1.000" in window.hover_label.text()
