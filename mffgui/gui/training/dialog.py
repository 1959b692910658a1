"""The Train dialog: fine-tune GACN or Fusion2Void on the user's own images.

Training runs in a separate process (``python -m mffgui.training <arch> ... --jsonl``, through
:class:`QProcess`), so a crash or an out-of-memory GPU never takes the app down. The run's
logic is Qt-free, in :class:`mffgui.training.session.TrainingSession`: the command line, the
state, the trainer's events (:mod:`mffgui.training.events`), progress and time left, the run's
record, what an exit means. This dialog starts the process, forwards its output to the session
and renders what the session says: the epoch/step, the time left, a live loss curve
(:mod:`.loss_curve`), the validation metrics, and after every epoch a small preview fused by the
latest checkpoint (:mod:`.preview`, in a worker thread). Stop sends ``stop`` on the process's
stdin; the trainer saves and exits. A stopped, failed or killed run resumes from its last
checkpoint (``--resume``). Finished (or explicitly saved) weights go to the user's weights
library (:mod:`mffgui.user_weights`) and appear as variants of the network method.

Runs live in :func:`mffgui.user_weights.runs_dir` with a JSON side file (network, date, epoch,
the dialog's settings), so *Previous runs* (:mod:`.runs_panel`) can resume a run of an earlier
session (stopped, crashed, or cut short by closing the app) and delete the runs that finished
and were saved. Opened from the main window (:mod:`.actions`), the data is pre-filled with the
folder(s) of the loaded stack, so Start works at once. Closing the app during a run sends Stop
and waits a few seconds (the event loop keeps running) for the trainer to save.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mffgui.errors import MffError
from mffgui.gui.training.process import command_line, trainer_process, wait_or_end
from mffgui.gui.training.progress_panel import ProgressPanel
from mffgui.gui.training.runs_panel import RunsPanel
from mffgui.gui.training.settings_form import SettingsForm
from mffgui.training import events as ev
from mffgui.training.session import ENDED_STATES, TrainingSession, Update, command_args
from mffgui.user_weights import TrainingRun, WeightsLibrary, delete_run, list_runs, read_run

__all__ = ["KILL_WAIT_MS", "STOP_GRACE_MS", "STOP_ON_CLOSE_MS", "TrainingDialog"]

STOP_GRACE_MS = 120_000
"""How long Stop waits for the trainer to save before terminating it."""
STOP_ON_CLOSE_MS = 8_000
"""How long closing the dialog (or the app) waits for a stopped trainer to save."""
KILL_WAIT_MS = 2_000
"""How long to wait for the trainer after SIGTERM, then after SIGKILL, when closing."""


class TrainingDialog(QDialog):
    """Train a fusion network on the user's data in a separate process.

    Parameters
    ----------
    parent : QWidget, optional
    library : WeightsLibrary, optional
        Where finished weights are saved (default: the user's library).
    folders : list of str, optional
        Folders to pre-fill as training data (e.g. the folder of the open stack).

    Signals
    -------
    stateChanged(str)
        ``idle``, ``running``, ``stopping``, ``stopped``, ``done``, ``failed``, ``crashed``.
    eventReceived(str)
        Name of every trainer event as it arrives.
    weightsSaved(str)
        Library id of weights just saved.
    previewUpdated(int)
        Epoch whose checkpoint the preview now shows.
    """

    stateChanged = Signal(str)
    eventReceived = Signal(str)
    weightsSaved = Signal(str)
    previewUpdated = Signal(int)

    def __init__(
        self,
        parent: QWidget | None = None,
        library: WeightsLibrary | None = None,
        folders: list[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a network on your data")
        self.library = library or WeightsLibrary()
        self.session = TrainingSession()
        self.proc: QProcess | None = None
        self.message = ""
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self._stop_overdue)
        self._build()
        self.set_default_folders(folders or [])
        self.refresh_runs()
        self._set_state("idle")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.form = form = SettingsForm(self.library)
        for name in SettingsForm.WIDGETS:  # as attributes of the dialog (tests drive them)
            setattr(self, name, getattr(form, name))

        self.live = live = ProgressPanel(self._preview_sources)
        self.status, self.progress, self.eta = live.status, live.progress, live.eta
        self.curve, self.metrics, self.preview = live.curve, live.metrics, live.preview
        self.log_view = live.log_view
        self.preview.updated.connect(self.previewUpdated)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(
            "Stop after the current step; the run is saved and can be resumed"
        )
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the last run from its last checkpoint")
        self.save_button = QPushButton("Save weights")
        self.save_button.setToolTip("Add the current checkpoint to your trained weights")
        self.close_button = QPushButton("Close")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.save_button.clicked.connect(lambda: self.save_weights())
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.resume_button, self.save_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        self.runs_panel = runs = RunsPanel()
        self.previous = runs.previous
        self.resume_previous_button = runs.resume_previous_button
        self.delete_run_button = runs.delete_run_button
        self.clean_button = runs.clean_button
        runs.resumeRequested.connect(lambda: self.resume_run())
        runs.deleteRequested.connect(self.delete_run)
        runs.cleanRequested.connect(lambda: self.clean_up_runs())

        lay = QVBoxLayout(self)
        lay.addWidget(form)
        lay.addWidget(runs)
        lay.addWidget(live, 1)
        lay.addLayout(buttons)
        self.setSizeGripEnabled(True)

    # ------------------------------------------------------------------ the session's state
    @property
    def state(self) -> str:
        """The session's state (see :data:`mffgui.training.session.STATES`)."""
        return self.session.state

    @property
    def run_path(self) -> Path | None:
        """The current run's checkpoint (``--out``)."""
        return self.session.run_path

    @run_path.setter
    def run_path(self, path: Path | None) -> None:
        self.session.run_path = path

    @property
    def run_arch(self) -> str:
        """The current run's network."""
        return self.session.arch

    @property
    def events(self) -> list[dict[str, Any]]:
        """The run's events as the trainer wrote them (wire objects; typed ones are in
        ``session.events``)."""
        return [ev.to_dict(e) for e in self.session.events]

    @property
    def val_history(self) -> list[dict[str, Any]]:
        """The run's ``epoch`` events (wire objects)."""
        return [ev.to_dict(e) for e in self.session.val_history]

    @property
    def loss_points(self) -> list[tuple[int, float]]:
        """``(global_step, loss)`` of the run's steps."""
        return self.session.loss_points

    @property
    def global_step(self) -> int:
        """The trainer's last reported global step."""
        return self.session.global_step

    @property
    def saved_entry_id(self) -> str:
        """Library id of the weights saved from the run ("" when none)."""
        return self.session.saved_entry_id

    @property
    def _stderr_tail(self) -> list[str]:
        return self.session.stderr_tail

    # ------------------------------------------------------------------ setup
    @property
    def arch(self) -> str:
        """The chosen network, ``"gacn"`` or ``"fusion2void"``."""
        return self.form.arch

    def set_default_folders(self, folders: list[str]) -> None:
        """Use ``folders`` (the loaded focus stack's) as the training data, unless the user
        chose other data or a run is in progress (:meth:`SettingsForm.set_default_folders`)."""
        if not self.running:
            self.form.set_default_folders(folders)

    def init_path(self) -> str:
        """Checkpoint to start from ("" = from scratch)."""
        return self.form.init_path()

    def command_args(self, resume: bool = False) -> list[str]:
        """Arguments after ``python -m mffgui.training`` for the current settings.

        Raises
        ------
        MffError
            No training data, or a missing folder/file.
        """
        assert self.run_path is not None
        settings = self.form.values()
        if resume:
            settings.arch = self.run_arch
        return command_args(settings, self.run_path, resume)

    def settings(self) -> dict[str, Any]:
        """The dialog's settings, as kept in a run's side file."""
        return self.form.values().side_file()

    def apply_settings(self, arch: str, settings: dict[str, Any]) -> None:
        """Show the settings of a run (``settings()`` of the dialog that started it)."""
        self.form.apply_settings(arch, settings)

    # ------------------------------------------------------------------ run control
    @property
    def running(self) -> bool:
        """Whether a training process is alive."""
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def start(self) -> bool:
        """Start a new run with the current settings; ``False`` (and a message) on bad input."""
        if self.running:
            return False
        settings = self.form.values()
        try:
            args = self.session.new_run(settings)
        except MffError as err:
            self._report(str(err), error=True)
            return False
        self.live.new_run()
        self._launch(args)
        return True

    def resume(self) -> bool:
        """Continue the last run from its checkpoint (``--resume``)."""
        if self.running:
            self._report("There is no saved run to resume.", error=True)
            return False
        try:
            args = self.session.resume_args(self.form.values())
        except MffError as err:
            self._report(str(err), error=True)
            return False
        self._launch(args)
        return True

    def _launch(self, args: list[str]) -> None:
        assert self.run_path is not None
        self.run_path.parent.mkdir(parents=True, exist_ok=True)
        proc = trainer_process(self, args, self.run_path.parent)
        proc.readyReadStandardOutput.connect(self._on_stdout)
        proc.readyReadStandardError.connect(self._on_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.proc = proc
        self.live.log("$ " + command_line(args))
        self.session.launched(self.minutes.value())
        self._render_state()
        self._report("Starting the trainer…")
        proc.start()

    def stop(self) -> None:
        """Ask the trainer to save and exit after the current step."""
        if not self.running or self.proc is None:
            return
        self.proc.write(b"stop\n")
        self._set_state("stopping")
        self.eta.setText("")  # the time left of a run being stopped is meaningless
        self._report("Stopping after the current step (saving a checkpoint)…")
        self._stop_timer.start(STOP_GRACE_MS)

    def _stop_overdue(self) -> None:
        if self.running and self.proc is not None:
            self._report("The trainer did not stop in time; terminating it.", error=True)
            self.proc.terminate()  # the trainer treats SIGTERM like Stop (saves first)

    def kill(self) -> None:
        """Kill the training process at once (no checkpoint is written)."""
        if self.running and self.proc is not None:
            self.proc.kill()

    # ------------------------------------------------------------------ previous runs
    def previous_runs(self) -> list[TrainingRun]:
        """The runs listed under *Previous runs* (newest first)."""
        return self.runs_panel.runs()

    def chosen_run(self) -> TrainingRun | None:
        """The run chosen under *Previous runs* (``None`` when there is none)."""
        return self.runs_panel.chosen_run()

    def refresh_runs(self) -> None:
        """Re-read the runs folder into the *Previous runs* list."""
        running = self.running
        self.runs_panel.show_runs(
            [
                r
                for r in list_runs(library=self.library)
                if not (running and r.path == self.run_path)
            ]
        )
        self.runs_panel.set_busy(running, self.run_path)

    def resume_run(self, path: str | Path | None = None, epochs: int | None = None) -> bool:
        """Resume an earlier run (default: the chosen one) with its data and settings.

        Parameters
        ----------
        path : path, optional
            The run's checkpoint; default: the run chosen under *Previous runs*.
        epochs : int, optional
            Total epochs; default: those the run was started with (Stop, raise *Epochs* and
            Resume to train longer).

        Returns
        -------
        bool
            Whether the trainer was started; it continues from the run's last checkpoint.
        """
        if self.running:
            return False
        run = read_run(path) if path is not None else self.chosen_run()
        if run is None or not run.path.is_file():
            self._report("There is no saved run to resume.", error=True)
            return False
        self.apply_settings(run.arch, run.settings)
        total = epochs if epochs is not None else run.epochs
        if total:
            self.epochs.setValue(max(int(total), self.epochs.minimum()))
        self.session.adopt(run)
        self.live.new_run()
        return self.resume()

    def delete_run(self, path: str | Path) -> bool:
        """Delete a run's checkpoints and side file (not the run in progress)."""
        p = Path(path)
        if self.running and p == self.run_path:
            self._report("The run in progress cannot be deleted; stop it first.", error=True)
            return False
        try:
            delete_run(p)
        except MffError as err:
            self._report(str(err), error=True)
            return False
        if p == self.run_path:
            self.session.forget_run()
            self._set_state(self.state)
        self.refresh_runs()
        return True

    def clean_up_runs(self) -> int:
        """Delete every listed run that finished and whose weights are in the library.

        Returns
        -------
        int
            How many runs were deleted.
        """
        n = 0
        for r in list_runs(library=self.library):
            if r.finished_and_saved and not (self.running and r.path == self.run_path):
                if self.delete_run(r.path):
                    n += 1
        self.refresh_runs()
        self._report(f"Deleted {n} finished and saved run{'s' if n != 1 else ''}.")
        return n

    # ------------------------------------------------------------------ process output
    def _on_stdout(self) -> None:
        if self.proc is None:
            return
        for item in self.session.feed_stdout(bytes(self.proc.readAllStandardOutput().data())):
            if isinstance(item, ev.Unparsed):
                self.live.log(item.text)
            else:
                self._show(item)

    def _on_stderr(self) -> None:
        if self.proc is None:
            return
        text = bytes(self.proc.readAllStandardError().data()).decode("utf-8", "replace")
        for line in self.session.feed_stderr(text):
            self.live.log(line)

    def _on_event(self, event: ev.Event | dict[str, Any]) -> None:
        """Apply one trainer event (typed, or its wire dict) and show it."""
        self._show(self.session.consume(event))

    def _show(self, up: Update) -> None:
        if up.status is not None:
            self._report(up.status)
        self.live.show_update(up, self.session)
        self.eventReceived.emit(up.event.name)

    def _preview_sources(self) -> tuple[str, list[str]]:
        return self.val_edit.text().strip(), self.sharp_list.paths() or self.stacks_list.paths()

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self._stop_timer.stop()
        state, message = self.session.finished(code, status == QProcess.ExitStatus.CrashExit)
        if message:
            self._report(message, error=True)
        self._render_state()
        if state == "done":
            self.save_weights()

    def _on_error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self._report(self.session.failed_to_start(), error=True)
            self._render_state()

    # ------------------------------------------------------------------ saving
    def save_weights(self) -> str:
        """Add the run's weights (best epoch or last checkpoint) to the library.

        Returns
        -------
        str
            The library id ("" when nothing could be saved; the reason is shown).
        """
        try:
            entry = self.session.save_weights(
                self.library,
                self.name_edit.text().strip(),
                self.notes_edit.text().strip(),
                self.keep_best.isChecked(),
            )
        except MffError as err:
            self._report(str(err), error=True)
            return ""
        self._report(
            f"{self.message} Saved as “{entry.title}” — choose it in the method "
            "panel's Weights list.".strip()
        )
        self.weightsSaved.emit(entry.id)
        self._set_state(self.state)
        return entry.id

    # ------------------------------------------------------------------ state
    def _set_state(self, state: str) -> None:
        self.session.set_state(state)
        self._render_state()

    def _render_state(self) -> None:
        """Show the session's state: buttons, locked settings, the runs list."""
        s = self.session
        state, busy = s.state, s.busy
        self.start_button.setEnabled(not busy)
        self.stop_button.setEnabled(state == "running")
        self.resume_button.setEnabled(s.resumable)
        self.save_button.setEnabled(not busy and s.has_checkpoint)
        self.form.set_busy(busy)
        if state in ("running", *ENDED_STATES):
            self.refresh_runs()
        else:
            self.runs_panel.set_busy(self.running, self.run_path)
        self.stateChanged.emit(state)

    def _report(self, text: str, error: bool = False) -> None:
        self.message = text
        self.live.report(text, error)

    def shutdown(self, timeout_ms: int = STOP_ON_CLOSE_MS) -> bool:
        """Stop a running trainer cleanly before the dialog or the app closes.

        Sends the ``stop`` line and waits up to ``timeout_ms`` for the trainer to save and exit,
        in a local event loop (the windows keep painting; user input is held back). A trainer
        still alive then gets SIGTERM (it saves too), then SIGKILL, :data:`KILL_WAIT_MS` each.

        Returns
        -------
        bool
            ``True`` when no trainer is left running (the run can be resumed later).
        """
        proc = self.proc
        if self.running and proc is not None:
            if self.state != "stopping":
                proc.write(b"stop\n")
                self._set_state("stopping")
            self._report("Saving the training run before closing…")
            wait_or_end(proc, timeout_ms, KILL_WAIT_MS)
        self._stop_timer.stop()
        self.preview.shutdown(5_000)
        return not self.running

    def closeEvent(self, event: Any) -> None:
        """Stop a running trainer (see :meth:`shutdown`) and the preview worker."""
        self.shutdown()
        super().closeEvent(event)
