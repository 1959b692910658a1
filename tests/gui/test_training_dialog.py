"""The Train dialog runs ``python -m mffgui.training`` in a QProcess: progress, stop, resume, kill.

Each test trains GACN for a few 2-step epochs on three 64x64 synthetic images (one thread).
"""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from gui_support import config_dir, pair_dir, slow_method, window  # noqa: F401 - fixtures

import mffgui.gui  # noqa: F401 - first: works around the PySide6 refcount defect

torch = pytest.importorskip("torch")

from mffgui.core.synthetic import complementary_pair, half_mask, sharp_scene  # noqa: E402
from mffgui.gui.training.actions import open_training_dialog  # noqa: E402
from mffgui.gui.training.dialog import TrainingDialog  # noqa: E402
from mffgui.user_weights import WeightsLibrary  # noqa: E402

WAIT_MS = 240_000  # the test machine is shared and heavily loaded


def _write(path, img):
    import cv2

    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))


@pytest.fixture
def train_data(tmp_path, monkeypatch):
    """Sharp images and a validation scene; the library lives in tmp_path."""
    monkeypatch.setenv("MFFGUI_DATA_DIR", str(tmp_path / "userdata"))
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    for i in range(3):
        _write(sharp / f"s{i}.png", sharp_scene(64, 64, seed=i))
    val = tmp_path / "val" / "scene1"
    val.mkdir(parents=True)
    a, b = complementary_pair(sharp_scene(48, 48, seed=7), half_mask(48, 48), sigma=2.5)
    _write(val / "a.png", a)
    _write(val / "b.png", b)
    return sharp, val.parent


def _configure(dlg: TrainingDialog, sharp, val, epochs: int) -> None:
    dlg.network.setCurrentIndex(dlg.network.findData("gacn"))
    dlg.init_combo.setCurrentIndex(dlg.init_combo.findData(""))  # from scratch
    dlg.sharp_list.add_path(sharp)
    dlg.val_edit.setText(str(val))
    dlg.epochs.setValue(epochs)
    dlg.steps.setValue(2)
    dlg.batch.setValue(1)
    dlg.patch.setValue(32)
    dlg.threads.setValue(1)
    dlg.log_every.setValue(1)
    dlg.extra_edit.setText("--val-count 2")


def _starts(dlg):
    return [e for e in dlg.events if e["event"] == "start"]


