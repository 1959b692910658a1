"""Locate the bundled ``resources/`` folder (sample stack, weights, icons)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources`` folder beside the package (source checkout / editable install)."""
    here = Path(__file__).resolve().parent.parent / "resources"
    if here.is_dir():
        return here
    alt = Path(sys.prefix) / "share" / "mffgui" / "resources"
    return alt if alt.is_dir() else here


def sample_stack_dir() -> Path:
    """Folder of the bundled sample focus stack."""
    return resources_dir() / "samples" / "sample-stack"


def weights_dir() -> Path:
    """Folder of the bundled network weights and ``weights.json``."""
    return resources_dir() / "weights"
