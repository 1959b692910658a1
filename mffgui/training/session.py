"""A training run as the app sees it: settings -> command line -> events -> state (Qt-free).

:class:`TrainingSession` is the controller behind the Train dialog
(:mod:`mffgui.gui.training.dialog`). It builds the ``python -m mffgui.training`` command line
from :class:`RunSettings`, keeps the run's state (``idle``, ``running``, ``stopping``,
``stopped``, ``done``, ``failed``, ``crashed``), reads the trainer's stdout
(:func:`mffgui.training.events.parse_event`), computes progress, the time left and the
validation table, keeps the run's record in :func:`mffgui.user_weights.runs_dir` up to date,
and turns the exit of the process into a state and a message. The dialog only starts the
process, forwards its output here and renders what :meth:`TrainingSession.consume` returns
(an :class:`Update`).

Every network-specific constant of the dialog is in :data:`TRAINABLE_NETWORKS` (defined with
the settings, the command line and the dialog's texts in :mod:`mffgui.training.run_setup`;
re-exported here).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mffgui.errors import MffError
from mffgui.training import events as ev
from mffgui.training.run_setup import (
    TRAINABLE_NETWORKS,
    RunSettings,
    TrainableNetwork,
    command_args,
    data_hint,
    duration_text,
    source_folders,
    stack_network,
    stopped_message,
    task_defaults,
    trainable_network,
)
from mffgui.user_weights import (
    TrainingRun,
    WeightsEntry,
    WeightsLibrary,
    read_run,
    runs_dir,
    write_run_info,
)

__all__ = [
    "BUSY_STATES",
    "ENDED_STATES",
    "STATES",
    "TRAINABLE_NETWORKS",
    "RunSettings",
    "TrainableNetwork",
    "TrainingSession",
    "Update",
    "command_args",
    "data_hint",
    "duration_text",
    "source_folders",
    "stack_network",
    "stopped_message",
    "task_defaults",
    "trainable_network",
]

# -- the session --------------------------------------------------------------------------------

STATES = ("idle", "running", "stopping", "stopped", "done", "failed", "crashed")
"""Every state of a session."""
BUSY_STATES = ("running", "stopping")
"""States with a trainer process alive."""
ENDED_STATES = ("stopped", "crashed", "failed", "done")
"""States after the process ended (a run with a checkpoint can then be resumed)."""
_RECORDED = ("running", *ENDED_STATES)


@dataclass
class Update:
    """What the view shows after one event (``None``: leave as it is).

    Attributes
    ----------
    event : Event
    status : str, optional
        New status line.
    log : str, optional
        A line for the log view.
    loss_point : (int, float), optional
        ``(global_step, loss)`` for the loss curve.
    epoch_mark : int, optional
        Global step at which an epoch ended.
    metrics : bool
        The validation table changed (:meth:`TrainingSession.metrics_html`).
    preview : (str, int), optional
        ``(checkpoint, epoch)`` to preview.
    eta : str, optional
        New time-left text (``""`` clears it).
    """

    event: ev.Event
    status: str | None = None
    log: str | None = None
    loss_point: tuple[int, float] | None = None
    epoch_mark: int | None = None
    metrics: bool = False
    preview: tuple[str, int] | None = None
    eta: str | None = None


class TrainingSession:
    """One training run of the Train dialog, without Qt.

    Parameters
    ----------
    clock : callable
        Seconds (monotonic), for the time budget in the time left; tests pass a fake.

    Attributes
    ----------
    state : str
        One of :data:`STATES`.
    arch : str
        Network of the run.
    run_path : Path or None
        The run's resumable checkpoint (``--out``).
    record : TrainingRun or None
        The run's side file, written on every state change and checkpoint.
    events : list of Event
        Events of the run (of every invocation: start, resume, ...), in arrival order.
    loss_points : list of (int, float)
        ``(global_step, loss)`` of every step event.
    val_history : list of EpochEvent
    epoch, step : int
        Completed epochs, steps done in the current one.
    total_epochs, steps_per_epoch, global_step : int
    saved_entry_id : str
        Library id of the weights saved from the run.
    diverged : ErrorEvent or None
        The ``non-finite`` error of the last invocation.
    stderr_tail : list of str
        Last 20 non-blank lines the trainer wrote on stderr.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.state = "idle"
        self.arch = ""
        self.run_path: Path | None = None
        self.record: TrainingRun | None = None
        self.events: list[ev.Event] = []
        self.loss_points: list[tuple[int, float]] = []
        self.val_history: list[ev.EpochEvent] = []
        self.epoch = self.step = self.global_step = 0
        self.total_epochs = self.steps_per_epoch = 0
        self.saved_entry_id = ""
        self.diverged: ev.ErrorEvent | None = None
        self.stderr_tail: list[str] = []
        self.last_event = ""
        self.s_per_step = 0.0
        self.budget_s = 0.0
        self.started_at = 0.0
        self._stdout = b""

    # -- setting a run up ----------------------------------------------------------------------
    @property
    def has_checkpoint(self) -> bool:
        """Whether the run has a checkpoint on disk (to resume or save)."""
        return self.run_path is not None and self.run_path.is_file()

    @property
    def busy(self) -> bool:
        """Whether the state is one with a live trainer."""
        return self.state in BUSY_STATES

    @property
    def resumable(self) -> bool:
        """Whether Resume can continue the run (ended, checkpointed, not diverged)."""
        return self.state in ENDED_STATES and self.has_checkpoint and self.diverged is None

    def _clear(self) -> None:
        self.events.clear()
        self.loss_points.clear()
        self.val_history.clear()

    def new_run(self, settings: RunSettings, runs: Path | None = None) -> list[str]:
        """Set up a new run of ``settings`` in ``runs`` (default :func:`runs_dir`); returns
        the trainer's arguments.

        Raises
        ------
        MffError
            Bad settings (the session then has no run).
        """
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.arch = settings.arch
        self.run_path = (runs or runs_dir()) / f"{settings.arch}-{stamp}.pt"
        try:
            args = command_args(settings, self.run_path)
        except MffError:
            self.run_path = None
            raise
        self._clear()
        self.epoch = self.step = self.global_step = 0
        self.saved_entry_id = ""
        self.record = TrainingRun(
            self.run_path,
            self.arch,
            _dt.datetime.now().isoformat(timespec="seconds"),
            "running",
            epochs=settings.epochs,
            settings=settings.side_file(),
        )
        return args

    def adopt(self, run: TrainingRun) -> None:
        """Make the earlier run ``run`` (from *Previous runs*) this session's run."""
        self.run_path, self.arch, self.record = run.path, run.arch, run
        self._clear()
        self.epoch, self.step, self.global_step = run.epoch, run.step, 0
        self.saved_entry_id = run.saved_id

    def resume_args(self, settings: RunSettings) -> list[str]:
        """Arguments that continue the run from its checkpoint (``--resume``); ``settings``
        give the per-invocation options (epochs, device, time budget, ...).

        Raises
        ------
        MffError
            No checkpoint, or bad settings.
        """
        if self.run_path is None or not self.run_path.is_file():
            raise MffError("There is no saved run to resume.")
        args = command_args(dataclasses.replace(settings, arch=self.arch), self.run_path, True)
        if self.record is None or self.record.path != self.run_path:
            self.record = read_run(self.run_path)
            self.record.arch = self.arch
        self.record.epochs = settings.epochs
        return args

    def launched(self, budget_minutes: float = 0.0) -> None:
        """The trainer process was started: reset the per-invocation state, ``running``."""
        self._stdout = b""
        self.stderr_tail = []
        self.last_event = ""
        self.diverged = None
        self.started_at = self.clock()
        self.budget_s = max(0.0, float(budget_minutes)) * 60
        self.set_state("running")

    def set_state(self, state: str) -> None:
        """Change the state (recorded in the run's side file when it matters)."""
        if state not in STATES:
            raise ValueError(f"unknown training state {state!r}")
        self.state = state
        if state in _RECORDED:
            self.save_record(state)

    def save_record(self, state: str | None = None) -> None:
        """Write the run's side file (with ``state`` when given)."""
        rec = self.record
        if rec is None or self.run_path is None or rec.path != self.run_path:
            return
        if state is not None:
            rec.state = state
        rec.saved_id = self.saved_entry_id or rec.saved_id
        write_run_info(rec)

    def forget_run(self) -> None:
        """The run's files were deleted: the session has no run."""
        self.run_path, self.record = None, None

    # -- process output ------------------------------------------------------------------------
    def feed_stdout(self, data: bytes) -> list[Update | ev.Unparsed]:
        """Consume a chunk of the trainer's stdout; complete lines only (the rest is kept).

        Returns the :class:`Update` of every event and the lines that are not events.
        """
        self._stdout += bytes(data)
        *lines, self._stdout = self._stdout.split(b"\n")
        out: list[Update | ev.Unparsed] = []
        for raw in lines:
            item = ev.parse_event(raw)
            if isinstance(item, ev.Event):
                out.append(self.consume(item))
            elif item is not None:
                out.append(item)
        return out

    def feed_stderr(self, text: str) -> list[str]:
        """Remember the trainer's stderr lines (the last 20); returns the non-blank ones."""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        self.stderr_tail = [*self.stderr_tail, *lines][-20:]
        return lines

    def consume(self, e: ev.Event | dict[str, Any]) -> Update:
        """Apply one event (a wire dict is parsed first) and say what to show."""
        if isinstance(e, dict):
            e = ev.event_from_dict(e)
        self.events.append(e)
        self.last_event = e.name
        up = Update(e)
        if isinstance(e, ev.StartEvent):
            self.epoch, self.step = e.epoch or 0, e.step or 0
            self.total_epochs, self.steps_per_epoch = e.epochs or 0, e.steps_per_epoch or 0
            up.status = f"Training {e.arch} on {e.device}" + (
                f", resumed at epoch {self.epoch + 1}" if e.resumed else ""
            )
        elif isinstance(e, ev.StepEvent):
            self.step = e.step or 0
            if e.global_step is not None:
                self.global_step = e.global_step
            if e.loss is not None:
                self.loss_points.append((self.global_step, e.loss))
                up.loss_point = (self.global_step, e.loss)
            steps = e.steps if e.steps is not None else self.steps_per_epoch
            up.status = (
                f"Epoch {(e.epoch or 0) + 1}/{self.total_epochs} · step {self.step}/{steps} · "
                f"loss {e.loss or 0:.4f}"
            )
            if e.s_per_step is not None and e.s_per_step > 0:
                self.s_per_step = e.s_per_step
            up.eta = self.eta_text()
        elif isinstance(e, ev.EpochEvent):
            if e.epoch is not None:
                self.epoch = e.epoch
            self.step = 0
            self.val_history.append(e)
            up.epoch_mark = self.global_step
            up.metrics = True
            up.eta = self.eta_text()
        elif isinstance(e, ev.CheckpointEvent):
            epoch = e.epoch if e.epoch is not None else self.epoch
            if self.record is not None:
                self.record.epoch, self.record.step = epoch, e.step or 0
                self.save_record()
            if e.reason == "epoch":
                up.preview = (str(e.path), epoch)
        elif isinstance(e, ev.StoppedEvent):
            up.eta = ""
            up.status = stopped_message(e.reason, e.epoch or 0, e.step)
        elif isinstance(e, ev.DoneEvent):
            up.status = f"Finished {e.epochs} epochs."
        elif isinstance(e, ev.WarningEvent | ev.ErrorEvent):
            up.log = f"{e.name}: {e.message or ''}"
            if isinstance(e, ev.ErrorEvent) and e.reason == "non-finite":
                self.diverged = e
        return up

    # -- what the view shows -------------------------------------------------------------------
    def progress(self) -> float:
        """Fraction of the run's steps done, in [0, 1] (0 before the ``start`` event)."""
        spe = max(1, self.steps_per_epoch)
        total = self.total_epochs * spe
        return (self.epoch * spe + self.step) / total if total else 0.0

    def eta_seconds(self) -> float | None:
        """Seconds left (steps left at the recent speed, plus the validations; capped by the
        time budget); ``None`` before the speed is known."""
        if not self.s_per_step or not self.total_epochs:
            return None
        left = (self.total_epochs - self.epoch) * self.steps_per_epoch - self.step
        secs = left * self.s_per_step
        if self.val_history:
            secs += float(self.val_history[-1].val_s or 0) * (self.total_epochs - self.epoch)
        if self.budget_s > 0:
            secs = min(secs, max(0.0, self.budget_s - (self.clock() - self.started_at)))
        return secs

    def eta_text(self) -> str | None:
        """``"about 3 min 05 s left"``; ``None`` (leave the text) before the speed is known."""
        secs = self.eta_seconds()
        return None if secs is None else f"about {duration_text(secs)} left"

    def metrics_html(self, rows: int = 6) -> str:
        """The last ``rows`` epochs' training loss and validation metrics (★ = best)."""
        out = []
        for e in self.val_history[-rows:]:
            val = e.val or {}
            cells = " ".join(
                f"{k}={float(v):.4f}" for k, v in val.items() if isinstance(v, int | float)
            )
            train = (e.train or {}).get("loss")
            tl = f"loss={float(train):.4f} " if isinstance(train, int | float) else ""
            best = " ★" if e.best_epoch == e.epoch else ""
            out.append(f"epoch {e.epoch}: {tl}{cells}{best}")
        return "<b>Validation</b><br>" + "<br>".join(out)

    # -- the end of a process ------------------------------------------------------------------
    def resume_hint(self, text: str) -> str:
        """``text`` plus whether (and from where) Resume continues."""
        if self.has_checkpoint:
            return (
                f"{text}. The last checkpoint (after epoch {self.epoch}) is kept; Resume "
                "continues from it."
            )
        return f"{text} before the first checkpoint; Start again."

    def finished(self, code: int, crashed: bool) -> tuple[str, str | None]:
        """The trainer exited with ``code`` (``crashed``: killed by a signal or crashed).

        Sets and returns the new state with the message to show as an error (``None``:
        nothing to report). ``done`` means the weights should be saved now.
        """
        if crashed:
            state, msg = "crashed", self.resume_hint("The training process was killed or crashed")
        elif code != 0 and self.diverged is not None:
            d = self.diverged
            kept = (
                f"the last good checkpoint (after epoch {d.checkpoint_epoch}) is kept"
                if d.checkpoint
                else "no checkpoint had been written yet"
            )
            state = "failed"
            msg = (
                f"Training diverged (non-finite loss) at epoch {(d.epoch or 0) + 1}, step "
                f"{d.step}; {kept}. Resuming would diverge again at the same step (runs are "
                "deterministic): start a new run with a lower learning rate, or from "
                "the saved weights as the initial weights."
            )
        elif code != 0:
            tail = next((ln for ln in reversed(self.stderr_tail) if ln.strip()), "")
            state = "failed"
            msg = self.resume_hint(
                f"Training failed (exit status {code})" + (f": {tail}" if tail else "")
            )
        else:
            state, msg = ("stopped" if self.last_event == "stopped" else "done"), None
        self.set_state(state)
        return state, msg

    def failed_to_start(self) -> str:
        """The process could not be started: ``failed``; returns the message."""
        self.set_state("failed")
        return f"Could not start the trainer ({sys.executable} -m mffgui.training)."

    # -- weights -------------------------------------------------------------------------------
    def save_weights(
        self, library: WeightsLibrary, name: str, notes: str, keep_best: bool = True
    ) -> WeightsEntry:
        """Add the run's weights (the best epoch when ``keep_best`` and there is one, else the
        last checkpoint) to ``library``; the run's record notes the entry.

        Raises
        ------
        MffError
            No checkpoint yet, or the library refused the file.
        """
        if self.run_path is None or not self.run_path.is_file():
            raise MffError("No trained checkpoint to save yet.")
        from mffgui.models.weights import best_path

        best = best_path(self.run_path)
        src = best if keep_best and best.is_file() else self.run_path
        try:
            entry = library.add(src, self.arch, name, notes)
        except MffError as err:
            raise MffError(f"Could not save the weights: {err}") from None
        self.saved_entry_id = entry.id
        self.save_record()
        return entry
