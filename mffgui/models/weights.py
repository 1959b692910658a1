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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mffgui.errors import WeightsError
from mffgui.io.atomic import atomic_write, temporaries_of
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
    atomic_write(p, lambda tmp: torch.save(obj, tmp))
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
    """Delete ``.NAME.tmp-PID...`` files of ``p`` left by writers that were killed mid-save."""
    for tmp, pid in temporaries_of(p):
        if pid is not None and pid != os.getpid() and not _pid_alive(pid):
            with contextlib.suppress(OSError):
                tmp.unlink()


SHARED = "<shared>"
"""Stands for the project's ``shared/`` folder in recorded commands and data paths."""
RUN = "<run>"
"""Stands for the training run's output folder in recorded commands."""


_SHARED_PATH = re.compile(r"[^\s\"'=]*/shared/")
_OUT_ARG = re.compile(r"(--out[ =])(\S*/)?([^\s/]+)")


def symbolic_provenance(text: str) -> str:
    """A recorded command or data path without this machine's folders.

    ``.../shared/data/x`` becomes ``<shared>/data/x`` (:data:`SHARED`: the project's shared
    data folder) and the folder of ``--out DIR/run.pt`` becomes ``<run>`` (:data:`RUN`).
    """
    text = _SHARED_PATH.sub(f"{SHARED}/", text)
    return _OUT_ARG.sub(lambda m: f"{m.group(1)}{RUN}/{m.group(3)}", text)


@dataclass
class WeightsRecord:
    """The one record of a weights file: an entry of the bundled ``weights.json`` (keyed by
    ``arch``) and of the user's library index (:mod:`mffgui.user_weights`).

    Attributes
    ----------
    arch : str
        Network architecture (``"gacn"``, ``"fusion2void"``).
    file : str
        File name, relative to the index's folder.
    sha256 : str
        Hex digest of the file ("" when not recorded: old library entries).
    size_bytes : int
        File size (0 when not recorded).
    created : str
        ISO 8601 time the weights were trained or added ("" when not recorded).
    command : str
        The training command (paths under ``shared/`` written as ``<shared>/...``).
    data : list of str
        Training data (folders or a description).
    metrics : dict
        Validation figures (the bundled index's nested ``validation`` block, the library's
        flat name -> value).
    notes : str
        Free text.
    model_args : dict
        Builder keyword arguments of the network.
    extra : dict
        Every other recorded key, kept as read (``commands``, ``epochs``, ``seed``, the
        library's ``id``, ``name``, ``source``, ``best`` ...).
    """

    arch: str
    file: str
    sha256: str = ""
    size_bytes: int = 0
    created: str = ""
    command: str = ""
    data: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    model_args: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    # JSON key of each field; "validation" and "date" are the names the files use
    _KEYS = (
        ("file", "file"),
        ("sha256", "sha256"),
        ("size_bytes", "size_bytes"),
        ("model_args", "model_args"),
        ("created", "created"),
        ("command", "command"),
        ("data", "data"),
        ("metrics", "validation"),
        ("notes", "notes"),
    )

    @classmethod
    def from_json(cls, d: dict[str, Any], arch: str | None = None) -> WeightsRecord:
        """Read a record; ``arch`` for the bundled index, whose entries are keyed by it.

        Old library entries (``date``, ``metrics``, no ``sha256``) are read too.

        Raises
        ------
        WeightsError
            Not a record (no ``file``, or no architecture).
        """
        if not isinstance(d, dict) or not isinstance(d.get("file"), str):
            raise WeightsError(f"not a weights record: {d!r:.80}")
        rest = dict(d)
        a = arch or rest.pop("arch", None)
        rest.pop("arch", None)
        if not isinstance(a, str) or not a:
            raise WeightsError(f"weights record without an architecture: {d!r:.80}")
        kw: dict[str, Any] = {}
        for attr, key in cls._KEYS:
            if key in rest:
                kw[attr] = rest.pop(key)
        if "created" not in kw and "date" in rest:  # library index version 1
            kw["created"] = rest.pop("date")
        if "metrics" not in kw and isinstance(rest.get("metrics"), dict):
            kw["metrics"] = rest.pop("metrics")
        kw["command"] = kw.get("command") or ""
        kw["data"] = list(kw.get("data") or [])
        kw["metrics"] = dict(kw.get("metrics") or {})
        kw["model_args"] = dict(kw.get("model_args") or {})
        kw["notes"] = kw.get("notes") or ""
        kw["size_bytes"] = int(kw.get("size_bytes") or 0)
        return cls(arch=a, extra=rest, **kw)

    def to_json(self, *, with_arch: bool = True) -> dict[str, Any]:
        """The JSON record (``with_arch=False`` for the bundled index, keyed by arch).

        Fields never recorded (empty) are left out, so an index round-trips unchanged.
        """
        out: dict[str, Any] = {"arch": self.arch} if with_arch else {}
        for attr, key in self._KEYS:
            value = getattr(self, attr)
            if value or attr in ("file", "model_args") or (attr == "notes" and not with_arch):
                out[key] = value
        order = ("file", "sha256", "size_bytes", "model_args", "command")
        head = {k: out.pop(k) for k in (("arch",) if with_arch else ()) + order if k in out}
        # keep the bundled index's key order: extra keys sit between command and notes
        tail: dict[str, Any] = {k: out.pop(k) for k in ("validation", "notes") if k in out}
        rest = {**out, **self.extra}
        if "commands" in rest:
            rest = {"commands": rest.pop("commands"), **rest}
        return {**head, **rest, **tail}

    def verify(self, folder: str | Path) -> Path:
        """The file of this record under ``folder``, checked against its size and sha256.

        Raises
        ------
        WeightsError
            Missing file, or its size or sha256 differs from the record (a damaged or
            replaced file); the message names the file.
        """
        p = Path(folder) / self.file
        if not p.is_file():
            raise WeightsError("weights file not found", p)
        st = p.stat()
        if self.size_bytes and st.st_size != self.size_bytes:
            raise WeightsError(
                f"weights file is {st.st_size} bytes, the index records {self.size_bytes} "
                "(damaged or replaced; reinstall it)",
                p,
            )
        if self.sha256:
            key = (str(p), st.st_size, st.st_mtime_ns)
            if _VERIFIED.get(key) != self.sha256:
                digest = sha256_file(p)
                if digest != self.sha256:
                    raise WeightsError(
                        f"weights file sha256 {digest[:12]}… does not match the index "
                        f"({self.sha256[:12]}…): damaged or replaced; reinstall it",
                        p,
                    )
                _VERIFIED[key] = digest
        return p


