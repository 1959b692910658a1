"""Shared fixtures: the ``../shared`` data folder (skipped when absent) and headless Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared")).resolve()


def shared_path(*parts: str) -> Path:
    """Path under ``../shared``; skips the calling test with a reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data not available: {p} (only in the project's CI checkout)")
    return p


@pytest.fixture
def shared() -> Path:
    """The ``../shared`` folder; skips when it is absent (a user's clone)."""
    return shared_path()
