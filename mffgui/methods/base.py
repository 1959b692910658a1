"""The one fusion-method protocol, method descriptions and validated parameter dataclasses."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, Self

from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.errors import ParamsError
from mffgui.types import FusionResult, Stack


def param(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    step: float | None = None,
) -> Any:
    """A Params field with a help text and an optional range or choice list.

    The GUI builds its parameter form from this metadata and the CLI validates ``--set`` with it.
    """
    meta = {"help": help, "min": min, "max": max, "choices": choices, "step": step}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Params:
    """Base of every method's parameters: frozen, validated on construction."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            md = f.metadata
            if md.get("choices") is not None and value not in md["choices"]:
                raise ParamsError(
                    f"parameter {f.name}={value!r} is not one of {list(md['choices'])}"
                )
            if md.get("min") is not None and value is not None and value < md["min"]:
                raise ParamsError(f"parameter {f.name}={value!r} is below {md['min']}")
            if md.get("max") is not None and value is not None and value > md["max"]:
                raise ParamsError(f"parameter {f.name}={value!r} is above {md['max']}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        """Build from a mapping whose values may be strings (CLI ``--set k=v``).

        Raises
        ------
        ParamsError
            For an unknown key, a value of the wrong type or one out of range.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in fields:
                known = ", ".join(fields) or "none"
                raise ParamsError(f"unknown parameter {key!r} (known: {known})")
            kwargs[key] = _coerce(key, raw, hints[key])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the parameter values."""
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One dict per field: name, type, default, help, min, max, choices, step."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            out.append(
                {"name": f.name, "type": hints[f.name], "default": f.default, **dict(f.metadata)}
            )
        return out


def _coerce(key: str, raw: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if origin is Literal:
        choices = typing.get_args(typ)
        for c in choices:
            if raw == c or str(c) == str(raw):
                return c
        raise ParamsError(f"parameter {key}={raw!r} is not one of {list(choices)}")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.lower() in ("none", "")):
            return None
        typ = args[0]
    if not isinstance(raw, str):
        if typ is float and isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        return raw
    try:
        if typ is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if typ is int:
            return int(raw)
        if typ is float:
            return float(raw)
        return typ(raw)
    except (TypeError, ValueError):
        name = getattr(typ, "__name__", str(typ))
        raise ParamsError(f"parameter {key}={raw!r} is not a valid {name}") from None


@dataclass(frozen=True)
class MethodInfo:
    """Description of a registered method.

    Attributes
    ----------
    name : str
        Registry key used by the CLI (``--method``), e.g. ``"laplacian"``.
    title : str
        Human-readable name for the GUI.
    kind : {"classical", "network"}
        Network methods need weights and may run on a GPU.
    params : type[Params]
        The method's parameter dataclass.
    citation : str
        The publication the method implements.
    description : str
        One or two sentences for tooltips and ``mffgui methods``.
    """

    name: str
    title: str
    kind: Literal["classical", "network"]
    params: type[Params]
    citation: str = ""
    description: str = ""


class FusionMethod(Protocol):
    """Every fusion method: ``fuse(stack, params) -> FusionResult`` for any N >= 2."""

    info: ClassVar[MethodInfo]

    def fuse(
        self,
        stack: Stack,
        params: Params,
        *,
        progress: ProgressFn = noop_progress,
        cancel: CancelToken = NEVER,
    ) -> FusionResult: ...
