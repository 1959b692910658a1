"""The trainer's progress events: one typed class per kind, and their JSON-lines wire form.

``python -m mffgui.training ... --jsonl`` prints one JSON object per event on stdout,
``{"event": <kind>, "time": <UTC ISO 8601>, <fields>...}``. This module is the one schema of
that stream: the trainer writes through it (:class:`mffgui.training.common.EventLog` builds
the typed event with :func:`make_event` and prints :func:`to_json`), and the app reads through
it (:func:`parse_event`, used by :class:`mffgui.training.session.TrainingSession`).

Kinds (``run_training`` in :mod:`mffgui.training.common` unless noted):

=============  ======================  ========================================================
kind           class                   when
=============  ======================  ========================================================
``start``      :class:`StartEvent`     the model is built (or resumed); totals of the run
``data``       :class:`DataEvent`      the task's setup counted its images (task modules)
``step``       :class:`StepEvent`      every ``--log-every`` steps; the loss terms
``epoch``      :class:`EpochEvent`     an epoch ended: train means, validation metrics
``checkpoint`` :class:`CheckpointEvent` a checkpoint was written (``reason`` epoch/stop/...)
``best``       :class:`BestEvent`      the best-so-far weights were written
``stopped``    :class:`StoppedEvent`   a clean stop (Stop, Ctrl-C, time budget) after saving
``done``       :class:`DoneEvent`      the run finished all its epochs
``warning``    :class:`WarningEvent`   a setting was ignored or adjusted
``error``      :class:`ErrorEvent`     the run diverged (``reason="non-finite"``)
``resume``     :class:`ResumeEvent`    the GPU recipe resumed (``fusion2void-gpu``)
``validate``   :class:`ValidateEvent`  the GPU recipe validated (``fusion2void-gpu``)
=============  ======================  ========================================================

Reading never raises on what a child process printed: a kind this module does not know
becomes an :class:`UnknownEvent`, fields it does not name (the loss terms of a step, the
metrics of a validation, anything a newer trainer adds) go to ``extras``, a field of the wrong
type goes to ``extras`` too (the typed field stays ``None``), and a line that is not an event
object at all becomes :class:`Unparsed`. Every typed field is optional (``None`` = not in
the line), since the two trainers (the epoch loop and the GPU recipe) write different subsets.

Qt-free and torch-free.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import inspect
import json
import math
import numbers
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "EVENT_TYPES",
    "FIELD_TYPES",
    "BestEvent",
    "CheckpointEvent",
    "DataEvent",
    "DoneEvent",
    "EpochEvent",
    "ErrorEvent",
    "Event",
    "ResumeEvent",
    "StartEvent",
    "StepEvent",
    "StoppedEvent",
    "UnknownEvent",
    "Unparsed",
    "ValidateEvent",
    "WarningEvent",
    "event_from_dict",
    "json_default",
    "make_event",
    "now_utc",
    "parse_event",
    "to_dict",
    "to_json",
    "to_text",
]


@dataclass(kw_only=True)
class Event:
    """Base of every event: the UTC ``time`` and the fields this class does not name."""

    kind: ClassVar[str] = ""
    keep_null: ClassVar[tuple[str, ...]] = ()
    """Fields the trainer writes even when ``None`` (readers test ``is None``): :func:`to_dict`
    keeps them as an explicit ``null``."""
    time: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The event's kind as on the wire (``"step"``, ``"epoch"``, ...)."""
        return self.kind

    def numbers(self) -> dict[str, float]:
        """The numeric ``extras`` (a step's loss terms, a validation's metrics)."""
        return {
            k: float(v)
            for k, v in self.extras.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }


FIELD_TYPES: dict[str, Any] = {
    # where the run is
    "epoch": int,
    "step": int,
    "steps": int,
    "epochs": int,
    "steps_per_epoch": int,
    "global_step": int,
    "stage": Any,  # the GPU recipe's stage: a number or a name
    # what it trains, on what, and where it writes
    "arch": str,
    "device": str,
    "amp": bool,
    "resumed": bool,
    "out": str,
    "path": str,
    "config": dict[str, Any],
    "budget_s": float,
    "features": int,
    "batch_size": int,
    "patch_size": int,
    # data
    "images": int,
    "train_images": int,
    "held_out_images": int,
    "scenes": int,
    "val_pairs": int,
    "val_size": int,
    "real_val_pairs": int,
    # results and timings
    "loss": float,
    "lr": float,
    "train": dict[str, Any],
    "val": dict[str, Any],
    "score": float,
    "key": str,
    "best": dict[str, Any],
    "best_epoch": int,
    "stage_steps": list[Any],
    "peak_gpu_mib": float,
    "setup_s": float,
    "s_per_step": float,
    "epoch_s": float,
    "val_s": float,
    "elapsed_s": float,
    "wall_time_s": float,
    # why and what next
    "reason": str,
    "message": str,
    "resume": str,
    "checkpoint": str,
    "checkpoint_epoch": int,
    "checkpoint_step": int,
}
"""The wire type of every typed field, one per name whichever event carries it (``epoch`` is
an int in every kind). Each kind lists its fields with :func:`_kind`."""

