"""The one checkpoint format shared by ``training/`` and the app, and bundled-weights lookup.

A checkpoint is a ``torch.save``-d dict::

    {
        "format": "mffgui-checkpoint",
        "version": 1,
        "arch": "gacn" | "fusion2void",
        "model": state_dict,
        "model_args": {...},          # keyword arguments of the network's builder
        "meta": {...},                # how it was trained: command, data, metrics, date, name
        # training-only keys (ignored by the app): optimizer, epoch, config, metrics, rng
    }

Plain ``state_dict`` files (such as the official GACN ``GACN.pkl``) are accepted too; the
caller says which architecture they are for. Everything is loaded with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mffgui.errors import WeightsError
from mffgui.resources import weights_dir

FORMAT = "mffgui-checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    arch : str
        Network architecture name (``"gacn"``, ``"fusion2void"``).
    state_dict : dict
        Parameter tensors.
    model_args : dict
        Builder keyword arguments.
    meta : dict
        Free-form provenance.
    path : Path or None
        Where it was read from.
    sha256 : str
        Hex digest of the file.
    raw : dict
        The whole loaded object (training keys included).
    """

    arch: str
    state_dict: dict[str, Any]
    model_args: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_checkpoint(path: str | Path, arch: str) -> Checkpoint:
    """Load a checkpoint (project format or a plain state_dict) for ``arch``.

    Raises
    ------
    WeightsError
        Missing, unreadable or corrupt file, or a checkpoint for another architecture.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise WeightsError("weights file not found", p)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise WeightsError(
            f"not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})", p
        ) from None
    digest = sha256_file(p)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        if obj.get("arch") != arch:
            raise WeightsError(f"checkpoint is for {obj.get('arch')!r}, not {arch!r}", p)
        sd = obj.get("model")
        if not isinstance(sd, dict):
            raise WeightsError("checkpoint has no model state_dict", p)
        return Checkpoint(
            arch, sd, dict(obj.get("model_args") or {}), dict(obj.get("meta") or {}), p, digest, obj
        )
    if (
        isinstance(obj, dict)
        and obj
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    ):
        return Checkpoint(arch, obj, {}, {"source": "plain state_dict"}, p, digest, {"model": obj})
    raise WeightsError("file is neither an mffgui checkpoint nor a state_dict", p)


def best_path(out: str | Path) -> Path:
    """File of a training run's best epoch: ``run.pt`` -> ``run.best.pt``."""
    p = Path(out)
    return p.with_name(f"{p.stem}.best{p.suffix or '.pt'}")


def save_checkpoint(
    path: str | Path,
    arch: str,
    state_dict: dict[str, Any],
    model_args: dict[str, Any],
    meta: dict[str, Any],
    **extra: Any,
) -> None:
    """Write a checkpoint atomically (temporary file + rename)."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    obj = {
        "format": FORMAT,
        "version": 1,
        "arch": arch,
        "model": state_dict,
        "model_args": model_args,
        "meta": meta,
        **extra,
    }
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    _remove_stale_temporaries(p)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but not ours, or unknown: leave its file alone
    return True


def _remove_stale_temporaries(p: Path) -> None:
    """Delete ``.NAME.tmp-PID`` files of ``p`` left by writers that were killed mid-save."""
    for tmp in p.parent.glob(f".{p.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def bundled_weights(arch: str) -> Path | None:
    """Path of the project's bundled weights for ``arch`` (from ``weights.json``), if shipped."""
    index = weights_dir() / "weights.json"
    if not index.is_file():
        return None
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = entries.get(arch) if isinstance(entries, dict) else None
    if not entry:
        return None
    p = weights_dir() / entry["file"]
    return p if p.is_file() else None
