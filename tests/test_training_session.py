"""The Train dialog's Qt-free controller (mffgui.training.session): command line, events ->
state, progress and time left, the run's record, what an exit means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mffgui.errors import MffError
from mffgui.training import events as ev
from mffgui.training.session import (
    TRAINABLE_NETWORKS,
    RunSettings,
    TrainingSession,
    command_args,
    data_hint,
    duration_text,
    source_folders,
    stack_network,
    task_defaults,
)
from mffgui.user_weights import read_run


@pytest.fixture
def userdata(tmp_path, monkeypatch):
    monkeypatch.setenv("MFFGUI_DATA_DIR", str(tmp_path / "userdata"))
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    return tmp_path, sharp


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _line(event: ev.Event) -> bytes:
    return (ev.to_json(event) + "\n").encode()


def test_networks_and_their_defaults():
    assert list(TRAINABLE_NETWORKS) == ["gacn", "fusion2void"]
    assert stack_network() == "fusion2void"
    for arch in TRAINABLE_NETWORKS:
        d = task_defaults(arch)
        assert {"epochs", "steps_per_epoch", "batch_size", "patch_size"} <= set(d)
    assert "sharp, in-focus" in data_hint("gacn", [], ["/s"])
    assert "Fusion2Void" in data_hint("gacn", [], ["/s"])
    assert data_hint("fusion2void", [], ["/s"]) == ""
    assert data_hint("gacn", ["/a"], ["/s"]) == ""


def test_command_line_of_new_and_resumed_runs(tmp_path):
    sharp, stacks, val = (tmp_path / n for n in ("sharp", "stacks", "val"))
    for d in (sharp, stacks, val):
        d.mkdir()
    s = RunSettings(
        "gacn",
        sharp=[str(sharp)],
        stacks=[str(stacks)],
        val=str(val),
        epochs=4,
        steps_per_epoch=3,
        batch_size=2,
        patch_size=32,
        minutes=1.5,
        threads=2,
        log_every=1,
        options="--lr 1e-4 --val-count '2'",
    )
    out = tmp_path / "run.pt"
    args = command_args(s, out)
    assert args[0] == "gacn"
    assert args[args.index("--data") + 1] == str(sharp)
    assert "--pairs" not in args  # GACN does not use stacks
    assert args[args.index("--out") + 1] == str(out)
    assert "--jsonl" in args
    assert args[args.index("--max-minutes") + 1] == "1.5"
    assert args[-4:] == ["--lr", "1e-4", "--val-count", "2"]
    s.arch = "fusion2void"
    assert command_args(s, out)[command_args(s, out).index("--pairs") + 1] == str(stacks)
    resumed = command_args(s, out, resume=True)
    assert "--resume" in resumed
    assert "--data" not in resumed
    assert "--batch-size" not in resumed  # the checkpoint keeps them


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sharp": []}, "add at least one folder"),
        ({"sharp": ["/no/such/folder"]}, "not found"),
        ({"val": "/no/such/val"}, "validation folder not found"),
        ({"init": "/no/such.pt"}, "checkpoint to start from not found"),
        ({"options": "--lr '1e-4"}, "trainer options"),
    ],
)
def test_bad_settings_are_explained(tmp_path, change, message):
    s = RunSettings("gacn", **{"sharp": [str(tmp_path)], **change})
    with pytest.raises(MffError, match=message):
        command_args(s, tmp_path / "run.pt")


def _scripted_run(session: TrainingSession, clock: Clock) -> list:
    """A 2-epoch, 4-step run that stops in epoch 2, fed in uneven chunks with noise."""
    out = str(session.run_path)
    stream = b"".join(
        [
            b"some stray print\n",
            _line(
                ev.StartEvent(
                    arch="gacn",
                    device="cpu",
                    resumed=False,
                    epoch=0,
                    step=0,
                    epochs=2,
                    steps_per_epoch=4,
                )
            ),
            _line(ev.StepEvent(epoch=0, step=2, steps=4, global_step=2, loss=0.8, s_per_step=0.5)),
            _line(ev.StepEvent(epoch=0, step=4, steps=4, global_step=4, loss=0.6, s_per_step=0.5)),
            _line(
                ev.EpochEvent(
                    epoch=1, train={"loss": 0.7}, val={"iou": 0.5}, val_s=1.0, best_epoch=1
                )
            ),
            _line(ev.CheckpointEvent(path=out, reason="epoch", epoch=1, step=0, global_step=4)),
            _line(ev.StepEvent(epoch=1, step=1, steps=4, global_step=5, loss=0.5, s_per_step=0.5)),
            _line(ev.make_event("telemetry", gpu=1)),
            _line(ev.CheckpointEvent(path=out, reason="stop on stdin", epoch=1, step=1)),
            _line(ev.StoppedEvent(reason="stop on stdin", epoch=1, step=1)),
        ]
    )
    items = []
    for i in range(0, len(stream), 37):  # torn lines are completed by the next chunk
        items += session.feed_stdout(stream[i : i + 37])
    return items


def test_a_run_from_start_to_stop(userdata):
    tmp, sharp = userdata
    clock = Clock()
    session = TrainingSession(clock)
    assert session.state == "idle"
    settings = RunSettings("gacn", sharp=[str(sharp)], epochs=2, minutes=0)
    args = session.new_run(settings, runs=tmp / "runs")
    assert args[0] == "gacn"
    assert session.run_path.parent == tmp / "runs"
    session.run_path.parent.mkdir()
    session.launched(budget_minutes=0)
    assert session.state == "running"
    assert session.busy
    assert read_run(session.run_path).state == "running"  # the side file is written at once

    items = _scripted_run(session, clock)
    unparsed = [x for x in items if isinstance(x, ev.Unparsed)]
    assert [u.text for u in unparsed] == ["some stray print"]
    updates = [x for x in items if not isinstance(x, ev.Unparsed)]
    assert [u.event.name for u in updates] == [
        "start", "step", "step", "epoch", "checkpoint", "step", "telemetry", "checkpoint",
        "stopped",
    ]  # fmt: skip
    assert updates[0].status == "Training gacn on cpu"
    assert updates[1].loss_point == (2, 0.8)
    assert updates[1].status == "Epoch 1/2 · step 2/4 · loss 0.8000"
    # 4 steps left at 0.5 s (no validation timed yet).
    assert updates[2].eta == "about 2 s left"
    assert updates[3].epoch_mark == 4
    assert updates[3].metrics
    assert updates[4].preview == (str(session.run_path), 1)
    assert updates[7].preview is None  # only epoch checkpoints are previewed
    assert updates[8].eta == ""
    assert updates[8].status.startswith("Stopped by you; resume any time")
    assert session.loss_points == [(2, 0.8), (4, 0.6), (5, 0.5)]
    assert (session.epoch, session.step, session.global_step) == (1, 1, 5)
    assert session.progress() == pytest.approx(5 / 8)
    assert "epoch 1: loss=0.7000 iou=0.5000 ★" in session.metrics_html()
    assert read_run(session.run_path).epoch == 1  # checkpoints update the record
    assert read_run(session.run_path).step == 1

    session.set_state("stopping")
    session.run_path.write_bytes(b"checkpoint")
    assert session.finished(0, crashed=False) == ("stopped", None)
    assert session.resumable
    assert read_run(session.run_path).state == "stopped"
    resumed = session.resume_args(RunSettings("fusion2void", epochs=5))
    assert resumed[0] == "gacn"  # the run's network, not the form's
    assert "--resume" in resumed
    assert session.record.epochs == 5


def test_time_left_is_capped_by_the_time_budget(userdata):
    tmp, sharp = userdata
    clock = Clock()
    session = TrainingSession(clock)
    session.new_run(RunSettings("gacn", sharp=[str(sharp)]), runs=tmp)
    session.launched(budget_minutes=1)
    session.consume({"event": "start", "epochs": 100, "steps_per_epoch": 100})
    assert session.eta_text() is None  # the speed is not known yet
    up = session.consume(ev.StepEvent(epoch=0, step=1, global_step=1, s_per_step=2.0))
    assert up.eta == "about 1 min 00 s left"
    clock.t += 45
    assert session.eta_seconds() == pytest.approx(15)
    assert duration_text(7300) == "2 h 01 min"


def test_exits_become_states_and_messages(userdata):
    tmp, sharp = userdata
    session = TrainingSession()
    session.new_run(RunSettings("gacn", sharp=[str(sharp)]), runs=tmp)
    session.launched()
    state, msg = session.finished(-9, crashed=True)
    assert state == "crashed"
    assert "before the first checkpoint; Start again" in msg
    session.run_path.write_bytes(b"x")
    session.launched()
    session.feed_stderr("Traceback\n\nRuntimeError: out of memory\n")
    state, msg = session.finished(1, crashed=False)
    assert state == "failed"
    assert msg.startswith("Training failed (exit status 1): RuntimeError: out of memory")
    assert "Resume continues from it" in msg
    assert session.resumable
    session.launched()
    session.consume(
        ev.ErrorEvent(reason="non-finite", epoch=0, step=1, checkpoint=None, message="boom")
    )
    state, msg = session.finished(2, crashed=False)
    assert state == "failed"
    assert "diverged" in msg
    assert "no checkpoint had been written yet" in msg
    assert not session.resumable  # it would diverge again
    session.launched()
    session.consume(ev.DoneEvent(epochs=1))
    assert session.finished(0, crashed=False) == ("done", None)
    assert "mffgui.training" in session.failed_to_start()
    assert session.state == "failed"


def test_bad_settings_leave_no_run(userdata):
    tmp, _sharp = userdata
    session = TrainingSession()
    with pytest.raises(MffError):
        session.new_run(RunSettings("gacn"), runs=tmp)
    assert session.run_path is None
    with pytest.raises(MffError, match="no saved run"):
        session.resume_args(RunSettings("gacn"))
    with pytest.raises(MffError, match="No trained checkpoint"):
        session.save_weights(None, "", "")  # type: ignore[arg-type]


def test_weights_are_saved_to_the_library(userdata):
    pytest.importorskip("torch")
    from mffgui.models.gacn import build_gacn
    from mffgui.models.weights import save_checkpoint
    from mffgui.user_weights import WeightsLibrary

    tmp, sharp = userdata
    session = TrainingSession()
    session.new_run(RunSettings("gacn", sharp=[str(sharp)], name="scope"), runs=tmp / "runs")
    session.run_path.parent.mkdir()
    save_checkpoint(session.run_path, "gacn", build_gacn().state_dict(), {}, {"epochs": 1})
    session.launched()
    entry = session.save_weights(WeightsLibrary(), "scope", "40x")
    assert entry.arch == "gacn"
    assert session.saved_entry_id == entry.id
    side = json.loads(session.run_path.with_suffix(".json").read_text())
    assert side["saved_id"] == entry.id


def test_source_folders_fall_back_to_the_sample(tmp_path):
    class Src:
        def __init__(self, p: Path) -> None:
            self.path = p

    a, b = tmp_path / "a" / "1.png", tmp_path / "b" / "2.png"
    assert source_folders([Src(a), Src(b), Src(a)]) == [str(a.parent), str(b.parent)]
    from mffgui.resources import sample_stack_dir

    assert source_folders([]) == [str(sample_stack_dir())]
