"""The session's source frames (Qt-free): what the source list shows and the fusion reads.

:class:`Source` is one frame of the list (file, page, header, inclusion, problems, alignment
note); :func:`with_size_warnings` marks frames whose size differs from the others;
:func:`discover_tolerant` opens files and folders and keeps going past unreadable files. The
controller (:mod:`mffgui.gui.controller`) holds the list and emits the signals.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mffgui.errors import MffError
from mffgui.types import ImageMeta

if TYPE_CHECKING:
    from mffgui.core.align import AlignmentReport


@dataclass(frozen=True)
class AlignmentNote:
    """One frame's line of the alignment report, as the source list shows it.

    Attributes
    ----------
    status : str
        ``"reference"``, ``"ok"``, ``"failed"`` or ``"implausible"``.
    dx, dy : float
        Shift of the frame's centre onto the reference, in pixels.
    scale : float
        Scale onto the reference (1 = none).
    rotation_deg : float
        Rotation onto the reference, in degrees.
    correlation : float
        ECC correlation with the frame it was registered to (NaN when not measured).
    reason : str
        Why a failed or implausible frame was excluded (empty otherwise).
    model : str
        The motion model of the run.
    """

    status: str
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    rotation_deg: float = 0.0
    correlation: float = math.nan
    reason: str = ""
    model: str = ""

    @property
    def excluded(self) -> bool:
        """Whether the frame was left out of the fusion (failed or implausible)."""
        return self.status not in ("reference", "ok")

    @property
    def summary(self) -> str:
        """One short line: the transform and correlation, or the exclusion flag."""
        if self.excluded:
            return f"⚠ excluded: alignment {self.status}"
        if self.status == "reference":
            return "alignment reference"
        text = f"shift {self.dx:+.1f}, {self.dy:+.1f} px"
        if self.model != "translation":
            text += f" · ×{self.scale:.3f} · {self.rotation_deg:+.2f}°"
        if not math.isnan(self.correlation):
            text += f" · r {self.correlation:.3f}"
        return text

    @property
    def detail(self) -> str:
        """Tooltip text: the full report of the frame, with the reason for an exclusion."""
        if self.excluded:
            return (
                f"Alignment ({self.model}) {self.status}; excluded from the fusion: {self.reason}"
            )
        if self.status == "reference":
            return f"Alignment ({self.model}): the reference frame the others are aligned to"
        corr = "" if math.isnan(self.correlation) else f", correlation {self.correlation:.3f}"
        return (
            f"Alignment ({self.model}): shift {self.dx:+.2f}, {self.dy:+.2f} px, "
            f"scale {self.scale:.4f}, rotation {self.rotation_deg:+.3f}°{corr}"
        )

    @classmethod
    def from_report(cls, report: AlignmentReport, index: int) -> AlignmentNote:
        """The note of frame ``index`` of ``report``."""
        from mffgui.core.align_geometry import decompose

        f = report.frames[index]
        d = decompose(f.matrix, report.width, report.height)
        return cls(
            f.status, d.dx, d.dy, d.scale, d.rotation_deg, f.correlation, f.reason, report.model
        )


@dataclass(frozen=True)
class Source:
    """One frame in the source list.

    Attributes
    ----------
    id : int
        Stable identifier within the session (list rows move, ids do not).
    path : Path
        The file.
    page : int or None
        Page inside a multi-page file.
    meta : ImageMeta or None
        Header information; ``None`` when the file could not be read.
    included : bool
        Whether the frame takes part in the fusion.
    problem : str
        Why the file cannot be used (unreadable); such a source is never included.
    warning : str
        A problem that makes fusion fail unless fixed (e.g. a different size).
    alignment : AlignmentNote or None
        How the frame aligned in the last aligned fusion (``None``: not aligned).
    """

    id: int
    path: Path
    page: int | None = None
    meta: ImageMeta | None = None
    included: bool = True
    problem: str = ""
    warning: str = ""
    alignment: AlignmentNote | None = None

    @property
    def key(self) -> tuple[Path, int | None]:
        """``(path, page)``, the frame's identity in a read stack."""
        return (self.path, self.page)

    @property
    def name(self) -> str:
        """Display name (file name, ``[page]`` for pages)."""
        return f"{self.path.name} [{self.page + 1}]" if self.page is not None else self.path.name

    @property
    def usable(self) -> bool:
        """Included and readable."""
        return self.included and not self.problem


def with_size_warnings(sources: Sequence[Source], align: str) -> list[Source]:
    """``sources`` with ``warning`` set on the usable frames whose size differs from the most
    common size (and cleared elsewhere); the advice depends on the Align choice ``align``."""
    sizes = collections.Counter(
        (s.meta.width, s.meta.height) for s in sources if s.usable and s.meta
    )
    if not sizes:
        return [replace(s, warning="") for s in sources]
    (w0, h0), _ = sizes.most_common(1)[0]
    out = []
    for s in sources:
        warn = ""
        if s.meta and (s.meta.width, s.meta.height) != (w0, h0):
            warn = (
                f"size {s.meta.width}×{s.meta.height} differs from {w0}×{h0} of the "
                "other images; "
                + (
                    "Align resamples it onto the reference frame"
                    if align not in ("", "off")
                    else "exclude it, or turn Align on"
                )
            )
        out.append(replace(s, warning=warn))
    return out


def problem_text(err: MffError, path: Path) -> str:
    """The message of ``err`` without the leading path (the list item shows the name)."""
    msg = getattr(err, "message", None) or str(err)
    prefix = f"{path}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg


def discover_tolerant(
    paths: list[Path],
) -> tuple[
    list[tuple[tuple[Path, int | None], ImageMeta]],
    list[tuple[Path, str]],
    list[tuple[Path, MffError]],
]:
    """:func:`mffgui.io.discover` that keeps going past unreadable files.

    Returns
    -------
    frames : list of ((path, page), ImageMeta)
        Readable frames, natural-sorted as ``discover`` sorts them.
    skipped : list of (Path, str)
        Non-image files of the folders (and ground-truth images), with the reason.
    problems : list of (Path, MffError)
        Files that look like images but cannot be read.
    """
    from mffgui.io import discover, is_image_file, natural_key

    def run(inputs: list[Path]) -> tuple[list, list]:
        d = discover(inputs)
        gt = [(p, "ground-truth image, not an input") for p in d.ground_truth]
        return list(zip(d.frames, d.metas, strict=True)), list(d.skipped) + gt

    try:
        frames, skipped = run(paths)
        return frames, skipped, []
    except MffError:
        pass
    # Something in there is unreadable: go file by file so the rest still opens.
    frames, skipped, problems = [], [], []
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            for entry in sorted(p.iterdir(), key=lambda e: natural_key(e.name)):
                if entry.name.startswith(".") or entry.is_dir():
                    continue
                try:
                    image = is_image_file(entry)
                except MffError:
                    image = True  # looks like an image but is damaged: report it
                if image:
                    files.append(entry)
                else:
                    skipped.append((entry, "not an image file"))
        else:
            files.append(p)
    for f in files:
        try:
            fr, sk = run([f])
        except MffError as err:
            problems.append((f, err))
            continue
        frames += fr
        skipped += sk
    frames.sort(key=lambda item: natural_key(str(item[0][0])))
    return frames, skipped, problems


__all__ = [
    "AlignmentNote",
    "Source",
    "discover_tolerant",
    "problem_text",
    "with_size_warnings",
]
