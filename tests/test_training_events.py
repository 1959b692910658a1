"""The trainer's event schema (mffgui.training.events): typed kinds, wire form, tolerant reading.

Qt-free and torch-free. The events of real tiny runs are checked in test_training_gacn.py and
test_fusion2void_training.py (``test_*_events_parse_into_typed_classes``).
"""

from __future__ import annotations

import io
import json
import math

import pytest

from mffgui.training import events as ev
from mffgui.training.common import EventLog

SAMPLES: dict[str, ev.Event] = {
    "start": ev.StartEvent(
        arch="gacn",
        device="cpu",
        resumed=False,
        epoch=0,
        step=0,
        epochs=3,
        steps_per_epoch=2,
        out="/runs/gacn.pt",
        setup_s=0.25,
        config={"lr": 0.001, "seed": 0},
    ),
    "data": ev.DataEvent(images=5, train_images=4, held_out_images=1, val_pairs=2, val_size=32),
    "step": ev.StepEvent(
        epoch=0,
        step=1,
        steps=2,
        global_step=1,
        lr=0.001,
        s_per_step=0.5,
        loss=0.75,
        extras={"dice": 0.25},
    ),
    "epoch": ev.EpochEvent(
        epoch=1,
        train={"loss": 0.5},
        val={"iou": 0.625},
        lr=0.001,
        epoch_s=1.5,
        val_s=0.5,
        best_epoch=1,
    ),
    "checkpoint": ev.CheckpointEvent(
        path="/runs/gacn.pt", reason="epoch", epoch=1, step=0, global_step=2
    ),
    "best": ev.BestEvent(path="/runs/gacn.best.pt", epoch=1, score=0.625, key="iou"),
    "stopped": ev.StoppedEvent(reason="stop on stdin", epoch=1, step=1, resume="python -m x"),
    "done": ev.DoneEvent(epochs=3, global_step=6, wall_time_s=4.5, best=None, out="/r.pt"),
    "warning": ev.WarningEvent(message="--val ignored"),
    "error": ev.ErrorEvent(
        reason="non-finite",
        message="training diverged",
        epoch=0,
        step=1,
        global_step=1,
        checkpoint=None,
        checkpoint_epoch=None,
        checkpoint_step=None,
    ),
    "resume": ev.ResumeEvent(stage=1, elapsed_s=12.5, step=40),
    "validate": ev.ValidateEvent(
        reason="periodic", step=40, stage="f2v", elapsed_s=12.5, extras={"psnr": 31.5}
    ),
}


