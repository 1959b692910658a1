"""Turn files and folders into a validated, lazily read :class:`~mffgui.types.Stack`.

:func:`discover` expands folders (not recursively), natural-sorts (``img2`` before ``img10``),
de-duplicates, expands multi-page TIFFs into their pages, skips and reports non-image files and
sets aside ground-truth images (``*groundtruth*``). :func:`read_stack` probes every header up front
(cheap), validates the frames (count, size, channels) and returns a stack whose frames are
decoded from disk on demand, so memory does not grow with the number of frames.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mffgui.errors import CorruptImage, StackMismatch, TooFewImages, UnsupportedImage
from mffgui.io.readers import probe, read_gray_reduced, read_image, sniff_format
from mffgui.types import ImageMeta, Stack

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "Discovery",
    "discover",
    "is_ground_truth",
    "natural_key",
    "read_stack",
]

DEFAULT_CACHE_BYTES = 256 * 2**20
"""Decoded frames a stack keeps in memory by default (bounded, so memory stays flat in N)."""

_GROUND_TRUTH = re.compile(r"ground[ _-]?truth", re.IGNORECASE)
_DIGITS = re.compile(r"(\d+)")


def natural_key(s: str | os.PathLike[str]) -> tuple[tuple[int, int | str], ...]:
    """Sort key ordering digit runs by value: ``img2`` < ``img10``; case-insensitive."""
    parts = _DIGITS.split(os.fspath(s))
    return tuple((0, int(p)) if p.isdigit() else (1, p.casefold()) for p in parts if p)


@dataclass
class Discovery:
    """What :func:`discover` found.

    Attributes
    ----------
    frames : list of (Path, int or None)
        Input frames in stack order: file and page (``None`` for single-frame files).
    metas : list of ImageMeta
        Header information per frame (same order as ``frames``).
    skipped : list of (Path, str)
        Files of the given folders that are not read, with the reason.
    ground_truth : list of Path
        Images whose name contains "groundtruth"; excluded from the inputs.
    folders : list of Path
        The folders that were searched.
    """

    frames: list[tuple[Path, int | None]] = field(default_factory=list)
    metas: list[ImageMeta] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    ground_truth: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        """Distinct input files in order."""
        seen: dict[Path, None] = {}
        for p, _ in self.frames:
            seen.setdefault(p, None)
        return list(seen)

    def notes(self) -> list[str]:
        """Human-readable notes about skipped files and ground truth."""
        out = [f"skipped {p.name}: {why}" for p, why in self.skipped]
        out += [
            f"{p.name} is a ground-truth image, not an input; set aside" for p in self.ground_truth
        ]
        return out


def is_ground_truth(p: Path) -> bool:
    """Whether ``p`` is named as a ground-truth image (``ground truth``, ``ground_truth`` ...)."""
    return bool(_GROUND_TRUTH.search(p.stem))


def discover(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, sort: bool = True
) -> Discovery:
    """Expand files and folders into the frames of one stack.

    Parameters
    ----------
    paths : path or iterable of paths
        Image files, folders of images, or a mixture.
    sort : bool
        Natural-sort the frames by path (default). With ``False`` the given order is kept
        (a folder's files are still natural-sorted among themselves).

    Returns
    -------
    Discovery
        Frames with their headers, skipped files and ground-truth images.

    Raises
    ------
    UnsupportedImage
        A file given explicitly that is missing or not a readable image.
    CorruptImage
        An image whose header is damaged or empty.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found = Discovery()
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found.folders.append(p)
            for entry in sorted(p.iterdir(), key=lambda e: natural_key(e.name)):
                if entry.name.startswith("."):
                    continue  # hidden files: .DS_Store, AppleDouble ._*, editor backups
                if entry.is_dir():
                    found.skipped.append(
                        (
                            entry,
                            "sub-folder, not searched (use --batch for one stack per sub-folder)",
                        )
                    )
                    continue
                try:
                    fmt = sniff_format(entry)
                except (CorruptImage, UnsupportedImage) as err:
                    found.skipped.append((entry, err.message))
                    continue
                if fmt is None:
                    found.skipped.append((entry, "not an image file"))
                    continue
                files.append(entry)
        elif p.exists():
            files.append(p)
        else:
            raise UnsupportedImage("file or folder not found", p)
    # De-duplicate by resolved path, keeping the first occurrence.
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    ordered = list(unique.values())
    if sort:
        ordered.sort(key=lambda f: natural_key(str(f)))
    for f in ordered:
        if is_ground_truth(f):
            found.ground_truth.append(f)
            continue
        for meta in probe(f):
            found.frames.append((f, meta.page))
            found.metas.append(meta)
    return found


def _describe_sources(disc: Discovery) -> str:
    if disc.folders and not disc.files:
        return "no images found in " + ", ".join(str(f) for f in disc.folders)
    if disc.frames:
        names = ", ".join(m.name for m in disc.metas)
        return f"only one image ({names})"
    return "no images given"


def _check_sizes(metas: Sequence[ImageMeta]) -> None:
    sizes: dict[tuple[int, int], list[str]] = {}
    for m in metas:
        sizes.setdefault((m.width, m.height), []).append(m.name)
    if len(sizes) <= 1:
        return
    common = max(sizes, key=lambda k: len(sizes[k]))
    lines = []
    for (w, h), names in sorted(sizes.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        lines.append(f"  {w}x{h}: {shown}")
    odd = next(m for m in metas if (m.width, m.height) != common)
    raise StackMismatch(
        "frames of one stack must have the same size, but they differ:\n"
        + "\n".join(lines)
        + "\nCrop or resize them to one size first; alignment (mffgui align, or Align in the "
        "app) then corrects shifts and scale changes between frames.",
        odd.path,
    )


def read_stack(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | Discovery,
    *,
    sort: bool = True,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    mixed_sizes: bool = False,
    raw: str = "srgb",
) -> Stack:
    """Read and validate a focus stack from files and/or folders.

    Parameters
    ----------
    paths : path, iterable of paths, or Discovery
        What to read (see :func:`discover`), or the result of an earlier :func:`discover`.
    sort : bool
        Natural-sort the frames by path (see :func:`discover`).
    cache_bytes : int
        Decoded frames kept in memory, at most this many bytes (0 = decode on every access).
    mixed_sizes : bool
        Accept frames of different sizes (to be aligned onto one frame's size, see
        :func:`mffgui.core.align_auto.align_for_fusion`); otherwise they are an error.
    raw : {"srgb", "linear"}
        Tone curve of camera RAW/DNG frames (:func:`mffgui.io.raw.read_raw`).

    Returns
    -------
    Stack
        Lazy stack; ``stack.frame(i)`` is ``(H, W, C)`` float32 in ``[0, 1]``. ``stack.notes``
        reports skipped files, ground truth set aside and conversions (gray promoted to colour,
        alpha dropped, mixed bit depths).

    Raises
    ------
    TooFewImages
        Fewer than two frames (including an empty folder).
    StackMismatch
        Frames of different sizes (the message lists the sizes per file), unless
        ``mixed_sizes``.
    UnsupportedImage, CorruptImage
        A file that is not a readable image.
    """
    disc = paths if isinstance(paths, Discovery) else discover(paths, sort=sort)
    metas = list(disc.metas)
    notes = disc.notes()
    if len(metas) < 2:
        where = (
            disc.folders[0]
            if disc.folders and not disc.files
            else (metas[0].path if metas else None)
        )
        extra = ""
        if disc.skipped:
            extra = f"; skipped {len(disc.skipped)} non-image file(s)"
        if disc.ground_truth:
            extra += f"; set aside ground truth {', '.join(p.name for p in disc.ground_truth)}"
        raise TooFewImages(
            f"a focus stack needs at least two images, found {_describe_sources(disc)}{extra}",
            where,
        )
    if not mixed_sizes:
        _check_sizes(metas)
    for m in metas:
        for n in m.notes:
            notes.append(f"{m.name}: {n}")
    if len({m.channels for m in metas}) > 1:
        grays = [m.name for m in metas if m.channels == 1]
        notes.append(
            f"mixed gray and colour frames: {len(grays)} gray frame(s) promoted to colour "
            f"({', '.join(grays[:5])}{'...' if len(grays) > 5 else ''})"
        )
    if len({m.bit_depth for m in metas}) > 1:
        notes.append("mixed 8- and 16-bit frames: exports default to 16 bits")

    loaders = [
        _loader(path, page, meta, raw)
        for (path, page), meta in zip(disc.frames, metas, strict=True)
    ]
    reduced = [
        _reduced_loader(path, meta) for (path, _page), meta in zip(disc.frames, metas, strict=True)
    ]
    return Stack(loaders, metas, notes=notes, cache_bytes=cache_bytes, reduced=reduced)


def _reduced_loader(path: Path, meta: ImageMeta) -> Callable[[int], np.ndarray | None]:
    def load(factor: int) -> np.ndarray | None:
        return read_gray_reduced(path, factor, meta)

    return load


def _loader(
    path: Path, page: int | None, meta: ImageMeta, raw: str = "srgb"
) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        img, now = read_image(path, page) if raw == "srgb" else read_image(path, page, raw=raw)
        if (now.width, now.height, now.channels) != (meta.width, meta.height, meta.channels):
            raise StackMismatch(
                f"the file changed on disk since it was opened (was {meta.width}x{meta.height}, "
                f"{meta.channels} channel(s); now {now.width}x{now.height}, {now.channels})",
                path,
            )
        return img

    return load
