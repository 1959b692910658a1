"""Acceptance tests of the compare window (pytest-qt, offscreen)."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_support import (  # noqa: F401 - fixtures
    FINISHED_TAGS,
    config_dir,
    pair_dir,
    slow_method,
    window,
)
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from mffgui.core.synthetic import complementary_pair, half_mask, sharp_scene
from mffgui.gui.convert import from_qimage, to_uint8
from mffgui.io import discover
from mffgui.metrics import score

METHODS = ("laplacian", "gff")
METRICS = ("QG", "QMI", "QY", "QCV", "EN", "SF", "PSNR", "SSIM")


def _write_rgb8(path: Path, img: np.ndarray) -> None:
    data = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    assert cv2.imwrite(str(path), np.ascontiguousarray(data[:, :, ::-1]))


def _read_rgb(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    return data[:, :, ::-1] if data.ndim == 3 else data


@pytest.fixture
def stack_dir(tmp_path) -> Path:
    """A synthetic complementary pair (left half sharp / right half sharp) + ground truth."""
    d = tmp_path / "stack"
    d.mkdir()
    sharp = sharp_scene(80, 112, seed=3)
    a, b = complementary_pair(sharp, half_mask(80, 112), sigma=3.0)
    _write_rgb8(d / "frame_1.png", a)
    _write_rgb8(d / "frame_2.png", b)
    _write_rgb8(d / "scene_groundtruth.png", sharp)
    return d


def _sources_u8(d: Path) -> list[np.ndarray]:
    return [_read_rgb(d / "frame_1.png"), _read_rgb(d / "frame_2.png")]


@pytest.fixture
def compare(qtbot, stack_dir):
    from mffgui.gui.compare_window import CompareWindow

    disc = discover(stack_dir)
    win = CompareWindow(disc.frames, disc.metas)
    qtbot.addWidget(win)
    for name, act in win.metric_actions.items():
        act.setChecked(name in METRICS)
    win.resize(1200, 850)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def _run(qtbot, win, labels, timeout=60000, allow_failures=False):
    win.set_checked(labels)
    assert win.run()
    qtbot.waitUntil(lambda: not win.running, timeout=timeout)
    assert win.state == "done", win.last_error
    failed = {label: o.error for label, o in win.outcomes.items() if not o.ok}
    assert allow_failures or not failed, failed  # method errors, shown in the message


def test_ground_truth_found_beside_frames(compare, stack_dir):
    assert compare.ground_truth == stack_dir / "scene_groundtruth.png"
    assert [p.name for p, _ in compare.frames] == ["frame_1.png", "frame_2.png"]


def test_two_methods_give_two_results_and_a_filled_table(qtbot, compare, stack_dir):
    _run(qtbot, compare, METHODS)
    assert sorted(compare.outcomes) == sorted(METHODS)
    table = compare.table
    assert table.rowCount() == 2
    assert sorted(table.labels()) == sorted(METHODS)
    srcs = _sources_u8(stack_dir)
    gt = _read_rgb(stack_dir / "scene_groundtruth.png")
    for label in METHODS:
        out = compare.outcomes[label]
        assert out.ok
        assert out.seconds > 0
        # The tile shows the fused image.
        shown = from_qimage(compare.grid.tile(label).view._base.pixmap().toImage())
        np.testing.assert_array_equal(shown, to_uint8(out.result.fused))
        # The table matches the metrics computed here from the files on disk.
        expected = score(out.result.fused, srcs, gt, METRICS)
        assert set(expected) == set(METRICS)  # PSNR/SSIM thanks to the ground truth
        for m, v in expected.items():
            assert table.value(label, m) == pytest.approx(v, rel=1e-9, abs=1e-12)
    # Zoom and pan are linked across the tiles.
    v1, v2 = (compare.grid.tile(label).view for label in METHODS)
    v1.zoom_to(3.0)
    v1.horizontalScrollBar().setValue(v1.horizontalScrollBar().value() + 25)
    assert v2.zoom == pytest.approx(3.0)
    assert abs(v2.center().x() - v1.center().x()) < 1
    assert abs(v2.center().y() - v1.center().y()) < 1
    v1.fit()
    # Best value per metric is highlighted, following the metric's direction.
    from mffgui.metrics import METRICS as INFO

    for m in METRICS:
        vals = {label: table.value(label, m) for label in METHODS}
        pick = max if INFO[m].higher_is_better else min
        best = pick(vals.values())
        for label, v in vals.items():
            # No-reference statistics (EN, SF, AG, SD) are never crowned.
            assert table.is_highlighted(label, m) == (v == best and INFO[m].kind != "image")
    # A good fusion of this pair is close to the ground truth.
    assert min(table.value(label, "PSNR") for label in METHODS) > 25
    # Sorting by a metric column orders the rows by value.
    col = table.metrics.index("QG") + 1
    table.sortItems(col, Qt.SortOrder.DescendingOrder)
    order = table.labels()
    assert [table.value(lab, "QG") for lab in order] == sorted(
        (table.value(lab, "QG") for lab in order), reverse=True
    )
    # Header tooltips explain each metric and its direction.
    tip = table.horizontalHeaderItem(col).toolTip()
    assert "Higher is better" in tip
    qcv = table.horizontalHeaderItem(table.metrics.index("QCV") + 1).toolTip()
    assert "Lower is better" in qcv


def _grab_rgb(widget) -> np.ndarray:
    return from_qimage(widget.grab().toImage())


def _send_mouse(widget, kind, pos: QPointF, buttons, modifiers=Qt.KeyboardModifier.NoModifier):
    btn = Qt.MouseButton.LeftButton
    ev = QMouseEvent(kind, pos, widget.mapToGlobal(pos), btn, buttons, modifiers)
    QApplication.sendEvent(widget, ev)


def _drag(widget, a: QPointF, b: QPointF, modifiers=Qt.KeyboardModifier.NoModifier):
    left = Qt.MouseButton.LeftButton
    _send_mouse(widget, QEvent.Type.MouseButtonPress, a, left, modifiers)
    for t in np.linspace(0, 1, 5)[1:]:
        p = QPointF(a.x() + (b.x() - a.x()) * t, a.y() + (b.y() - a.y()) * t)
        _send_mouse(widget, QEvent.Type.MouseMove, p, left, modifiers)
    _send_mouse(widget, QEvent.Type.MouseButtonRelease, b, Qt.MouseButton.NoButton, modifiers)


def _check_sides(view, img_a: np.ndarray, img_b: np.ndarray) -> tuple[int, int]:
    """Rendered pixels left of the divider come from A, right of it from B."""
    shot = _grab_rgb(view.viewport())
    dx = view.divider_x()
    h, w = img_a.shape[:2]
    hits = [0, 0]
    inv = view.viewportTransform().inverted()[0]
    for vx in list(range(2, dx - 3, 7)) + list(range(dx + 4, shot.shape[1] - 2, 7)):
        for vy in range(2, shot.shape[0] - 2, 11):
            p = inv.map(QPointF(vx + 0.5, vy + 0.5))  # the screen pixel's centre
            x, y = int(np.floor(p.x())), int(np.floor(p.y()))
            # Skip pixels near image borders or outside the image, and the divider labels.
            if not (1 <= x < w - 1 and 1 <= y < h - 1) or vy < 30:
                continue
            fx, fy = p.x() - x, p.y() - y
            if min(fx, fy, 1 - fx, 1 - fy) < 0.1:
                continue  # exactly on a pixel edge: rounding may pick the neighbour
            side = 0 if vx < dx else 1
            want = (img_a if side == 0 else img_b)[y, x]
            np.testing.assert_array_equal(shot[vy, vx], want, err_msg=f"{vx},{vy} side {side}")
            hits[side] += 1
    return hits[0], hits[1]


def test_swipe_divider_moves_and_shows_both(qtbot):
    from mffgui.gui.widgets.compare_views import SwipeView

    h, w = 60, 90
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = (xx * 255 // (w - 1)).astype(np.uint8)
    a[..., 1] = 40
    b = np.zeros((h, w, 3), np.uint8)
    b[..., 2] = (yy * 255 // (h - 1)).astype(np.uint8)
    b[..., 1] = 200
    view = SwipeView()
    qtbot.addWidget(view)
    view.resize(420, 320)
    view.show()
    qtbot.waitExposed(view)
    view.set_pair(a, b, ("A", "B"))
    view.fit()
    QApplication.processEvents()
    left, right = _check_sides(view, a, b)
    assert left > 20
    assert right > 20
    # Drag the divider from the middle to 25 % of the width.
    vp = view.viewport()
    start = QPointF(view.divider_x(), vp.height() / 2)
    target = QPointF(vp.width() * 0.25, vp.height() / 2)
    _drag(vp, start, target)
    assert view.split == pytest.approx(0.25, abs=0.01)
    QApplication.processEvents()
    left2, right2 = _check_sides(view, a, b)
    assert right2 > right
    assert left2 < left
    assert left2 > 0
    # Zoomed in and panned, the split still holds.
    view.zoom_to(4.0)
    QApplication.processEvents()
    assert sum(_check_sides(view, a, b)) > 20


def test_swipe_between_a_result_and_a_source_frame(qtbot, compare, stack_dir):
    _run(qtbot, compare, METHODS)
    compare.tabs.setCurrentIndex(1)
    src_text = compare.swipe_b.itemText(compare.swipe_b.count() - 1)
    assert src_text.startswith("Source 2")
    compare.set_swipe("gff", src_text)
    compare.swipe.fit()
    QApplication.processEvents()
    fused = to_uint8(compare.outcomes["gff"].result.fused)
    frame2 = _read_rgb(stack_dir / "frame_2.png")
    left, right = _check_sides(compare.swipe, fused, frame2)
    assert left > 10
    assert right > 10


def test_region_selection_scores_the_crops(qtbot, compare, stack_dir):
    _run(qtbot, compare, METHODS)
    view = compare.grid.tile("laplacian").view
    view.fit()
    QApplication.processEvents()
    # Shift+drag on a result draws the region; the view maps screen to image pixels.
    vp = view.viewport()
    p0 = view.mapFromScene(QPointF(30.5, 20.5))
    p1 = view.mapFromScene(QPointF(90.5, 66.5))
    with qtbot.waitSignal(compare.regionScored, timeout=30000):
        _drag(vp, QPointF(p0), QPointF(p1), Qt.KeyboardModifier.ShiftModifier)
    rect = compare.region_rect
    assert rect is not None
    x, y, w, h = rect
    assert abs(x - 30) <= 1
    assert abs(y - 20) <= 1
    assert abs(x + w - 91) <= 1
    assert abs(y + h - 67) <= 1
    assert "Region" in compare.scope_label.text()
    # Every view outlines the same region.
    assert compare.grid.tile("gff").view.region == rect
    srcs = [s[y : y + h, x : x + w] for s in _sources_u8(stack_dir)]
    gt = _read_rgb(stack_dir / "scene_groundtruth.png")[y : y + h, x : x + w]
    whole = {}
    for label in METHODS:
        fused = compare.outcomes[label].result.fused
        expected = score(fused[y : y + h, x : x + w], srcs, gt, METRICS)
        whole[label] = compare.outcomes[label].scores
        for m, v in expected.items():
            assert compare.table.value(label, m) == pytest.approx(v, rel=1e-9, abs=1e-12)
    # The region differs from the whole image, and clearing the region restores it.
    assert any(
        compare.table.value("gff", m) != pytest.approx(whole["gff"][m]) for m in ("QG", "SF")
    )
    region_gff = {m: compare.table.value("gff", m) for m in METRICS}
    compare.clear_region()
    for m in METRICS:
        assert compare.table.value("gff", m) == pytest.approx(whole["gff"][m], rel=1e-12)
    # A new comparison is scored in the region drawn last.
    compare.select_region(rect)
    qtbot.waitUntil(lambda: compare.region is not None, timeout=30000)
    with qtbot.waitSignal(compare.regionScored, timeout=60000):
        _run(qtbot, compare, METHODS)
    assert compare.region.request.rect == rect
    for m in METRICS:
        assert compare.table.value("gff", m) == pytest.approx(region_gff[m], rel=1e-9)


def test_report_export_writes_every_file(qtbot, compare, stack_dir, tmp_path):
    _run(qtbot, compare, METHODS)
    compare.select_region((8, 8, 40, 32))
    qtbot.waitUntil(lambda: compare.region is not None, timeout=30000)
    out = tmp_path / "report"
    out.mkdir()
    with qtbot.waitSignal(compare.exported, timeout=60000) as sig:
        assert compare.export_report(out)
    written = {Path(p).name for p in sig.args[0]}
    on_disk = {p.name for p in out.iterdir()}
    assert written == on_disk  # no temporary files left
    for label in METHODS:
        res = compare.outcomes[label].result
        assert {
            f"{label}.png",
            f"{label}_index.png",
            f"{label}_decision.png",
            f"{label}_focus_001.png",
            f"{label}_focus_002.png",
        } <= on_disk
        np.testing.assert_array_equal(_read_rgb(out / f"{label}.png"), to_uint8(res.fused))
        np.testing.assert_array_equal(
            cv2.imread(str(out / f"{label}_index.png"), cv2.IMREAD_UNCHANGED), res.index_map
        )
    assert {
        "grid.png",
        "metrics.csv",
        "metrics.md",
        "region-metrics.csv",
        "region-metrics.md",
    } <= on_disk
    grid = _read_rgb(out / "grid.png")
    assert grid.ndim == 3
    assert grid.shape[1] > grid.shape[0]
    rows = list(csv.DictReader(io.StringIO((out / "metrics.csv").read_text())))
    assert [r["method"] for r in rows] == compare.order  # list order of the runs
    assert sorted(compare.order) == sorted(METHODS)
    for r in rows:
        for m in METRICS:
            assert float(r[m]) == pytest.approx(compare.outcomes[r["method"]].scores[m], rel=1e-12)
        assert float(r["seconds"]) == pytest.approx(compare.outcomes[r["method"]].seconds)
    rrows = list(csv.DictReader(io.StringIO((out / "region-metrics.csv").read_text())))
    for r in rrows:
        assert float(r["QG"]) == pytest.approx(compare.region.scores[r["method"]]["QG"])
    md = (out / "metrics.md").read_text()
    assert "| Method |" in md
    assert "**" in md
    for label in METHODS:
        assert f"| {label} |" in md
    assert "Region: 40x32 pixels at (8, 8)" in (out / "region-metrics.md").read_text()
    # Sources are untouched.
    assert sorted(p.name for p in stack_dir.iterdir()) == [
        "frame_1.png",
        "frame_2.png",
        "scene_groundtruth.png",
    ]


def test_report_into_missing_folder_is_a_clear_error(qtbot, compare, tmp_path):
    _run(qtbot, compare, ("laplacian",))
    compare.hide()  # no message box
    missing = tmp_path / "nope"
    assert compare.export_report(missing)
    qtbot.waitUntil(lambda: not compare.exporting, timeout=30000)
    assert "report folder does not exist" in compare.last_error
    assert str(missing) in compare.last_error
    assert not missing.exists()


def test_cancel_stops_the_comparison(qtbot, compare, slow_method):
    from mffgui.gui.compare_worker import CompareRun

    compare.set_stack(compare.frames, compare.metas)
    for tag in (1, 2):
        compare.add_run(
            "test-slow", slow_method.info.params(seconds=10.0, tag=tag), label=f"slow {tag}"
        )
    compare.set_checked(["slow 1", "slow 2"])
    assert compare.run()
    qtbot.waitUntil(lambda: compare.progress.value() > 0, timeout=10000)
    compare.cancel()
    qtbot.waitUntil(lambda: compare.state == "cancelled", timeout=5000)
    assert FINISHED_TAGS == []
    assert not any(o.ok for o in compare.outcomes.values())
    assert not compare.act_export.isEnabled()
    assert isinstance(compare.runs()[0], CompareRun)


def test_stale_comparison_is_dropped(qtbot, compare, slow_method):
    compare.add_run(
        "test-slow", slow_method.info.params(seconds=0.4, tag=1, ignore_cancel=True), label="old"
    )
    compare.set_checked(["old"])
    assert compare.run()
    qtbot.waitUntil(lambda: "old" in compare.stage_label.text(), timeout=10000)  # fusing
    _run(qtbot, compare, ("laplacian",))
    qtbot.waitUntil(lambda: 1 in FINISHED_TAGS, timeout=10000)
    QApplication.processEvents()
    assert list(compare.outcomes) == ["laplacian"]
    assert compare.table.labels() == ["laplacian"]


def test_a_failing_method_marks_its_row(qtbot, compare, monkeypatch):
    from mffgui.errors import MffError
    from mffgui.methods import get_method

    gff = type(get_method("gff"))

    def broken(self, stack, params, **kw):
        raise MffError("weights file broken.pth is corrupt")

    monkeypatch.setattr(gff, "fuse", broken)
    _run(qtbot, compare, METHODS, allow_failures=True)
    assert compare.outcomes["laplacian"].ok
    assert compare.outcomes["gff"].error == "weights file broken.pth is corrupt"
    assert compare.table.rowCount() == 2
    assert "failed" in compare.grid.tile("gff").caption.text()


def test_difference_views(qtbot, compare):
    from mffgui.gui.widgets.compare_views import difference_image, disagreement_image

    _run(qtbot, compare, METHODS)
    compare.tabs.setCurrentIndex(2)
    compare.diff_a.setCurrentIndex(compare.diff_a.findText("laplacian"))
    compare.diff_b.setCurrentIndex(compare.diff_b.findText("gff"))
    compare.diff_gain.setValue(16.0)
    # The picture is made on a worker thread; answers for the earlier choices are dropped.
    qtbot.waitUntil(lambda: not compare.diff_busy, timeout=10000)
    fa = compare.outcomes["laplacian"].result.fused
    fb = compare.outcomes["gff"].result.fused
    shown = from_qimage(compare.diff._base.pixmap().toImage())[:, :, 0]
    want = np.clip(np.rint(np.abs(fa.astype(np.float64) - fb).max(axis=2) * 255 * 16), 0, 255)
    assert np.abs(shown.astype(int) - want).max() <= 1
    # Independent of the view: the helpers on known inputs.
    a = np.zeros((4, 4, 3), np.float32)
    b = a.copy()
    b[1, 2, 1] = 0.01
    d = difference_image(a, b, gain=10)
    assert d[1, 2] == round(0.01 * 2550)
    assert d.sum() == d[1, 2]
    ia = np.array([[0, 1], [1, 1]])
    ib = np.array([[0, 0], [1, 1]])
    img, frac = disagreement_image(ia, ib)
    assert frac == 0.25
    assert img[0, 1] == 255
    assert img.sum() == 255
    with qtbot.waitSignal(compare.differenceShown, timeout=10000):
        compare.diff_mode.setCurrentIndex(1)
    assert "%" in compare.diff_info.text()
    assert compare.diff.has_image()


def test_main_window_action_opens_compare(qtbot, window, pair_dir):
    window.open_paths([pair_dir], fuse=False)
    assert window.act_compare.shortcut().toString() == "Ctrl+K"
    window.act_compare.trigger()
    win = window.compare_window
    qtbot.waitExposed(win)
    assert [p for p, _ in win.frames] == [s.path for s in window.controller.included_sources]
    assert set(("laplacian", "gff", "depthmap")) <= {r.label for r in win.runs()}
    # Opening again reuses the window.
    window.act_compare.trigger()
    assert window.compare_window is win
    win.close()


def test_runs_with_custom_params_from_the_editor(qtbot, compare, stack_dir):
    from mffgui.methods import get_method

    p = get_method("laplacian").info.params()
    r1 = compare.add_run("laplacian", p)
    assert r1.label != "laplacian"  # labels stay unique
    assert r1.params_text() == "defaults"
    panel = compare.runs_panel
    panel.editor.set_method("laplacian")
    panel.editor.set_values({"consistency": 5})
    run = panel.add_from_editor()
    assert run.params.consistency == 5
    assert "consistency=5" in run.label
    assert run.params_text() == "consistency=5"
    _run(qtbot, compare, ("laplacian", run.label))
    assert "consistency=5" in compare.grid.tile(run.label).caption.text()
    # The preset really ran with its parameters: it matches a direct fusion.
    from mffgui.io import read_stack

    direct = get_method("laplacian").fuse(read_stack(stack_dir), run.params)
    np.testing.assert_array_equal(compare.outcomes[run.label].result.fused, direct.fused)


def test_closing_stops_a_running_comparison(qtbot, compare, slow_method):
    compare.add_run("test-slow", slow_method.info.params(seconds=10.0, tag=7), label="slow")
    compare.set_checked(["slow"])
    assert compare.run()
    qtbot.waitUntil(lambda: "slow" in compare.stage_label.text(), timeout=10000)
    t0 = time.monotonic()
    compare.close()
    assert not compare._runner.busy
    assert time.monotonic() - t0 < 5
    assert 7 not in FINISHED_TAGS


def test_a_method_raising_any_exception_marks_only_its_row(qtbot, compare, monkeypatch):
    from mffgui.methods import get_method

    gff = type(get_method("gff"))

    def broken(self, stack, params, **kw):
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore detail")

    monkeypatch.setattr(gff, "fuse", broken)
    _run(qtbot, compare, ("gff", "laplacian"), allow_failures=True)
    assert compare.state == "done"
    assert compare.outcomes["laplacian"].ok  # the run after the failing one still ran
    assert compare.outcomes["gff"].error == (
        "RuntimeError: CUDA error: an illegal memory access was encountered"
    )
    assert compare.table.rowCount() == 2
    assert "failed" in compare.grid.tile("gff").caption.text()
    assert "1 failed" in compare.statusBar().currentMessage()


def test_builtin_presets_are_valid_and_add_labelled_runs(qtbot, compare, stack_dir):
    from mffgui.gui.widgets.compare_presets import BUILTIN_PRESETS
    from mffgui.methods import get_method

    seen: dict[str, list] = {}
    for preset in BUILTIN_PRESETS:
        ptype = get_method(preset.method).info.params
        params = preset.params(ptype)
        for key, value in preset.values.items():
            assert getattr(params, key) == value
        assert params not in seen.get(preset.method, []), preset  # presets of a method differ
        seen.setdefault(preset.method, []).append(params)
    assert {p.name for p in BUILTIN_PRESETS if p.method == "gacn"} >= {"calibration", "serial"}
    panel = compare.runs_panel
    panel.editor.set_method("depthmap")
    names = [panel.preset_combo.itemText(i) for i in range(panel.preset_combo.count())]
    assert "hard selection" in names
    # Choosing a preset in the picker adds a run "<method> (<preset>)" with its parameters.
    n = len(compare.runs(all_runs=True))
    panel.preset_combo.activated.emit(names.index("hard selection"))
    runs = compare.runs(all_runs=True)
    assert len(runs) == n + 1
    assert runs[-1].label == "depthmap (hard selection)"
    assert runs[-1].params.blend_sigma == 0.0
    assert runs[-1].params.focus == "sml"  # other fields keep their defaults
    assert not panel.delete_preset_button.isEnabled()  # built-in presets stay
    _run(qtbot, compare, ("depthmap", "depthmap (hard selection)"))
    from mffgui.io import read_stack

    direct = get_method("depthmap").fuse(read_stack(stack_dir), runs[-1].params)
    np.testing.assert_array_equal(
        compare.outcomes["depthmap (hard selection)"].result.fused, direct.fused
    )
    assert "blend_sigma=0" in compare.grid.tile("depthmap (hard selection)").caption.text()


def test_user_presets_are_saved_persisted_and_deleted(qtbot, compare, config_dir):
    from mffgui.gui.compare_window import CompareWindow
    from mffgui.gui.widgets.compare_presets import PRESETS_FILE

    panel = compare.runs_panel
    panel.editor.set_method("laplacian")
    panel.editor.set_values({"consistency": 7, "levels": 3})
    preset = panel.save_preset("my scope")
    assert preset is not None
    assert (config_dir / PRESETS_FILE).is_file()
    assert panel.chosen_preset().name == "my scope"
    assert panel.delete_preset_button.isEnabled()
    errors = []
    panel.errorOccurred.connect(errors.append)
    assert panel.save_preset("max-abs") is None  # the name of a built-in preset
    assert errors
    assert "built-in" in errors[-1]

    # A new window (a new session) offers the saved preset.
    other = CompareWindow(compare.frames, compare.metas)
    qtbot.addWidget(other)
    p2 = other.runs_panel
    p2.editor.set_method("laplacian")
    assert [p.name for p in p2.presets() if not p.builtin] == ["my scope"]
    run = p2.add_preset("laplacian", "my scope")
    assert run.label == "laplacian (my scope)"
    assert (run.params.consistency, run.params.levels) == (7, 3)
    assert run.params.activity_radius == 1
    p2.preset_combo.setCurrentIndex(p2.preset_combo.findText("my scope (yours)"))
    p2.delete_preset_button.click()
    assert p2.presets()
    assert all(p.builtin for p in p2.presets())
    assert all(p.builtin for p in panel.preset_store.presets("laplacian"))
    assert p2.add_preset("laplacian", "my scope") is None
    other.close()


def test_device_selector_follows_the_main_window(qtbot, window, pair_dir):
    window.open_paths([pair_dir], fuse=False)
    window._on_devices("cpu")  # as if the probe found only the CPU
    window.method_panel.set_device("cpu")
    window.controller.device = "cpu"
    window.act_compare.trigger()
    win = window.compare_window
    combo = win.runs_panel.editor.device
    model = combo.model()
    enabled = {combo.itemData(i): model.item(i).isEnabled() for i in range(combo.count())}
    assert enabled == {"auto": True, "cpu": True, "cuda": False, "mps": False}
    assert combo.currentData() == "cpu"
    assert win.device == "cpu"
    win.runs_panel.editor.set_device("cuda")  # disabled: not selectable
    assert win.device == "cpu"
    win.close()


def test_device_selector_without_probe_starts_at_the_given_device(qtbot, stack_dir):
    from mffgui.gui.compare_window import CompareWindow

    disc = discover(stack_dir)
    win = CompareWindow(disc.frames, disc.metas, device="mps")
    qtbot.addWidget(win)
    assert win.runs_panel.editor.device.currentData() == "mps"
    assert win.device == "mps"
    win.set_devices(["cuda"], "mps")  # mps not available: back to Auto
    assert win.device == "auto"
    win.close()


def test_each_tile_shows_its_own_runs_progress(qtbot, compare, slow_method):
    compare.set_stack(compare.frames, compare.metas)
    for tag in (1, 2):
        compare.add_run(
            "test-slow", slow_method.info.params(seconds=0.6, tag=tag), label=f"slow {tag}"
        )
    compare.set_checked(["slow 1", "slow 2"])
    first, second = "slow 1", "slow 2"
    seen = {first: set(), second: set()}

    def watch():
        for label in seen:
            text = compare.grid.tiles[label].caption.text()
            seen[label].add(
                "running" if "running" in text else "waiting" if "waiting" in text else "done"
            )
        return compare.state == "done"

    assert compare.run()
    qtbot.waitUntil(watch, timeout=30000)
    # The second run waits while the first runs, then runs itself; both end with a result.
    assert {"running", "done"} <= seen[first]
    assert {"waiting", "running", "done"} <= seen[second]
    assert "running" not in compare.grid.tiles[first].caption.text()
