"""Project files: a stack, its alignment, method and parameters, and retouching strokes (JSON).

Qt-free. Paths are stored both relative to the project file (so a project moves with its
images) and absolute; loading prefers the relative one when it exists.

Format (``"format": "mffgui-project"``, ``"version": 1``)::

    {"sources": [{"path": "img_1.png", "abs_path": "/…/img_1.png", "page": null,
                  "included": true}, …],
     "alignment": {"model": "", "interpolation": "linear", "crop": true},
     "method": "depthmap", "params": {"name": value, …}, "channel": "sum",
     "retouch": {"frames": [{"path": …, "abs_path": …, "page": null}, …],
                 "strokes": [{"source": 0, "radius": 10, "hardness": 1, "opacity": 1,
                              "points": [[x, y], …]}, …]}}

``retouch.frames`` is the fused stack the stroke ``source`` indices refer to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mffgui.core.retouch import Stroke
from mffgui.errors import MffError
from mffgui.io.atomic import write_json_atomic

FORMAT = "mffgui-project"
VERSION = 1
SUFFIX = ".mffproj"

FrameKey = tuple[Path | None, int | None]


@dataclass
class ProjectSource:
    """One frame of the source list."""

    path: Path
    page: int | None = None
    included: bool = True

    @property
    def key(self) -> tuple[Path, int | None]:
        """``(path, page)``."""
        return (self.path, self.page)


@dataclass
class Project:
    """Everything needed to redo a fusion and its retouching.

    Attributes
    ----------
    sources : list of ProjectSource
        In list order.
    method : str
        Registry name of the method.
    params : dict
        Parameter values of that method (JSON types; paths as strings).
    align, align_interpolation, align_crop
        Alignment choice (``align = ""``: none).
    frames : list of (Path, int or None)
        The fused stack the strokes' ``source`` indices refer to.
    strokes : list of Stroke
        In painting order.
    channel : str
        Guide channel of a multi-channel stack: ``"sum"`` or a 1-based number (files written
        before it existed read as ``"sum"``).
    """

    sources: list[ProjectSource] = field(default_factory=list)
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    align: str = ""
    align_interpolation: str = "linear"
    align_crop: bool = True
    frames: list[FrameKey] = field(default_factory=list)
    strokes: list[Stroke] = field(default_factory=list)
    channel: str = "sum"


def _jsonable(v: Any) -> Any:
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    return str(v)


def _path_entry(path: Path | None, page: int | None, folder: Path) -> dict[str, Any]:
    if path is None:
        return {"path": None, "abs_path": None, "page": page}
    ap = Path(path).absolute()
    try:
        rel = os.path.relpath(ap, folder)
    except ValueError:  # another drive on Windows
        rel = str(ap)
    return {"path": Path(rel).as_posix(), "abs_path": str(ap), "page": page}


def _resolve(entry: dict[str, Any], folder: Path) -> Path | None:
    rel, ab = entry.get("path"), entry.get("abs_path")
    if rel is None and ab is None:
        return None
    if rel is not None:
        cand = folder / rel
        if cand.exists():
            return Path(os.path.normpath(cand))
    return Path(ab) if ab is not None else Path(os.path.normpath(folder / rel))


def project_to_json(project: Project, folder: Path) -> dict[str, Any]:
    """The JSON document of ``project`` saved in ``folder``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "sources": [
            {**_path_entry(s.path, s.page, folder), "included": bool(s.included)}
            for s in project.sources
        ],
        "alignment": {
            "model": project.align,
            "interpolation": project.align_interpolation,
            "crop": bool(project.align_crop),
        },
        "method": project.method,
        "params": {k: _jsonable(v) for k, v in project.params.items()},
        "channel": project.channel,
        "retouch": {
            "frames": [_path_entry(p, page, folder) for p, page in project.frames],
            "strokes": [s.to_json() for s in project.strokes],
        },
    }


def project_from_json(doc: dict[str, Any], folder: Path) -> Project:
    """Parse a project document (paths resolved against ``folder``).

    Raises
    ------
    ValueError, KeyError, TypeError
        Malformed content.
    """
    if doc.get("format") != FORMAT:
        raise ValueError(f"not an mffgui project (format {doc.get('format')!r})")
    if int(doc.get("version", 0)) > VERSION:
        raise ValueError(
            f"project version {doc['version']} is newer than this mffgui understands ({VERSION})"
        )
    sources = []
    for e in doc.get("sources", []):
        p = _resolve(e, folder)
        if p is None:
            raise ValueError("a source has no path")
        page = e.get("page")
        sources.append(
            ProjectSource(p, None if page is None else int(page), bool(e.get("included", True)))
        )
    al = doc.get("alignment", {}) or {}
    rt = doc.get("retouch", {}) or {}
    frames = []
    for e in rt.get("frames", []):
        page = e.get("page")
        frames.append((_resolve(e, folder), None if page is None else int(page)))
    strokes = [Stroke.from_json(s) for s in rt.get("strokes", [])]
    return Project(
        sources,
        str(doc.get("method", "")),
        dict(doc.get("params", {}) or {}),
        str(al.get("model", "") or ""),
        str(al.get("interpolation", "linear")),
        bool(al.get("crop", True)),
        frames,
        strokes,
        str(doc.get("channel", "sum") or "sum"),
    )


def save_project(project: Project, path: str | Path) -> Path:
    """Write ``project`` to ``path`` (atomically: a temporary file, then renamed).

    Raises
    ------
    MffError
        The file cannot be written (the message names it).
    """
    path = Path(path)
    doc = project_to_json(project, path.absolute().parent)
    try:
        write_json_atomic(path, doc, indent=1)
    except OSError as err:
        raise MffError(f"{path}: cannot save the project: {err.strerror or err}") from err
    return path


def load_project(path: str | Path) -> Project:
    """Read a project file.

    Raises
    ------
    MffError
        Missing, unreadable or malformed file (the message names it).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return project_from_json(doc, path.absolute().parent)
    except OSError as err:
        raise MffError(f"{path}: cannot read the project: {err.strerror or err}") from err
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise MffError(f"{path}: not a valid mffgui project: {err}") from err
