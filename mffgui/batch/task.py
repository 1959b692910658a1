"""One batch task: read, align, fuse and export one stack; completeness markers for ``--resume``.

Everything here runs on a Dask worker (or in the calling process on the serial path), so it
only takes picklable arguments (a :class:`BatchJob` and plain path strings) and never raises for
a problem with the stack: a :class:`StackResult` with ``status="failed"`` and the error is
returned instead, so one bad stack never stops the others and is not retried pointlessly.

Idempotence: a task may run twice (its worker died and the scheduler resubmitted it). Every
file is written with the project's atomic writers (a temporary file in the destination folder,
then :func:`os.replace`), so a killed attempt never leaves a partial output under the output's
name and a repeated attempt simply replaces the file with identical bytes.

"Complete" (for ``--resume``) means: the marker ``OUT/.mffgui-batch/<output name>.json``, which is
written atomically *after* the image's atomic rename, exists, names the same job settings, and
the output file exists with the byte size and SHA-256 recorded in it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MARKER_DIR",
    "BatchJob",
    "StackResult",
    "fuse_stack_task",
    "is_complete",
    "marker_path",
    "remove_stale_parts",
]

MARKER_DIR = ".mffgui-batch"
"""Sub-folder of the output folder holding one completeness marker per finished stack."""

_THREADS_SET: list[int] = []


@dataclass(frozen=True)
class BatchJob:
    """The settings shared by every stack of a batch (picklable; shipped to the workers).

    Attributes
    ----------
    method : str or None
        Registered method name; ``None`` = the registry's default.
    sets : tuple of (str, str)
        Method parameters as ``--set KEY=VALUE`` pairs.
    device, weights : str or None
        ``--device`` / ``--weights`` of network methods.
    align : str
        ``"off"``, ``"auto"`` or an alignment model of :data:`mffgui.core.align.MODELS`
        (:data:`mffgui.core.align_auto.ALIGN_MODES`; ``"none"`` means ``"off"``).
    align_interpolation : str
        Resampling kernel of the alignment.
    align_crop : bool
        Crop the aligned stack to the area every frame covers.
    bit_depth : int or None
        8 or 16 bits per sample; ``None`` = the input's (JPEG: 8).
    quality : int
        JPEG quality 1..100.
    fmt : str
        Output format / extension without dot: ``png``, ``tif`` or ``jpg``.
    maps_dir : str or None
        Also write the index, decision and focus maps into this folder.
    threads : int
        OpenCV threads per task (0 = leave OpenCV's default); the Dask engine sets it to
        ``--threads-per-worker`` so worker processes do not oversubscribe the cores.
    """

    method: str | None = None
    sets: tuple[tuple[str, str], ...] = ()
    device: str | None = None
    weights: str | None = None
    align: str = "auto"
    align_interpolation: str = "linear"
    align_crop: bool = True
    bit_depth: int | None = None
    quality: int = 95
    fmt: str = "png"
    maps_dir: str | None = None
    threads: int = 0

    def method_name(self) -> str:
        """The method this job runs (the registry default when :attr:`method` is ``None``)."""
        from mffgui.methods.registry import default_method_name

        return (self.method or default_method_name()).lower()

    def signature(self) -> str:
        """A short hash of every setting that changes the output bytes (not ``threads``)."""
        d = dataclasses.asdict(self)
        d.pop("threads")
        d["method"] = self.method_name()
        d["weights"] = str(Path(self.weights).expanduser().resolve()) if self.weights else None
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def build(self) -> tuple[Any, Any]:
        """The method instance and its validated Params (raises ``MffError`` when invalid)."""
        from mffgui.pipeline import build_params

        return build_params(self.method_name(), dict(self.sets), self.device, self.weights)


@dataclass
class StackResult:
    """The outcome of one stack (one row of ``batch-report.csv``).

    Attributes
    ----------
    stack : str
        The stack's name (its folder name).
    input : str
        The stack's folder.
    status : str
        ``"done"``, ``"failed"``, ``"skipped"`` (``--resume``: already complete), ``"cancelled"``
        or ``"queued"`` / ``"running"`` (only while a batch runs).
    frames : int
        Frames fused (after alignment excluded any); 0 when unknown.
    width, height : int
        Output size in pixels; 0 when unknown.
    method : str
        Method name.
    alignment : str
        ``"none"`` or ``"<model>: <k> of <n> frames"``.
    seconds : float
        Wall time of the task on its worker (read + align + fuse + export).
    output : str
        The written image ("" when none).
    error : str
        The error message of a failed stack.
    worker : str
        ``host:pid`` of the process that ran it.
    notes : list of str
        Reader and alignment notes.
    """

    stack: str
    input: str
    status: str = "queued"
    frames: int = 0
    width: int = 0
    height: int = 0
    method: str = ""
    alignment: str = "none"
    seconds: float = 0.0
    output: str = ""
    error: str = ""
    worker: str = ""
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The report row (``notes`` joined with ``"; "``)."""
        d = dataclasses.asdict(self)
        d["notes"] = "; ".join(self.notes)
        d["size"] = f"{self.width}x{self.height}" if self.width else ""
        d["seconds"] = round(self.seconds, 3)
        return d


def marker_path(output: str | os.PathLike[str]) -> Path:
    """The completeness marker of ``output``: ``<folder>/.mffgui-batch/<name>.json``."""
    p = Path(output)
    return p.parent / MARKER_DIR / f"{p.name}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    from mffgui.io.atomic import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data, indent=1, suffix=".part")


def is_complete(output: str | os.PathLike[str], job: BatchJob) -> StackResult | None:
    """The recorded result of ``output`` when it is complete for ``job``, else ``None``.

    Complete: its marker exists and parses, was written for the same :meth:`BatchJob.signature`,
    and ``output`` exists with the recorded byte size and SHA-256 (so a file replaced, truncated
    or left from other settings is fused again).
    """
    out = Path(output)
    try:
        rec = json.loads(marker_path(out).read_text(encoding="utf-8"))
        if rec.get("job") != job.signature() or not out.is_file():
            return None
        if out.stat().st_size != rec["bytes"] or _sha256(out) != rec["sha256"]:
            return None
        res = StackResult(**rec["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    res.status = "skipped"
    res.seconds = 0.0
    return res


def remove_stale_parts(out_dir: str | os.PathLike[str], names: list[str]) -> list[Path]:
    """Delete temporary files a killed worker left behind for the outputs ``names``.

    The atomic writers name their temporary files ``.<stem>.<random>.part<ext>``; they never
    carry an output's name, but a worker killed mid-write cannot remove its own.
    """
    folder = Path(out_dir)
    removed = []
    stems = {Path(n).stem for n in names}
    for p in [*folder.glob(".*.part*"), *(folder / MARKER_DIR).glob(".*.part")]:
        stem = p.name[1:].split(".", 1)[0]
        if stem in stems or p.parent.name == MARKER_DIR:
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _set_threads(n: int) -> None:
    if n > 0 and _THREADS_SET != [n]:
        import cv2

        cv2.setNumThreads(n)
        _THREADS_SET[:] = [n]


def fuse_stack_task(job: BatchJob, stack_dir: str, output: str) -> StackResult:
    """Read, align, fuse and export the stack in ``stack_dir`` to ``output`` (runs on a worker).

    Parameters
    ----------
    job : BatchJob
        The batch's settings.
    stack_dir : str
        The stack's folder, as the worker sees it.
    output : str
        The image to write (``.png``, ``.tif`` or ``.jpg``), as the worker sees it.

    Returns
    -------
    StackResult
        ``status`` is ``"done"`` or ``"failed"`` (with ``error``); errors a user can cause
        (:class:`~mffgui.errors.MffError`, ``OSError``) are returned, not raised. Anything else
        (a bug, ``MemoryError``) propagates so the scheduler retries the task.

    Notes
    -----
    Network methods keep their model in a module-level cache of the worker process (see
    :mod:`mffgui.methods.gacn`, :mod:`mffgui.methods.fusion2void`), so a worker loads the
    weights once and reuses them for every stack it fuses; ``device`` auto picks the worker's GPU.
    """
    from mffgui.errors import MffError

    t0 = time.perf_counter()
    name = Path(stack_dir).name
    res = StackResult(
        stack=name,
        input=str(stack_dir),
        method=job.method_name(),
        worker=_where(),
        status="running",
    )
    try:
        _set_threads(job.threads)
        _run(job, Path(stack_dir), Path(output), res)
        res.status = "done"
    except (MffError, OSError) as err:
        res.status = "failed"
        res.error = str(err) if isinstance(err, MffError) else f"{type(err).__name__}: {err}"
        res.output = ""
    res.seconds = time.perf_counter() - t0
    if res.status == "done":
        out = Path(output)
        rec = {
            "job": job.signature(),
            "bytes": out.stat().st_size,
            "sha256": _sha256(out),
            "result": dataclasses.asdict(res),
        }
        _write_json_atomic(marker_path(out), rec)
    return res


def _run(job: BatchJob, stack_dir: Path, out: Path, res: StackResult) -> None:
    from mffgui.errors import ExportError
    from mffgui.io.writers import check_export_target, export_format, write_image, write_maps
    from mffgui.pipeline import AlignSettings, fuse_files

    if export_format(out) == "JPEG" and job.bit_depth == 16:
        raise ExportError("JPEG stores 8 bits only; use .png or .tif for 16 bits", out)
    method, params = job.build()

    def on_read(stack: Any) -> None:
        res.notes.extend(stack.notes)
        check_export_target(out, [m.path for m in stack.metas])

    fused = fuse_files(
        [stack_dir],
        method,
        params,
        align=AlignSettings(job.align, job.align_interpolation, job.align_crop),
        on_read=on_read,
    )
    stack, result, report = fused.stack, fused.result, fused.report
    if report.align is not None and report.align.aligned:
        res.notes.extend(f"excluded: {m}" for m in report.alignment_messages)
        res.alignment = f"{report.align.model}: {len(stack)} of {report.frames_read} frames"
    elif report.align_summary:
        res.alignment = report.align_summary
    res.frames = len(stack)
    res.height, res.width = stack.shape
    sources = [m.path for m in stack.metas if m.path is not None]
    depth = job.bit_depth if job.bit_depth is not None else stack.bit_depth
    if export_format(out) == "JPEG":
        depth = 8
    write_image(
        out,
        result.fused,
        bit_depth=depth,
        quality=job.quality,
        meta=stack.metas[0],
        sources=sources,
    )
    if job.maps_dir:
        maps = Path(job.maps_dir)
        maps.mkdir(parents=True, exist_ok=True)
        write_maps(result, maps, out.stem, sources=sources)
    res.output = str(out)
