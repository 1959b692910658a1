"""Alignment transforms on disk: ``mffgui align --save-transforms FILE``.

The format is :meth:`mffgui.core.align.AlignmentReport.to_dict` (read back by
:meth:`~mffgui.core.align.AlignmentReport.from_json`); the file is written atomically with the
permissions of a normal file (:mod:`mffgui.io.atomic`).
"""

from __future__ import annotations

import os
from pathlib import Path

from mffgui.core.align import AlignmentReport
from mffgui.errors import AlignmentError
from mffgui.io.atomic import write_json_atomic

__all__ = ["save_transforms"]


def save_transforms(report: AlignmentReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report``'s transforms as JSON to ``path``; returns the path.

    Raises
    ------
    AlignmentError
        When the file cannot be written (nothing partial is left behind).
    """
    p = Path(path)
    try:
        return write_json_atomic(p, report.to_dict())
    except OSError as err:
        raise AlignmentError(f"cannot write the transforms: {err.strerror or err}", p) from err
