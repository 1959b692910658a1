"""The user's library of trained network weights (no Qt).

Weights trained with ``python -m mffgui.training`` (or the app's Train dialog) are copied, weights
only, into ``<user data folder>/weights`` (``platformdirs.user_data_dir("mffgui")``; the
environment variable ``MFFGUI_DATA_DIR`` replaces the data folder, e.g. for tests). An index
``index.json`` (written atomically) records, per entry: a stable ``id``, the display ``name``,
``notes``, the architecture (``arch``), the ``file`` name, the training ``data`` folders, the
``date``, validation ``metrics``, epochs, and the training run it came from (``source``).

The network methods take such an entry's :attr:`WeightsEntry.path` as their ``weights``
parameter; the method panel lists the entries as variants ("GACN — my microscope"). Renaming
an entry also rewrites the name (and notes) in the weights file's metadata, so exported files
carry the new name.

The Train dialog's resumable runs live in :func:`runs_dir`: a checkpoint ``<arch>-<date>.pt``
(plus ``.best.pt``) and a JSON side file ``<arch>-<date>.json`` (:class:`TrainingRun`: date,
state, epochs, the dialog's settings, the library id once saved); :func:`list_runs` finds them
after a restart and :func:`delete_run` removes one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mffgui.errors import MffError, WeightsError
from mffgui.io.atomic import atomic_write, write_json_atomic
from mffgui.models.specs import network_specs
from mffgui.models.weights import WeightsRecord, best_path, sha256_file

INDEX = "index.json"


def arch_title(arch: str) -> str:
    """The network's title from its :class:`~mffgui.models.specs.NetworkSpec` (``"GACN"``);
    the arch itself for a network that is not registered."""
    return next((s.title for s in network_specs() if s.arch == arch), arch)


def data_dir() -> Path:
    """The app's user data folder (``$MFFGUI_DATA_DIR`` or the platformdirs location)."""
    env = os.environ.get("MFFGUI_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("mffgui", appauthor=False))


def runs_dir() -> Path:
    """Where the Train dialog keeps its resumable training checkpoints."""
    return data_dir() / "runs"


RUN_INFO_SUFFIX = ".json"


def run_info_path(run: str | Path) -> Path:
    """The JSON side file the Train dialog keeps next to a run's checkpoint (``run.json``)."""
    return Path(run).with_suffix(RUN_INFO_SUFFIX)


@dataclass
class TrainingRun:
    """A training run of the Train dialog found in :func:`runs_dir`.

    Attributes
    ----------
    path : Path
        The resumable checkpoint (``<arch>-<date>.pt``).
    arch : str
        A registered network's arch (:func:`mffgui.models.specs.network_specs`).
    created : str
        ISO 8601 time the run was started.
    state : str
        Last state the dialog saw: ``running`` (the app ended during the run),
        ``stopped``, ``crashed``, ``failed`` or ``done``.
    epoch : int
        Epochs completed at the last checkpoint.
    step : int
        Steps of the unfinished epoch in that checkpoint.
    epochs : int
        Epochs the run was asked for.
    settings : dict
        The dialog's settings (data folders, validation folder, name, notes, ...).
    saved_id : str
        Library id of the weights saved from the run ("" when none).
    """

    path: Path
    arch: str
    created: str = ""
    state: str = ""
    epoch: int = 0
    step: int = 0
    epochs: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    saved_id: str = ""

    @property
    def label(self) -> str:
        """``"2024-05-01 14:03 · GACN · epoch 3/30 · stopped"``."""
        when = self.created.replace("T", " ")[:16] or "?"
        epochs = f"/{self.epochs}" if self.epochs else ""
        state = {"running": "interrupted"}.get(self.state, self.state or "?")
        saved = " · saved" if self.saved_id else ""
        return f"{when} · {arch_title(self.arch)} · epoch {self.epoch}{epochs} · {state}{saved}"

    @property
    def finished_and_saved(self) -> bool:
        """Whether the run finished and its weights are in the library (safe to delete)."""
        return self.state == "done" and bool(self.saved_id)

    def to_json(self) -> dict[str, Any]:
        """The side-file record (``path`` excluded)."""
        d = asdict(self)
        d.pop("path")
        return d


def write_run_info(run: TrainingRun) -> None:
    """Write a run's side file atomically (errors are ignored: it only helps resuming)."""
    p = run_info_path(run.path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(p, run.to_json(), default=str)
    except OSError:
        pass


def read_run(path: str | Path) -> TrainingRun:
    """The run of checkpoint ``path``, from its side file (or guessed from its name
    ``<arch>-<YYYYmmdd-HHMMSS>.pt`` and modification time)."""
    p = Path(path)
    rec: dict[str, Any] = {}
    try:
        obj = json.loads(run_info_path(p).read_text(encoding="utf-8"))
        rec = obj if isinstance(obj, dict) else {}
    except (OSError, ValueError):
        pass
    arch = str(rec.get("arch") or p.stem.split("-")[0])
    created = str(rec.get("created") or "")
    stamp = re.search(r"(\d{8}-\d{6})$", p.stem)
    if not created and stamp:
        try:
            created = _dt.datetime.strptime(stamp.group(1), "%Y%m%d-%H%M%S").isoformat()
        except ValueError:
            created = ""
    if not created:
        try:
            created = _dt.datetime.fromtimestamp(p.stat().st_mtime).isoformat(timespec="seconds")
        except OSError:
            created = ""

    def _int(key: str) -> int:
        try:
            return int(rec.get(key) or 0)
        except (TypeError, ValueError):
            return 0

    settings = rec.get("settings")
    return TrainingRun(
        p,
        arch,
        created,
        str(rec.get("state") or ""),
        _int("epoch"),
        _int("step"),
        _int("epochs"),
        dict(settings) if isinstance(settings, dict) else {},
        str(rec.get("saved_id") or ""),
    )


def list_runs(
    folder: str | Path | None = None, library: WeightsLibrary | None = None
) -> list[TrainingRun]:
    """The resumable runs in ``folder`` (default :func:`runs_dir`), newest first.

    A run whose side file names no saved weights but whose checkpoint (or its best epoch) is
    the source of a library entry counts as saved.
    """
    root = Path(folder) if folder is not None else runs_dir()
    try:
        files = [
            q
            for q in root.iterdir()
            if q.is_file()
            and q.suffix == ".pt"
            and not q.name.startswith(".")
            and not q.stem.endswith(".best")
        ]
    except OSError:
        return []
    sources: dict[str, str] = {}
    try:
        for e in (library or WeightsLibrary()).entries():
            if e.source:
                sources[e.source] = e.id
    except MffError:
        pass
    runs = []
    for f in files:
        run = read_run(f)
        if not run.saved_id:
            best = best_path(f)
            run.saved_id = sources.get(str(f)) or sources.get(str(best)) or ""
        runs.append(run)
    runs.sort(key=lambda r: (r.created, r.path.name), reverse=True)
    return runs


def delete_run(path: str | Path) -> None:
    """Delete a run: its checkpoint, best-epoch copy and side file.

    Raises
    ------
    MffError
        A file that could not be removed.
    """
    p = Path(path)
    for q in (p, best_path(p), run_info_path(p)):
        try:
            q.unlink(missing_ok=True)
        except OSError as exc:
            raise MffError(f"cannot delete the training run ({exc.strerror or exc})", q) from None


@dataclass
class WeightsEntry:
    """One trained-weights file of the library.

    Attributes
    ----------
    id : str
        Stable key (the file stem).
    name, notes : str
        Shown to the user; editable.
    arch : str
        A registered network's arch (:func:`mffgui.models.specs.network_specs`).
    file : str
        File name inside the library folder.
    data : list of str
        Training data folders.
    date : str
        ISO 8601 date the weights were trained (from the checkpoint meta) or added.
    metrics : dict
        Last validation metrics (name -> float).
    epochs : int
        Epochs trained.
    source : str
        Training checkpoint the entry was made from ("" when unknown).
    best : dict
        Best epoch and its score, when the training recorded one.
    root : Path
        Library folder (not stored in the index).
    """

    id: str
    name: str
    arch: str
    file: str
    notes: str = ""
    data: list[str] = field(default_factory=list)
    date: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    source: str = ""
    best: dict[str, Any] = field(default_factory=dict)
    root: Path = field(default=Path("."), repr=False, compare=False)

    @property
    def path(self) -> Path:
        """Absolute path of the weights file."""
        return self.root / self.file

    @property
    def title(self) -> str:
        """``"GACN — my microscope"``."""
        return f"{arch_title(self.arch)} — {self.name}"

    def to_json(self) -> dict[str, Any]:
        """The entry's fields (``root`` excluded); the index stores :attr:`record`."""
        d = asdict(self)
        d.pop("root")
        return d

    @property
    def record(self) -> WeightsRecord:
        """The entry as the shared weights record (what the library index stores)."""
        return _record_of(self.to_json())


INDEX_VERSION = 2
"""Library index format: 2 = a list of :class:`~mffgui.models.weights.WeightsRecord` (the
bundled ``weights.json``'s record); version 1 (flat ``date``/``metrics`` entries, no sha256) is
still read, and rewritten as version 2 on the next change."""

_ENTRY_EXTRA = ("id", "name", "epochs", "source", "best")


def _record_of(d: dict[str, Any]) -> WeightsRecord:
    """An entry-shaped dict (:class:`WeightsEntry` fields) as the shared weights record."""
    return WeightsRecord(
        arch=str(d["arch"]),
        file=str(d["file"]),
        sha256=str(d.get("sha256") or ""),
        size_bytes=int(d.get("size_bytes") or 0),
        created=str(d.get("date") or ""),
        data=list(d.get("data") or []),
        metrics=dict(d.get("metrics") or {}),
        notes=str(d.get("notes") or ""),
        extra={k: d[k] for k in _ENTRY_EXTRA if k in d},
    )


def _entry_dict(d: Any) -> dict[str, Any]:
    """An index record (version 1 or 2) as an entry-shaped dict.

    Raises
    ------
    WeightsError
        Not a record.
    """
    r = WeightsRecord.from_json(d)
    return {
        **{k: v for k, v in r.extra.items() if k in _ENTRY_EXTRA},
        "arch": r.arch,
        "file": r.file,
        "notes": r.notes,
        "data": r.data,
        "date": r.created,
        "metrics": r.metrics,
    }


class WeightsLibrary:
    """List, add, rename, export and delete the user's trained weights.

    Parameters
    ----------
    root : Path, optional
        Library folder; defaults to ``data_dir() / "weights"``.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir() / "weights"

    # -- index -------------------------------------------------------------------------------

    def _read(self) -> list[dict[str, Any]]:
        p = self.root / INDEX
        if not p.is_file():
            return []
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MffError(f"weights library index is unreadable ({exc})", p) from None
        entries = obj.get("entries") if isinstance(obj, dict) else None
        if not isinstance(entries, list):
            raise MffError("weights library index has no entry list", p)
        out = []
        for e in entries:
            with contextlib.suppress(MffError):
                out.append(_entry_dict(e))
        return out

    def _write(self, records: list[dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        out = []
        for r in records:
            rec = _record_of(r)
            f = self.root / rec.file
            if f.is_file():  # the file may have been rewritten (rename): record what is there
                rec.sha256, rec.size_bytes = sha256_file(f), f.stat().st_size
            out.append(rec.to_json())
        write_json_atomic(self.root / INDEX, {"version": INDEX_VERSION, "entries": out})

    def _entry(self, rec: dict[str, Any]) -> WeightsEntry:
        known = {k: rec[k] for k in WeightsEntry.__dataclass_fields__ if k in rec and k != "root"}
        return WeightsEntry(**known, root=self.root)

    def entries(self, arch: str | None = None) -> list[WeightsEntry]:
        """All entries (of ``arch`` only, when given), oldest first; missing files skipped."""
        out = [self._entry(r) for r in self._read() if {"id", "name", "arch", "file"} <= r.keys()]
        return [e for e in out if (arch is None or e.arch == arch) and e.path.is_file()]

    def get(self, entry_id: str) -> WeightsEntry:
        """The entry ``entry_id``.

        Raises
        ------
        MffError
            No such entry.
        """
        for e in self.entries():
            if e.id == entry_id:
                return e
        raise MffError(f"no trained weights with id {entry_id!r} in the library", self.root)

    # -- changes -----------------------------------------------------------------------------

    def add(
        self,
        checkpoint: str | Path,
        arch: str,
        name: str = "",
        notes: str = "",
        replace_source: bool = True,
    ) -> WeightsEntry:
        """Copy the weights (only) of a training checkpoint into the library.

        Parameters
        ----------
        checkpoint : path
            An mffgui checkpoint of ``arch`` (a training checkpoint with optimizer state is fine;
            only model, ``model_args`` and ``meta`` are kept).
        arch : str
        name, notes : str
            Display name (default: from the data folder) and free notes.
        replace_source : bool
            When an entry made from the same checkpoint path exists (a resumed run), update it
            instead of adding another one; its name and notes are kept unless given.

        Raises
        ------
        WeightsError
            Unreadable checkpoint or one for another architecture.
        """
        from mffgui.models.weights import load_checkpoint, save_checkpoint

        src = Path(checkpoint)
        ck = load_checkpoint(src, arch)
        meta = dict(ck.meta)
        records = self._read()
        old = next(
            (
                r
                for r in records
                if replace_source and r.get("source") == str(src) and r.get("arch") == arch
            ),
            None,
        )
        entry_id = old["id"] if old else f"{arch}-{uuid.uuid4().hex[:10]}"
        data = [str(d) for d in meta.get("data") or []]
        if not name:
            name = (old or {}).get("name") or (Path(data[0]).name if data else "my weights")
        if not notes and old:
            notes = old.get("notes", "")
        meta["name"] = name
        meta["notes"] = notes
        self.root.mkdir(parents=True, exist_ok=True)
        file = f"{entry_id}.pt"
        sd = {k: v.detach().to("cpu").clone() for k, v in ck.state_dict.items()}
        save_checkpoint(self.root / file, arch, sd, ck.model_args, meta)
        metrics = {
            k: float(v)
            for k, v in (meta.get("validation") or {}).items()
            if isinstance(v, int | float)
        }
        entry = WeightsEntry(
            id=entry_id,
            name=name,
            arch=arch,
            file=file,
            notes=notes,
            data=data,
            date=str(meta.get("date") or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")),
            metrics=metrics,
            epochs=int(meta.get("epochs") or 0),
            source=str(src),
            best=dict(meta.get("best") or {}),
            root=self.root,
        )
        records = [r for r in self._read() if r.get("id") != entry_id]
        records.append(entry.to_json())
        self._write(records)
        return entry

    def rename(self, entry_id: str, name: str, notes: str | None = None) -> WeightsEntry:
        """Change an entry's name (and notes, when given).

        Raises
        ------
        MffError
            Empty name or unknown entry.
        """
        name = name.strip()
        if not name:
            raise MffError("a name for the trained weights is required")
        entry = self.get(entry_id)
        self._rewrite_meta(entry, name, notes)
        records = self._read()
        for r in records:
            if r.get("id") == entry_id:
                r["name"] = name
                if notes is not None:
                    r["notes"] = notes
        self._write(records)
        return self.get(entry_id)

    @staticmethod
    def _rewrite_meta(entry: WeightsEntry, name: str, notes: str | None) -> None:
        """Store the new name (and notes) in the weights file's own metadata, atomically, so
        that an exported file carries them too."""
        from mffgui.models.weights import load_checkpoint, save_checkpoint

        ck = load_checkpoint(entry.path, entry.arch)
        meta = dict(ck.meta)
        if meta.get("name") == name and (notes is None or meta.get("notes") == notes):
            return
        meta["name"] = name
        if notes is not None:
            meta["notes"] = notes
        try:
            save_checkpoint(entry.path, entry.arch, ck.state_dict, ck.model_args, meta)
        except OSError as exc:
            raise WeightsError(
                f"cannot update the weights file ({exc.strerror or exc})", entry.path
            ) from None

    def export(self, entry_id: str, dest: str | Path) -> Path:
        """Copy an entry's weights file to ``dest`` (a file, or a folder), atomically.

        Returns
        -------
        Path
            The file written.
        """
        e = self.get(entry_id)
        d = Path(dest)
        if d.is_dir():
            d = d / f"{_slug(e.name)}-{e.arch}.pt"
        if not d.parent.is_dir():
            raise MffError("export folder does not exist", d.parent)
        try:
            atomic_write(d, lambda tmp: shutil.copyfile(e.path, tmp))
        except OSError as exc:
            raise WeightsError(f"cannot export weights ({exc.strerror or exc})", d) from None
        return d

    def delete(self, entry_id: str) -> None:
        """Remove an entry and its weights file."""
        e = self.get(entry_id)
        self._write([r for r in self._read() if r.get("id") != entry_id])
        e.path.unlink(missing_ok=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "weights"