def _checkpoint_epoch(path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


@pytest.mark.slow
def test_train_stop_resume_and_fuse_with_the_new_variant(qtbot, train_data):
    sharp, val = train_data
    dlg = TrainingDialog()
    qtbot.addWidget(dlg)
    _configure(dlg, sharp, val, epochs=500)
    with qtbot.waitSignal(dlg.previewUpdated, timeout=WAIT_MS):
        assert dlg.start()
    assert dlg.state == "running"
    assert dlg.loss_points
    assert dlg.curve.points == [(float(x), y) for x, y in dlg.loss_points]
    assert all(np.isfinite(y) and y > 0 for _x, y in dlg.loss_points)
    assert dlg.val_history
    assert "iou" in dlg.val_history[0]["val"]
    assert "real_qabf" in dlg.val_history[0]["val"]  # the validation folder was used
    assert dlg.progress.value() > 0
    assert "left" in dlg.eta.text()
    assert "epoch 1" in dlg.metrics.text()
    assert not dlg.preview.pixmap().isNull()

    dlg.stop()
    assert dlg.state == "stopping"
    qtbot.waitUntil(lambda: dlg.state == "stopped", timeout=WAIT_MS)
    assert dlg.resume_button.isEnabled()
    stopped_epoch = _checkpoint_epoch(dlg.run_path)
    assert stopped_epoch >= 1
    assert stopped_epoch < 500
    steps_before = dlg.global_step
    n_points = len(dlg.loss_points)

    dlg.epochs.setValue(stopped_epoch + 1)
    with qtbot.waitSignal(dlg.weightsSaved, timeout=WAIT_MS) as saved:
        assert dlg.resume()
    assert dlg.state == "done"
    start = _starts(dlg)[-1]
    assert start["resumed"] is True
    assert start["epoch"] == stopped_epoch
    assert _checkpoint_epoch(dlg.run_path) == stopped_epoch + 1
    assert len(dlg.loss_points) > n_points
    assert dlg.loss_points[n_points][0] > steps_before - 2  # global step continues

    # The weights are in the library and offered by the method panel as a variant.
    entry_id = saved.args[0]
    entry = WeightsLibrary().get(entry_id)
    assert entry.arch == "gacn"
    assert entry.epochs >= 1
    assert entry.data == [str(sharp)]
    from mffgui.gui.widgets.method_panel import MethodPanel
    from mffgui.methods import get_method, list_methods

    panel = MethodPanel(list_methods())
    qtbot.addWidget(panel)
    panel.set_method("gacn")
    field = next(f for f in panel._fields if f.name == "weights")
    titles = [field.variants.itemText(i) for i in range(field.variants.count())]
    assert entry.title in titles
    field.variants.setCurrentIndex(titles.index(entry.title))
    params = panel.params()
    assert params.weights == str(entry.path)

    from mffgui.types import Stack

    a, b = complementary_pair(sharp_scene(40, 40, seed=3), half_mask(40, 40), sigma=2.5)
    result = get_method("gacn").fuse(Stack.from_arrays([a, b]), params)
    fused = np.asarray(result.fused, np.float32)
    assert fused.shape == a.shape
    # GACN blends the two sources pixel-wise: every fused value lies between them.
    assert np.all(fused >= np.minimum(a, b) - 1e-3)
    assert np.all(fused <= np.maximum(a, b) + 1e-3)


@pytest.mark.slow
def test_sigkill_is_reported_app_survives_and_resume_continues(qtbot, window, train_data):
    sharp, val = train_data
    dlg = open_training_dialog(window)
    assert window.act_train.text().startswith("&Train")
    _configure(dlg, sharp, val, epochs=500)
    assert dlg.start()
    # Kill in the middle of an epoch after at least one epoch checkpoint.
    qtbot.waitUntil(lambda: any(e["event"] == "checkpoint" for e in dlg.events), timeout=WAIT_MS)
    n = len(dlg.events)
    qtbot.waitUntil(lambda: any(e["event"] == "step" for e in dlg.events[n:]), timeout=WAIT_MS)
    os.kill(dlg.proc.processId(), signal.SIGKILL)
    qtbot.waitUntil(lambda: dlg.state == "crashed", timeout=WAIT_MS)
    assert "killed" in dlg.status.text()
    assert "Resume" in dlg.status.text()
    assert dlg.resume_button.isEnabled()
    assert dlg.start_button.isEnabled()

    # The app keeps running: the window still handles events and its actions.
    assert window.isVisible()
    window.act_weights.trigger()
    qtbot.waitUntil(
        lambda: any(
            w.windowTitle() == "Trained weights" for w in window.findChildren(type(dlg).__mro__[1])
        ),
        timeout=10_000,
    )
    assert open_training_dialog(window) is dlg

    saved_epoch = _checkpoint_epoch(dlg.run_path)
    assert saved_epoch >= 1
    dlg.epochs.setValue(saved_epoch + 1)
    assert dlg.resume()
    qtbot.waitUntil(lambda: dlg.state == "done", timeout=WAIT_MS)
    start = _starts(dlg)[-1]
    assert start["resumed"] is True
    assert start["epoch"] == saved_epoch
    assert start["step"] == 0
    assert _checkpoint_epoch(dlg.run_path) == saved_epoch + 1
    assert dlg.saved_entry_id
    dlg.close()


def test_start_without_data_explains_and_does_not_launch(qtbot, train_data):
    dlg = TrainingDialog()
    qtbot.addWidget(dlg)
    assert not dlg.start()
    assert dlg.proc is None
    assert dlg.state == "idle"
    assert "folder" in dlg.status.text()
    dlg.sharp_list.add_path(train_data[0] / "missing")
    assert not dlg.start()
    assert "not found" in dlg.status.text()


def test_folders_can_be_dropped(qtbot, train_data):
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    dlg = TrainingDialog()
    qtbot.addWidget(dlg)
    lst = dlg.sharp_list
    mime = QMimeData()
    mime.setUrls(
        [
            QUrl.fromLocalFile(str(train_data[0])),
            QUrl.fromLocalFile(str(train_data[0] / "nonexistent")),
        ]
    )
    pos = QPoint(5, 5)
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    lst.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        pos.toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    lst.dropEvent(drop)
    lst.dropEvent(drop)  # a second drop of the same folder adds nothing
    assert lst.paths() == [str(train_data[0])]


def test_weights_manager_shows_metadata_renames_and_deletes(qtbot, tmp_path, monkeypatch):
    from mffgui.gui.widgets.weights_manager import WeightsManager
    from mffgui.models.gacn import build_gacn
    from mffgui.models.weights import save_checkpoint

    monkeypatch.setenv("MFFGUI_DATA_DIR", str(tmp_path / "userdata"))
    src = tmp_path / "run.pt"
    save_checkpoint(
        src,
        "gacn",
        build_gacn().state_dict(),
        {},
        {"data": ["/scope/images"], "epochs": 4, "validation": {"iou": 0.625}},
    )
    lib = WeightsLibrary()
    entry = lib.add(src, "gacn", "scope A", "40x")
    mgr = WeightsManager(library=lib)
    qtbot.addWidget(mgr)
    assert mgr.current_id() == entry.id
    text = mgr.details.text()
    for expected in ("GACN — scope A", "/scope/images", "iou 0.6250", "40x", "4"):
        assert expected in text
    with qtbot.waitSignal(mgr.changed):
        mgr.rename(entry.id, "scope B")
    assert mgr.list.item(0).text() == "GACN — scope B"
    out = mgr.export(entry.id, tmp_path / "shared.pt")
    assert out.read_bytes() == lib.get(entry.id).path.read_bytes()
    from mffgui.models.weights import load_checkpoint

    meta = load_checkpoint(out, "gacn").meta  # the exported file carries the new name
    assert (meta["name"], meta["notes"]) == ("scope B", "40x")
    with qtbot.waitSignal(mgr.changed):
        mgr.delete(entry.id)
    assert mgr.list.count() == 0
    assert not mgr.delete_button.isEnabled()


@pytest.mark.slow
def test_opened_from_the_main_window_start_just_works(
    qtbot, window, pair_dir, tmp_path, monkeypatch
):
    from mffgui.gui.training.actions import stack_folders
    from mffgui.resources import sample_stack_dir

    monkeypatch.setenv("MFFGUI_DATA_DIR", str(tmp_path / "userdata"))
    assert stack_folders(window) == [str(sample_stack_dir())]  # nothing loaded: the sample
    window.open_paths([pair_dir], fuse=False)
    window.act_train.trigger()
    dlg = window.training_dialog
    # The loaded stack is real data for Fusion2Void, not sharp images for GACN.
    assert dlg.stacks_list.paths() == [str(pair_dir)]
    assert dlg.sharp_list.paths() == []
    assert dlg.arch == "fusion2void"
    dlg.start_button.click()  # the defaults, no further input
    assert dlg.state == "running", dlg.status.text()
    qtbot.waitUntil(lambda: bool(_starts(dlg)) or not dlg.running, timeout=WAIT_MS)
    assert _starts(dlg), "\n".join(dlg._stderr_tail)
    assert _starts(dlg)[0]["resumed"] is False
    dlg.stop()
    qtbot.waitUntil(lambda: dlg.state == "stopped", timeout=WAIT_MS)
    assert dlg.run_path.is_file()
    # The user's own data choice is kept when the dialog opens again.
    dlg.sharp_list.clear()
    dlg.sharp_list.add_path(tmp_path)
    window.act_train.trigger()
    assert dlg.sharp_list.paths() == [str(tmp_path)]
    dlg.close()


@pytest.mark.slow
def test_resume_a_previous_run_from_a_new_dialog(qtbot, train_data):
    from mffgui.user_weights import list_runs

    sharp, val = train_data
    dlg = TrainingDialog()
    qtbot.addWidget(dlg)
    _configure(dlg, sharp, val, epochs=500)
    dlg.name_edit.setText("scope C")
    assert dlg.start()
    qtbot.waitUntil(lambda: any(e["event"] == "checkpoint" for e in dlg.events), timeout=WAIT_MS)
    dlg.stop()
    qtbot.waitUntil(lambda: dlg.state == "stopped", timeout=WAIT_MS)
    path = dlg.run_path
    saved_epoch = _checkpoint_epoch(path)
    assert saved_epoch >= 1
    dlg.close()

    # A new dialog (as after an app restart) lists the run and resumes it.
    new = TrainingDialog()
    qtbot.addWidget(new)
    runs = new.previous_runs()
    assert [r.path for r in runs] == [path]
    assert "GACN" in runs[0].label
    assert f"epoch {saved_epoch}/500" in runs[0].label
    assert "stopped" in runs[0].label
    assert new.resume_previous_button.isEnabled()
    assert not new.clean_button.isEnabled()  # nothing finished and saved yet
    with qtbot.waitSignal(new.weightsSaved, timeout=WAIT_MS) as saved:
        assert new.resume_run(epochs=saved_epoch + 1)
    assert new.state == "done", new.status.text()
    start = _starts(new)[-1]
    assert start["resumed"] is True
    assert start["epoch"] == saved_epoch
    assert _checkpoint_epoch(path) == saved_epoch + 1
    assert new.sharp_list.paths() == [str(sharp)]  # the run's settings came back
    entry = WeightsLibrary().get(saved.args[0])
    assert entry.name == "scope C"
    assert entry.data == [str(sharp)]
    # Finished and saved: clean-up deletes the run's checkpoints, the library copy stays.
    assert list_runs()[0].finished_and_saved
    assert new.clean_button.isEnabled()
    assert new.clean_up_runs() == 1
    assert not path.exists()
    assert list_runs() == []
    assert entry.path.is_file()
    new.close()


@pytest.mark.slow
def test_closing_the_main_window_stops_the_training_cleanly(qtbot, window, train_data):
    import time

    from mffgui.gui.training.dialog import STOP_ON_CLOSE_MS
    from mffgui.user_weights import read_run

    sharp, val = train_data
    dlg = open_training_dialog(window)
    _configure(dlg, sharp, val, epochs=500)
    assert dlg.start()
    qtbot.waitUntil(lambda: any(e["event"] == "step" for e in dlg.events), timeout=WAIT_MS)
    t0 = time.monotonic()
    window.close()
    elapsed = time.monotonic() - t0
    assert not dlg.running
    assert elapsed < STOP_ON_CLOSE_MS / 1000 + 1
    stops = [e for e in dlg.events if e["event"] == "stopped"]
    assert stops
    assert stops[-1]["reason"] == "stop on stdin"  # the clean Stop, not SIGTERM or a kill
    checkpoints = [e for e in dlg.events if e["event"] == "checkpoint"]
    assert checkpoints[-1]["reason"] == "stop on stdin"  # it saved
    assert dlg.state == "stopped"
    assert read_run(dlg.run_path).state == "stopped"
    assert _checkpoint_epoch(dlg.run_path) >= 0


@pytest.mark.slow
def test_divergence_is_explained_and_not_offered_for_resume(qtbot, train_data):
    sharp, val = train_data
    dlg = TrainingDialog()
    qtbot.addWidget(dlg)
    _configure(dlg, sharp, val, epochs=3)
    dlg.extra_edit.setText("--val-count 2 --lr 1e37")  # the first update overflows
    assert dlg.start()
    qtbot.waitUntil(lambda: dlg.state == "failed", timeout=WAIT_MS)
    errors = [e for e in dlg.events if e["event"] == "error"]
    assert errors
    assert errors[-1]["reason"] == "non-finite"
    assert "diverged" in dlg.status.text()
    assert "lower learning rate" in dlg.status.text()
    assert not dlg.resume_button.isEnabled()
    assert dlg.start_button.isEnabled()