def test_every_kind_has_a_sample():
    assert set(SAMPLES) == set(ev.EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_round_trip_of_every_kind(kind):
    event = SAMPLES[kind]
    event.time = "2024-05-01T12:00:00+00:00"
    line = ev.to_json(event)
    assert "\n" not in line
    wire = json.loads(line)
    assert wire["event"] == kind
    assert wire["time"] == event.time
    back = ev.parse_event(line)
    assert type(back) is type(event)
    assert back == event
    assert ev.parse_event(line.encode()) == event  # bytes from the process, too


def test_explicit_nulls_that_readers_test_are_kept():
    wire = ev.to_dict(SAMPLES["error"])
    assert wire["checkpoint"] is None
    assert wire["checkpoint_step"] is None
    assert "stage" not in ev.to_dict(SAMPLES["step"])  # an unset field is left out
    assert ev.to_dict(ev.DoneEvent())["best"] is None


def test_event_log_writes_through_the_schema():
    out = io.StringIO()
    log = EventLog(jsonl=True, stream=out)
    log.emit("step", epoch=0, step=2, loss=0.5, dice=0.25, extra={"a": 1})
    log.write(ev.WarningEvent(message="hello"))
    first, second = (ev.parse_event(x) for x in out.getvalue().splitlines())
    assert isinstance(first, ev.StepEvent)
    assert (first.step, first.loss, first.terms) == (2, 0.5, {"loss": 0.5, "dice": 0.25})
    assert first.extras["extra"] == {"a": 1}
    assert first.time
    assert isinstance(second, ev.WarningEvent)
    assert second.message == "hello"
    text = io.StringIO()
    EventLog(stream=text).emit("epoch", epoch=2, val={"iou": 0.5}, best_epoch=None)
    assert text.getvalue().startswith("[epoch] epoch=2 best_epoch=None val: iou=0.5")


def test_non_finite_losses_are_written_and_read():
    line = ev.to_json(ev.StepEvent(loss=float("nan"), extras={"fid": float("inf")}))
    back = ev.parse_event(line)
    assert isinstance(back, ev.StepEvent)
    assert math.isnan(back.loss)
    assert back.extras["fid"] == math.inf


@pytest.mark.parametrize(
    "line",
    [
        "Traceback (most recent call last):",
        '{"event": "step", "loss": 0.5',  # torn
        "[1, 2]",
        '{"loss": 0.5}',
        '{"event": 3}',
        "\x00\xff garbage",
        b"\xff\xfe\x00",
        "[" * 100_000,
    ],
)
def test_malformed_lines_never_raise(line):
    out = ev.parse_event(line)
    assert isinstance(out, ev.Unparsed)
    assert out.error


def test_blank_lines_are_nothing():
    assert ev.parse_event("") is None
    assert ev.parse_event("  \r\n") is None


def test_unknown_kinds_extra_fields_and_wrong_types_are_kept():
    unknown = ev.parse_event('{"event": "telemetry", "time": "t", "gpu": 0.5}')
    assert isinstance(unknown, ev.UnknownEvent)
    assert unknown.name == "telemetry"
    assert unknown.extras == {"gpu": 0.5}
    assert json.loads(ev.to_json(unknown)) == {"event": "telemetry", "time": "t", "gpu": 0.5}
    epoch = ev.parse_event('{"event": "epoch", "epoch": "two", "val": [1], "new_field": true}')
    assert isinstance(epoch, ev.EpochEvent)
    assert epoch.epoch is None
    assert epoch.val is None
    assert epoch.extras == {"epoch": "two", "val": [1], "new_field": True}
    start = ev.parse_event('{"event": "start", "epoch": 2.0, "resumed": 1, "setup_s": 3}')
    assert isinstance(start, ev.StartEvent)
    assert (start.epoch, start.resumed, start.setup_s) == (2, None, 3.0)
    assert start.extras == {"resumed": 1}


def test_numpy_values_are_written_as_numbers():
    np = pytest.importorskip("numpy")
    line = ev.to_json(ev.make_event("best", score=np.float32(0.5), epoch=np.int64(3)))
    assert json.loads(line)["score"] == 0.5
    back = ev.parse_event(line)
    assert (back.score, back.epoch) == (0.5, 3)


# Every field of every kind, in the order the trainer has always written them (the documented
# wire order), with a value of the field's wire type. The expected lines are made from these
# literals with json.dumps alone, so they do not depend on how events.py declares its classes.
WIRE_ORDER: dict[str, dict[str, object]] = {
    "start": {
        "arch": "gacn",
        "device": "cpu",
        "resumed": True,
        "epoch": 2,
        "step": 3,
        "epochs": 10,
        "steps_per_epoch": 40,
        "out": "/runs/g.pt",
        "setup_s": 0.5,
        "config": {"lr": 0.001},
        "budget_s": 600.0,
        "amp": True,
        "features": 32,
        "batch_size": 8,
        "patch_size": 96,
    },
    "data": {
        "images": 5,
        "train_images": 4,
        "held_out_images": 1,
        "scenes": 7,
        "val_pairs": 2,
        "val_size": 32,
        "real_val_pairs": 3,
        "device": "cuda",
        "amp": False,
    },
    "step": {
        "epoch": 0,
        "step": 1,
        "steps": 2,
        "global_step": 9,
        "lr": 0.25,
        "s_per_step": 0.5,
        "loss": 0.75,
        "stage": "f2v",
        "elapsed_s": 1.5,
    },
    "epoch": {
        "epoch": 1,
        "train": {"loss": 0.5},
        "val": {"iou": 0.625},
        "lr": 0.001,
        "epoch_s": 1.5,
        "val_s": 0.5,
        "best_epoch": 1,
    },
    "checkpoint": {
        "path": "/runs/g.pt",
        "reason": "epoch",
        "epoch": 1,
        "step": 0,
        "global_step": 2,
        "elapsed_s": 3.5,
    },
    "best": {"path": "/runs/g.best.pt", "epoch": 1, "score": 0.625, "key": "iou"},
    "stopped": {"reason": "stop", "epoch": 1, "step": 1, "resume": "python -m x"},
    "done": {
        "epochs": 3,
        "global_step": 6,
        "wall_time_s": 4.5,
        "best": {"epoch": 2},
        "out": "/r.pt",
        "steps": 6,
        "stage_steps": [2, 4],
        "peak_gpu_mib": 812.5,
    },
    "warning": {"message": "--val ignored"},
    "error": {
        "reason": "non-finite",
        "message": "diverged",
        "epoch": 0,
        "step": 1,
        "global_step": 1,
        "checkpoint": "/runs/g.pt",
        "checkpoint_epoch": 0,
        "checkpoint_step": 0,
    },
    "resume": {"stage": 1, "elapsed_s": 12.5, "step": 40},
    "validate": {"reason": "periodic", "step": 40, "stage": "f2v", "elapsed_s": 12.5},
}
KEPT_NULLS = {"epoch": ["best_epoch"], "stopped": ["reason"], "done": ["best"],
              "error": ["checkpoint", "checkpoint_epoch", "checkpoint_step"]}  # fmt: skip
T0 = "2024-05-01T12:00:00+00:00"


def _written(kind: str, fields: dict[str, object]) -> str:
    """What the trainer prints for ``EventLog.emit(kind, **fields)`` at time ``T0``."""
    out = io.StringIO()
    EventLog(jsonl=True, stream=out).write(ev.make_event(kind, time=T0, **fields))
    return out.getvalue()


def test_wire_order_covers_every_kind_and_field():
    assert set(WIRE_ORDER) == set(ev.EVENT_TYPES)
    for kind, fields in WIRE_ORDER.items():
        parsed = ev.event_from_dict({"event": kind, **fields})
        assert parsed.extras == {}, f"{kind}: fields not in its class: {parsed.extras}"


@pytest.mark.parametrize("kind", sorted(WIRE_ORDER))
def test_every_event_is_written_in_its_documented_key_order(kind):
    fields = WIRE_ORDER[kind]
    expected = json.dumps({"event": kind, "time": T0, **fields}) + "\n"
    assert _written(kind, fields) == expected
    # the order on the wire is the schema's, not the order the trainer passes the fields in
    reverse = dict(reversed(list(fields.items())))
    assert _written(kind, {**reverse, "zz_extra": 1, "a_extra": [1]}) == (
        json.dumps({"event": kind, "time": T0, **fields, "zz_extra": 1, "a_extra": [1]}) + "\n"
    )
    # unset fields are left out, except those the readers test for null
    kept = {k: None for k in fields if k in KEPT_NULLS.get(kind, [])}
    assert _written(kind, {}) == json.dumps({"event": kind, "time": T0, **kept}) + "\n"
    # the text form lists the fields in the same order
    text = io.StringIO()
    EventLog(stream=text).write(ev.make_event(kind, time=T0, **reverse))
    scalars = [k for k, v in fields.items() if not isinstance(v, dict | list)]
    shown = [part.split("=")[0] for part in text.getvalue().split(" ")[1:] if "=" in part]
    assert shown[: len(scalars)] == scalars
