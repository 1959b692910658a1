"""Running plain functions on Qt threads: one thin worker, the runner that owns the threads,
the mailbox results cross threads through, and the exit of abandoned threads.

:class:`TaskWorker` runs ``fn(progress, cancel)`` once in a ``QThread`` and turns its outcome
into signals carrying only integers (:func:`post` / :func:`take`); :class:`TaskRunner` keeps
each thread alive until it has finished and cancels and waits on window close; a thread that
outlives the wait is kept until it ends or the interpreter exits (:func:`set_exit_status`).
Used by the main window's controller, the compare window and the Train dialog's preview; the
functions they run (fusion, export, thumbnails) are in :mod:`mffgui.gui.worker`.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import SIGNAL, QObject, QThread, Signal, Slot

from mffgui.core.progress import CancelToken
from mffgui.errors import Cancelled, MffError

log = logging.getLogger(__name__)

ProgressCb = Callable[[float, float, str], None]
"""``progress(done, total, stage)`` as the task functions receive it."""

_MAILBOX: dict[int, Any] = {}
_MAILBOX_LOCK = threading.Lock()
_MAILBOX_KEYS = itertools.count(1)


def post(obj: Any) -> int:
    """Leave ``obj`` for the GUI thread; returns the key to :func:`take` it with.

    Worker signals carry only this integer: Python objects are never marshalled through queued
    Qt connections (PySide6 has had reference-counting bugs there).
    """
    with _MAILBOX_LOCK:
        key = next(_MAILBOX_KEYS)
        _MAILBOX[key] = obj
    return key


def take(key: int) -> Any:
    """The object posted under ``key`` (removed from the mailbox; ``None`` if absent)."""
    with _MAILBOX_LOCK:
        return _MAILBOX.pop(key, None)


class TaskWorker(QObject):
    """Runs ``fn(progress, cancel)`` once on its own ``QThread`` and reports the outcome.

    Parameters
    ----------
    fn : callable
        ``fn(progress, cancel) -> object``; raises :class:`Cancelled` or :class:`MffError`.
    generation : int
        Passed back with every signal so the receiver can drop stale runs.
    cancel : CancelToken
        Shared with the controller, which sets it to cancel.
    label : str
        What the task does, used in the message of unexpected errors.
    """

    progressed = Signal(int, float, str)
    """generation, fraction done in [0, 1], stage text."""
    resultReady = Signal(int, int)
    """generation, mailbox key of the result (see :func:`take`)."""
    failed = Signal(int, str)
    cancelled = Signal(int)
    finished = Signal()

    def __init__(
        self,
        fn: Callable[[ProgressCb, CancelToken], Any],
        generation: int,
        cancel: CancelToken,
        label: str = "work",
    ) -> None:
        super().__init__()
        self._fn = fn
        self.generation = generation
        self.cancel = cancel
        self._label = label
        self._last_emit = 0.0
        self._last_stage = ""

    def _progress(self, done: float, total: float, stage: str = "") -> None:
        now = time.monotonic()
        # Throttle: the GUI needs ~20 updates a second, not one per tile.
        if stage == self._last_stage and now - self._last_emit < 0.05 and done < total:
            return
        self._last_emit, self._last_stage = now, stage
        frac = min(1.0, max(0.0, done / total)) if total else 0.0
        self.progressed.emit(self.generation, frac, stage)

    @Slot()
    def run(self) -> None:
        """Run the task (slot connected to ``QThread.started``)."""
        gen = self.generation
        try:
            self.cancel.raise_if_cancelled()
            out = self._fn(self._progress, self.cancel)
        except Cancelled:
            self.cancelled.emit(gen)
        except MffError as err:
            self.failed.emit(gen, str(err))
        except MemoryError:
            self.failed.emit(
                gen,
                f"Not enough memory for {self._label}; try fewer or smaller "
                "images, or a classical method.",
            )
        except Exception as err:
            log.exception("%s failed", self._label)
            self.failed.emit(gen, f"{self._label} failed: {type(err).__name__}: {err}")
        else:
            # Post only for a listener, which takes it: a result nobody receives (thumbnail
            # counts) would stay in the mailbox for good.
            if self.receivers(SIGNAL("resultReady(int,int)")) > 0:
                self.resultReady.emit(gen, post(out))
        finally:
            self.finished.emit()


class TaskRunner(QObject):
    """Owns the threads of running :class:`TaskWorker` s until each has finished.

    A thread object is kept alive until its ``finished`` signal, so no ``QThread`` is destroyed
    while running; :meth:`shutdown` cancels everything and waits (used on window close).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: dict[int, tuple[QThread, TaskWorker]] = {}
        self._next = 0

    def start(self, worker: TaskWorker) -> None:
        """Move ``worker`` to a new thread and start it; connect its signals first."""
        thread = QThread()
        key = self._next
        self._next += 1
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.finished.connect(thread.quit)
        thread.setObjectName(f"mffgui-task-{key}")
        thread.finished.connect(self._on_thread_finished)
        self._running[key] = (thread, worker)
        thread.start()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        for key, (t, _w) in list(self._running.items()):
            if t is thread or not t.isRunning():
                del self._running[key]

    @property
    def busy(self) -> bool:
        """Whether any task thread is still running."""
        return bool(self._running)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel all tasks and wait up to ``timeout_ms`` for their threads."""
        for _thread, worker in list(self._running.values()):
            worker.cancel.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        for thread, worker in list(self._running.values()):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            thread.quit()
            if not thread.wait(left):
                # Destroying a running QThread aborts the process; let it end on its own.
                _abandon(thread, worker)
        self._running.clear()


_ABANDONED: list[tuple[QThread, TaskWorker]] = []
"""Threads still running after :meth:`TaskRunner.shutdown` gave up on them (cancelled)."""

#: Extra time the interpreter's exit gives abandoned threads to end (see :func:`_at_exit`).
EXIT_GRACE_S = 2.0

_exit_status: int | None = None


def set_exit_status(code: int) -> None:
    """Record the application's exit status (``QApplication.exec()``'s result).

    :func:`_at_exit` ends the process with it when it has to cut abandoned threads short, so
    the status a caller sees is the application's own.
    """
    global _exit_status
    _exit_status = int(code)


def _abandon(thread: QThread, worker: TaskWorker) -> None:
    """Keep a cancelled thread that did not end in time (and its worker) alive until it ends."""
    _ABANDONED[:] = [e for e in _ABANDONED if e[0].isRunning()]
    if not _ABANDONED:
        atexit.unregister(_at_exit)
        atexit.register(_at_exit)
    log.warning(
        "%s did not stop within the shutdown time; leaving it to end on its own",
        thread.objectName(),
    )
    _ABANDONED.append((thread, worker))


def _at_exit() -> None:
    """Interpreter exit with abandoned threads: wait :data:`EXIT_GRACE_S`, then end the process.

    A task that ignores cancel (a long step of a method without cancel checks) can outlive the
    window. Left to the normal exit, Python and PySide destroy its running ``QThread``, and Qt
    aborts the process ("QThread: Destroyed while thread is still running"; exit status 134,
    a core dump). So when a thread is still running after the grace time, the streams are
    flushed and the process exits at once, which ends the thread like a daemon thread, with the
    status recorded by :func:`set_exit_status` (the app's ``main`` records ``exec()``'s); with
    none recorded (e.g. a test runner's process) it exits with status 1, never masking a
    failure as success.
    """
    deadline = time.monotonic() + EXIT_GRACE_S
    for thread, _worker in _ABANDONED:
        thread.wait(max(0, int((deadline - time.monotonic()) * 1000)))
    still = [thread.objectName() for thread, _worker in _ABANDONED if thread.isRunning()]
    if not still:
        _ABANDONED.clear()
        return
    code = 1 if _exit_status is None else _exit_status
    log.warning("%s still running at exit; ending the process (status %d)", ", ".join(still), code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