_E = typing.TypeVar("_E", bound=type[Event])


def _kind(kind: str, fields: str, keep_null: str = "") -> Callable[[_E], _E]:
    """Make the decorated class the event ``kind`` with ``fields`` (space-separated names of
    :data:`FIELD_TYPES`), each ``<wire type> | None = None``, in that order: the order of the
    keys on the wire (:func:`to_dict`). ``keep_null``: fields written even when ``None``."""

    def declare(cls: _E) -> _E:
        names = fields.split()
        cls.kind = kind
        cls.keep_null = tuple(keep_null.split())
        if not set(cls.keep_null) <= set(names):
            raise TypeError(f"{cls.__name__}: keep_null {keep_null!r} not among its fields")
        cls.__annotations__ = {
            **inspect.get_annotations(cls),
            **{name: FIELD_TYPES[name] | None for name in names},
        }
        for name in names:
            setattr(cls, name, None)
        return dataclass(kw_only=True)(cls)

    return declare


@_kind(
    "start",
    "arch device resumed epoch step epochs steps_per_epoch out setup_s config"
    " budget_s amp features batch_size patch_size",
)
class StartEvent(Event):
    """The run starts (or resumes): what it trains, where, and its totals. ``epoch`` and
    ``step`` are the resume point (completed epochs, steps done in the next); ``budget_s`` to
    ``patch_size`` come from the GPU recipe (``fusion2void-gpu``)."""


@_kind(
    "data",
    "images train_images held_out_images scenes val_pairs val_size real_val_pairs device amp",
)
class DataEvent(Event):
    """The task's data: image counts and the validation set."""


@_kind("step", "epoch step steps global_step lr s_per_step loss stage elapsed_s")
class StepEvent(Event):
    """Progress within an epoch: ``epoch`` (0-based, in progress), ``step`` of ``steps``;
    ``loss`` plus the task's other loss terms in ``extras``; ``stage`` and ``elapsed_s`` from
    the GPU recipe."""

    @property
    def terms(self) -> dict[str, float]:
        """Every loss term of the step, ``loss`` first."""
        head = {"loss": self.loss} if self.loss is not None else {}
        return {**head, **self.numbers()}


@_kind("epoch", "epoch train val lr epoch_s val_s best_epoch", keep_null="best_epoch")
class EpochEvent(Event):
    """An epoch ended (``epoch``: epochs completed): mean training terms, validation metrics,
    timings."""


@_kind("checkpoint", "path reason epoch step global_step elapsed_s")
class CheckpointEvent(Event):
    """A checkpoint was written to ``path`` (``reason``: ``epoch``, or why the run stopped)."""


@_kind("best", "path epoch score key")
class BestEvent(Event):
    """New best weights at ``path`` (the GPU recipe adds its validation record in extras)."""


@_kind("stopped", "reason epoch step resume", keep_null="reason")
class StoppedEvent(Event):
    """The run stopped cleanly after saving; ``resume`` is the command that continues it."""


@_kind(
    "done",
    "epochs global_step wall_time_s best out steps stage_steps peak_gpu_mib",
    keep_null="best",
)
class DoneEvent(Event):
    """The run finished (``steps`` to ``peak_gpu_mib``: the GPU recipe)."""


@_kind("warning", "message")
class WarningEvent(Event):
    """A setting was ignored or adjusted."""


@_kind(
    "error",
    "reason message epoch step global_step checkpoint checkpoint_epoch checkpoint_step",
    keep_null="checkpoint checkpoint_epoch checkpoint_step",
)
class ErrorEvent(Event):
    """The run failed (``reason="non-finite"``: it diverged); the last good checkpoint stays."""


@_kind("resume", "stage elapsed_s step")
class ResumeEvent(Event):
    """The GPU recipe resumed from its checkpoint."""


@_kind("validate", "reason step stage elapsed_s")
class ValidateEvent(Event):
    """The GPU recipe's validation; the metrics are in ``extras`` (:meth:`Event.numbers`)."""


@dataclass(kw_only=True)
class UnknownEvent(Event):
    """An event object of a kind this module does not know; its fields are in ``extras``."""

    kind: ClassVar[str] = ""
    event: str = ""

    @property
    def name(self) -> str:
        return self.event


@dataclass
class Unparsed:
    """A line of the trainer's stdout that is not an event object (a stray print, a torn
    line). ``error`` says why."""

    text: str
    error: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        StartEvent,
        DataEvent,
        StepEvent,
        EpochEvent,
        CheckpointEvent,
        BestEvent,
        StoppedEvent,
        DoneEvent,
        WarningEvent,
        ErrorEvent,
        ResumeEvent,
        ValidateEvent,
    )
}
"""Every known kind and its class."""


