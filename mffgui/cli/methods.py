"""``mffgui methods``: list the fusion methods with their parameters, defaults, ranges and help."""

from __future__ import annotations

import argparse
import json
import typing
from typing import Any

from mffgui.methods.base import MethodInfo

__all__ = ["add_parser", "describe_method", "run"]


def _type_name(typ: Any) -> str:
    origin = typing.get_origin(typ)
    if origin is typing.Literal:
        return "choice"
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if args and origin is not None:
        inner = _type_name(args[0])
        return f"{inner} or none" if len(args) < len(typing.get_args(typ)) else inner
    return getattr(typ, "__name__", str(typ))


def _range_text(p: dict[str, Any]) -> str:
    typ = p["type"]
    choices = p.get("choices")
    if choices is None and typing.get_origin(typ) is typing.Literal:
        choices = typing.get_args(typ)
    if choices is not None:
        return "one of " + ", ".join(str(c) for c in choices)
    lo, hi = p.get("min"), p.get("max")
    if lo is not None and hi is not None:
        return f"{lo} .. {hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return ""


def describe_method(info: MethodInfo) -> dict[str, Any]:
    """A JSON-friendly description of one method and its parameters."""
    params = []
    for p in info.params.describe():
        params.append(
            {
                "name": p["name"],
                "type": _type_name(p["type"]),
                "default": p["default"],
                "range": _range_text(p),
                "help": p.get("help", ""),
            }
        )
    return {
        "name": info.name,
        "title": info.title,
        "kind": info.kind,
        "description": info.description,
        "citation": info.citation,
        "params": params,
    }


def _format_text(d: dict[str, Any], default: str) -> str:
    mark = " (default)" if d["name"] == default else ""
    lines = [f"{d['name']}{mark} — {d['title']} [{d['kind']}]"]
    if d["description"]:
        lines.append(f"    {d['description']}")
    if d["citation"]:
        lines.append(f"    Reference: {d['citation']}")
    if d["params"]:
        lines.append("    Parameters (--set NAME=VALUE):")
        for p in d["params"]:
            default_s = "none" if p["default"] is None else repr(p["default"])
            rng = f", {p['range']}" if p["range"] else ""
            lines.append(f"      {p['name']} ({p['type']}, default {default_s}{rng})")
            if p["help"]:
                lines.append(f"          {p['help']}")
    else:
        lines.append("    No parameters.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the registered methods (all, or the one named) as text or JSON."""
    from mffgui.cli.common import default_method
    from mffgui.methods import get_method, list_methods

    infos = list_methods()
    if args.name:
        infos = [get_method(args.name).info]  # raises UnknownMethod with the known names
    described = [describe_method(i) for i in infos]
    if args.json:
        print(json.dumps(described, indent=2, default=str))
        return 0
    default = default_method() if infos else ""
    print("\n\n".join(_format_text(d, default) for d in described))
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``methods`` on the top-level sub-parsers."""
    p = subparsers.add_parser(
        "methods",
        help="list fusion methods and their parameters",
        description="List the fusion methods with their parameters, defaults, ranges and help.",
    )
    p.add_argument("name", nargs="?", help="show only this method")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
