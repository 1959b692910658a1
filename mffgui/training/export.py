"""``python -m mffgui.training export``: weights-only copy of a training checkpoint (for shipping).

With ``--weights-json`` the copy is also recorded in a ``weights.json`` index (the bundled
weights index of :func:`mffgui.models.weights.bundled_weights`): file, sha256, ``model_args``,
the exact training command(s), data, wall time, epochs and validation figures. Other entries
of the index are kept.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from mffgui.errors import MffError
from mffgui.io.atomic import write_json_atomic
from mffgui.models.specs import network_specs
from mffgui.models.weights import WeightsRecord, sha256_file, symbolic_provenance
from mffgui.training.common import export_weights


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export`` on the ``python -m mffgui.training`` parser."""
    p = subparsers.add_parser(
        "export",
        help="strip optimizer/RNG state from a checkpoint",
        description="Write a small, app-loadable copy of a training checkpoint: parameters, "
        "model_args and provenance meta only.",
    )
    p.add_argument("checkpoint", help="training checkpoint (e.g. run.pt or run.best.pt)")
    p.add_argument("out", help="weights file to write")
    archs = [s.arch for s in network_specs()]
    p.add_argument(
        "--arch", default=archs[0], choices=archs, help=f"network architecture (default {archs[0]})"
    )
    p.add_argument("--note", help="free text stored as meta['notes'] (and in weights.json)")
    p.add_argument(
        "--weights-json",
        metavar="FILE",
        help="add/replace the entry for --arch in this weights.json index",
    )
    p.add_argument(
        "--extra-validation",
        metavar="JSON_FILE",
        help="JSON object merged into the entry's 'validation' (e.g. benchmarks)",
    )
    p.set_defaults(func=main)
    return p


def weights_entry(
    out: Path,
    index: Path,
    meta: dict[str, Any],
    model_args: dict[str, Any],
    extra_validation: dict[str, Any] | None = None,
    *,
    arch: str,
) -> WeightsRecord:
    """The ``weights.json`` record of the exported file ``out`` (provenance paths symbolic:
    :func:`mffgui.models.weights.symbolic_provenance`)."""

    validation: dict[str, Any] = {"synthetic_holdout": meta.get("validation") or {}}
    if meta.get("best"):
        validation["selected_by"] = meta["best"].get("key")
    validation.update(extra_validation or {})

    def sym(v: Any) -> Any:
        return symbolic_provenance(v) if isinstance(v, str) else v

    commands = meta.get("commands") or [meta.get("command")]
    return WeightsRecord(
        arch=arch,
        file=os.path.relpath(out, index.parent),
        sha256=sha256_file(out),
        size_bytes=out.stat().st_size,
        model_args=model_args,
        command=sym(meta.get("command") or ""),
        data=[sym(d) for d in meta.get("data") or []],
        metrics=validation,
        notes=meta.get("notes", ""),
        extra={
            "commands": [sym(c) for c in commands],
            "wall_time_s": meta.get("wall_time_s"),
            "epochs": meta.get("epochs"),
            "global_step": meta.get("global_step"),
            "seed": meta.get("seed"),
            "init": meta.get("init"),
        },
    )


def update_index(index: Path, arch: str, entry: WeightsRecord) -> None:
    """Replace ``arch``'s entry in the JSON index atomically, keeping the others."""
    data: dict[str, Any] = {}
    if index.is_file():
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise MffError(f"not valid JSON ({exc})", index) from None
        if not isinstance(data, dict):
            raise MffError("weights index is not a JSON object", index)
    data[arch] = entry.to_json(with_arch=False)
    write_json_atomic(index, data)


def main(args: argparse.Namespace) -> int:
    """Run the ``export`` sub-command."""
    from mffgui.models.weights import load_checkpoint

    meta = export_weights(
        args.checkpoint, args.out, args.arch, {"notes": args.note} if args.note else None
    )
    out = Path(args.out)
    result = {"out": str(out), "sha256": sha256_file(out), "epochs": meta.get("epochs")}
    if args.weights_json:
        extra = None
        if args.extra_validation:
            try:
                extra = json.loads(Path(args.extra_validation).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise MffError(
                    f"cannot read extra validation JSON ({exc})", args.extra_validation
                ) from None
        index = Path(args.weights_json)
        model_args = load_checkpoint(out, args.arch).model_args
        entry = weights_entry(out, index, meta, model_args, extra, arch=args.arch)
        update_index(index, args.arch, entry)
        result["index"] = str(index)
    print(json.dumps(result))
    return 0