# -- values ------------------------------------------------------------------------------------

_BAD = object()


def _coerce(kind: type | None, value: Any) -> Any:
    """``value`` as the wire type ``kind``, or ``_BAD`` when it is not one."""
    if value is None or kind is None:
        return value
    if kind is bool:
        return value if isinstance(value, bool) else _BAD
    if isinstance(value, bool):
        return _BAD
    if kind is int:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and math.isfinite(value) and value == int(value):
            return int(value)
        return _BAD
    if kind is float:
        return float(value) if isinstance(value, numbers.Real) else _BAD
    if kind is str:
        return str(value) if isinstance(value, str | Path) else _BAD
    if kind is dict:
        return value if isinstance(value, dict) else _BAD
    if kind is list:
        return list(value) if isinstance(value, list | tuple) else _BAD
    return value


@functools.cache
def _wire_types(cls: type[Event]) -> dict[str, Any]:
    """Field name -> wire type (``int``, ``float``, ``str``, ``bool``, ``dict``, ``list``; ``None``
    for any value), from the class's annotations (``int | None`` -> ``int``)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in ("extras", "event"):
            continue
        args = [a for a in typing.get_args(hints[f.name]) if a is not type(None)]
        hint = args[0] if args else hints[f.name]
        origin = typing.get_origin(hint) or hint
        out[f.name] = origin if origin in (int, float, str, bool, dict, list) else None
    return out


def event_from_dict(obj: dict[str, Any]) -> Event:
    """The typed event of one decoded line (``obj["event"]`` names the kind).

    Never raises for a dict: unknown kinds give :class:`UnknownEvent`; unknown or mistyped
    fields land in ``extras``.
    """
    name = obj.get("event")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    known = _wire_types(cls if cls is not None else Event)
    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "event":
            continue
        coerced = _coerce(known[key], value) if key in known else _BAD
        if coerced is _BAD:
            extras[key] = value
        else:
            values[key] = coerced
    if cls is None:
        return UnknownEvent(event=str(name), extras=extras, **values)
    return cls(extras=extras, **values)


def make_event(kind: str, time: str | None = None, **fields: Any) -> Event:
    """The typed event ``kind`` with ``fields`` as the trainer passes them (keyword form of
    :func:`event_from_dict`; fields the class does not name go to ``extras``)."""
    return event_from_dict({"event": kind, "time": time, **fields})


def to_dict(event: Event) -> dict[str, Any]:
    """The wire object: ``event``, ``time``, the set fields, then ``extras``.

    A field that is ``None`` is left out unless the trainer always writes it (``keep_null``).
    """
    out: dict[str, Any] = {"event": event.name}
    for f in dataclasses.fields(event):
        if f.name in ("extras", "event"):
            continue
        value = getattr(event, f.name)
        if value is not None or f.name in event.keep_null:
            out[f.name] = value
    for key, value in event.extras.items():
        out.setdefault(key, value)
    return out


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars as numbers, anything else (paths) as text."""
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _all_finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_all_finite(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return all(_all_finite(v) for v in obj)
    return True


def to_json(event: Event) -> str:
    """One JSON line (no newline). Non-finite numbers are written as ``NaN``/``Infinity``
    (what Python's :mod:`json` reads back), e.g. the loss of a diverged step."""
    rec = to_dict(event)
    return json.dumps(rec, default=json_default, allow_nan=not _all_finite(rec))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def to_text(event: Event) -> str:
    """The short human-readable line the trainer prints without ``--jsonl``:
    ``[kind] a=1 b=0.5 val: iou=0.9, dice=0.8``."""
    fields = {k: v for k, v in to_dict(event).items() if k not in ("event", "time")}
    parts = [f"{k}={_fmt(v)}" for k, v in fields.items() if not isinstance(v, dict | list)]
    line = f"[{event.name}] " + " ".join(parts)
    for k, v in fields.items():
        if isinstance(v, dict):
            line += f" {k}: " + ", ".join(f"{a}={_fmt(b)}" for a, b in v.items())
    return line


def now_utc() -> str:
    """The ``time`` of an event written now (UTC, ISO 8601, seconds)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def parse_event(line: str | bytes) -> Event | Unparsed | None:
    """Read one line of the trainer's stdout.

    Returns
    -------
    Event
        The typed event (:class:`UnknownEvent` for a kind not listed in :data:`EVENT_TYPES`).
    Unparsed
        The line is not a JSON object with a string ``event`` (text output, a torn line).
    None
        The line is blank.

    Never raises.
    """
    if isinstance(line, bytes | bytearray):
        line = bytes(line).decode("utf-8", "replace")
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as err:
        return Unparsed(text, f"not JSON ({err})")
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        return Unparsed(text, "not an event object")
    try:
        return event_from_dict(obj)
    except Exception as err:  # a child's line must never break the reader
        return Unparsed(text, f"bad event ({type(err).__name__}: {err})")
