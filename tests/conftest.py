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


class _InlinePool:
    """A ``ThreadPoolExecutor`` stand-in that runs each task at once, in the caller."""

    def __init__(self, *_args, **_kwargs) -> None:
        pass

    def __enter__(self) -> _InlinePool:
        return self

    def __exit__(self, *_exc) -> None:
        return None

    def submit(self, fn, *args):
        from concurrent.futures import Future

        done: Future = Future()
        done.set_result(fn(*args))
        return done


@pytest.fixture
def inline_read_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streaming methods read the next frame in the caller instead of a read-ahead thread.

    Whether the thread's next frame is decoded at the moment of the traced peak varies from run
    to run (one image); memory tests that compare peaks need the same schedule every run.
    """
    from mffgui.methods import classical

    monkeypatch.setattr(classical, "ThreadPoolExecutor", _InlinePool)
