"""Progress reporting and cooperative cancellation shared by every long computation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from mffgui.errors import Cancelled


class ProgressFn(Protocol):
    """Callback ``progress(done, total, stage)``; ``stage`` is short text for the user."""

    def __call__(self, done: float, total: float, stage: str = "") -> None: ...


def noop_progress(done: float, total: float, stage: str = "") -> None:
    """Progress callback that ignores everything."""


class CancelToken:
    """Thread-safe cancel flag, checked by core code between frames, levels and tiles."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the running work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~mffgui.errors.Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


class _NeverCancelled(CancelToken):
    def cancel(self) -> None:  # pragma: no cover - guard against misuse
        raise RuntimeError("NEVER cannot be cancelled; create a CancelToken()")


NEVER: CancelToken = _NeverCancelled()
"""A token that is never cancelled (the default for callers that cannot cancel)."""


def scaled(progress: ProgressFn, start: float, span: float, total: float = 1.0) -> ProgressFn:
    """Map a sub-task's progress ``[0, total]`` into ``[start, start + span]`` of a 0..1 scale."""

    outer_total = total

    def _p(done: float, total: float, stage: str = "") -> None:
        frac = done / total if total else 1.0
        progress(start + span * frac, outer_total, stage)

    return _p


ProgressCallable = Callable[[float, float, str], None]