_VERIFIED: dict[tuple[str, int, int], str] = {}
"""Files already hashed this session: (path, size, mtime) -> sha256."""


def read_bundled_index(folder: str | Path | None = None) -> dict[str, WeightsRecord]:
    """The bundled ``weights.json`` of ``folder`` (default :func:`weights_dir`), by arch.

    Returns an empty dict when there is no readable index.
    """
    index = Path(folder if folder is not None else weights_dir()) / "weights.json"
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    out = {}
    for arch, d in entries.items():
        with contextlib.suppress(WeightsError):
            out[arch] = WeightsRecord.from_json(d, arch)
    return out


def bundled_weights(arch: str) -> Path | None:
    """Path of the project's bundled weights for ``arch`` (from ``weights.json``), if shipped.

    The file is the one its :class:`~mffgui.models.specs.NetworkSpec` names
    (``bundled_weights``), checked against the size and sha256 ``weights.json`` records.

    Raises
    ------
    WeightsError
        The shipped file differs from its record, or the record names another file than the
        spec (the message names the file).
    """
    from mffgui.models.specs import network_specs

    spec = next((s for s in network_specs() if s.arch == arch), None)
    if spec is not None and spec.bundled_weights is None:
        return None
    rec = read_bundled_index().get(arch)
    if rec is None or not (weights_dir() / rec.file).is_file():
        return None
    if spec is not None and Path(rec.file).name != spec.bundled_weights:
        raise WeightsError(
            f"weights.json records {rec.file!r} for {arch!r}, its network spec names "
            f"{spec.bundled_weights!r}",
            weights_dir() / "weights.json",
        )
    return rec.verify(weights_dir())
