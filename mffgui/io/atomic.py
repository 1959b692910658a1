"""Atomic text files: a temporary file in the target folder, then a rename.

A reader never sees a half-written file, and a writer killed mid-write leaves at most a hidden
``.<name>.*.tmp`` temporary, never a partial file under the target's name. Image exports have
their own encoder-aware variant in :mod:`mffgui.io.writers`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike[str], text: str, suffix: str = ".tmp") -> Path:
    """Write a UTF-8 text file atomically, mode 0644; returns its path.

    ``suffix`` ends the temporary file's name (the batch engine sweeps ``*.part`` leftovers of
    killed workers).

    Raises
    ------
    OSError
        When the folder is missing or not writable (nothing partial is left behind).
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p
