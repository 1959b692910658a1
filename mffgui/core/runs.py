"""Generation numbers and cancel tokens of background requests, and the run state (Qt-free).

A window asks for background work as *requests*. Each request gets a new generation number and
its own :class:`~mffgui.core.progress.CancelToken`; starting a new one cancels the previous one,
and whatever comes back with an older generation number is dropped. :class:`Generation` is that
mechanism alone (overlays, region scores, difference images); :class:`RunTracker` adds the state
that the main window's fusion and the compare window's comparison show to the user. Both windows
use these classes, so the rules (what is stale, when a finished run counts as cancelled) exist
once.
"""

from __future__ import annotations

from typing import Literal

from mffgui.core.progress import CancelToken

RunState = Literal["idle", "running", "cancelling", "done", "cancelled", "failed"]
"""``idle`` before the first run; ``running`` / ``cancelling`` while one is in progress;
``done``, ``cancelled`` or ``failed`` once it ended."""


class Generation:
    """The generation number and cancel token of the newest request of one kind.

    Attributes
    ----------
    number : int
        Generation of the newest request (0: none yet).
    token : CancelToken or None
        Its cancel token while it is outstanding (``None`` once it has been answered).
    """

    def __init__(self) -> None:
        self.number = 0
        self.token: CancelToken | None = None

    def next(self) -> tuple[int, CancelToken]:
        """Cancel the outstanding request and open a new one; returns its number and token."""
        self.cancel()
        self.number += 1
        self.token = CancelToken()
        return self.number, self.token

    def invalidate(self) -> None:
        """Cancel the outstanding request and drop whatever any earlier request still sends."""
        self.cancel()
        self.token = None
        self.number += 1

    def is_current(self, generation: int) -> bool:
        """Whether ``generation`` is the newest request (an answer to anything else is stale)."""
        return generation == self.number

    def answer(self, generation: int) -> bool:
        """Take the answer of request ``generation``: True (and the request is done) when it is
        the newest one, False when it is stale and must be dropped."""
        if generation != self.number:
            return False
        self.token = None
        return True

    @property
    def pending(self) -> bool:
        """Whether the newest request has not been answered yet."""
        return self.token is not None

    def cancel(self) -> None:
        """Ask the outstanding request to stop (it stays the newest one)."""
        if self.token is not None:
            self.token.cancel()


class RunTracker:
    """A :class:`Generation` plus the state of the run it belongs to.

    The window calls :meth:`start` for a new run, :meth:`cancel` for the user's Cancel, and
    :meth:`finish`, :meth:`fail` or :meth:`cancelled` when the worker reports; each of those
    returns whether the report belongs to the newest run (a stale one changes nothing).
    """

    def __init__(self) -> None:
        self.requests = Generation()
        self.state: RunState = "idle"

    @property
    def generation(self) -> int:
        """Generation number of the newest run."""
        return self.requests.number

    @property
    def next_generation(self) -> int:
        """The number :meth:`start` will give the next run."""
        return self.requests.number + 1

    @property
    def running(self) -> bool:
        """Whether the newest run is in progress (``running`` or ``cancelling``)."""
        return self.state in ("running", "cancelling")

    def start(self) -> tuple[int, CancelToken]:
        """A new run: the previous one is cancelled; returns the generation and cancel token."""
        gen, token = self.requests.next()
        self.state = "running"
        return gen, token

    def cancel(self) -> bool:
        """The user's Cancel: returns True when a running run was asked to stop."""
        if self.requests.token is None or self.state != "running":
            return False
        self.requests.token.cancel()
        self.state = "cancelling"
        return True

    def accepts_progress(self, generation: int) -> bool:
        """Whether a progress report of ``generation`` should be shown."""
        return self.requests.is_current(generation) and self.running

    def finish(self, generation: int) -> RunState | None:
        """The worker delivered its result: ``"done"``, or ``"cancelled"`` when the user had
        cancelled in the meantime (the result is then discarded); ``None`` when stale."""
        if not self.requests.is_current(generation):
            return None
        token = self.requests.token
        self.state = "cancelled" if token is not None and token.cancelled else "done"
        self.requests.token = None
        return self.state

    def fail(self, generation: int) -> bool:
        """The worker failed: the state becomes ``failed`` (False when stale)."""
        return self._end(generation, "failed")

    def cancelled(self, generation: int) -> bool:
        """The worker stopped on the cancel token: ``cancelled`` (False when stale)."""
        return self._end(generation, "cancelled")

    def _end(self, generation: int, state: RunState) -> bool:
        if not self.requests.answer(generation):
            return False
        self.state = state
        return True

    def shutdown(self) -> None:
        """Cancel the newest run, whatever its state (window close)."""
        self.requests.cancel()


__all__ = ["Generation", "RunState", "RunTracker"]
