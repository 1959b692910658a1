"""The one atomic file writer of mffgui: a temporary file in the target folder, then a rename.

Every file mffgui writes for the user or for itself (image exports, maps, settings, projects,
presets, reports, batch markers, checkpoints, the weights index and library, alignment
transforms) goes through :func:`atomic_write`:

* the temporary file ``.<name>.tmp-<pid>-<random><suffix>`` is made in the target's folder (so
  the rename never crosses file systems), written, flushed and ``fsync``-ed;
* it gets the permissions a normal new file gets (``0666`` less the umask, e.g. ``0644``;
  :func:`tempfile.mkstemp` alone would leave ``0600``);
* :func:`os.replace` puts it in place: a reader sees the old file or the new one, never half;
* on *any* error or interruption (``KeyboardInterrupt`` too) the temporary is removed and the
  old file is left untouched; a writer killed outright (SIGKILL) leaves at most its hidden
  temporary, whose name carries its process id (see :func:`temporaries_of`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write",
    "temporaries_of",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
"""The process umask, read once at import (reading it means setting it: not thread-safe)."""


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[Path], object], *, suffix: str = ""
) -> Path:
    """Create or replace ``path`` atomically with what ``write(tmp)`` puts into ``tmp``.

    Parameters
    ----------
    path : str or PathLike
        The file to create or replace; its folder must exist.
    write : callable
        Called once with the temporary file's path (an existing, empty file in the same
        folder); it writes the whole content there (an encoder, ``torch.save``, a copy ...).
    suffix : str
        End of the temporary file's name: e.g. ``".part.png"`` where an encoder picks the
        format from the extension, ``".part"`` for files the batch engine sweeps.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        The folder is missing or not writable, or the write or rename failed (nothing partial
        is left behind); anything ``write`` raises propagates the same way.
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{p.name}.tmp-{os.getpid()}-", suffix=suffix, dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(folder)
    return p


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, suffix: str = "") -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns its path."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), suffix=suffix)


def write_text_atomic(path: str | os.PathLike[str], text: str, suffix: str = "") -> Path:
    """Write a UTF-8 text file atomically (see :func:`atomic_write`); returns its path.

    Newlines are written as given (no translation).
    """
    return write_bytes_atomic(path, text.encode("utf-8"), suffix=suffix)


def write_json_atomic(
    path: str | os.PathLike[str],
    data: Any,
    *,
    indent: int | None = 2,
    default: Callable[[Any], Any] | None = None,
    suffix: str = "",
) -> Path:
    """Write ``data`` as UTF-8 JSON (a final newline) atomically; returns its path."""
    text = json.dumps(data, indent=indent, default=default) + "\n"
    return write_text_atomic(path, text, suffix=suffix)


def temporaries_of(path: str | os.PathLike[str]) -> list[tuple[Path, int | None]]:
    """The temporaries :func:`atomic_write` left beside ``path``, with their writer's pid.

    ``pid`` is ``None`` when the name carries none. Callers remove those whose writer is gone.
    """
    p = Path(path)
    out = []
    for tmp in p.parent.glob(f".{p.name}.tmp-*"):
        head = tmp.name[len(p.name) + len(".tmp-") + 1 :].split("-", 1)[0]
        out.append((tmp, int(head) if head.isdigit() else None))
    return out
