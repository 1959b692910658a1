"""The trainer's process: ``python -m mffgui.training ...`` in a :class:`QProcess`."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, QProcess, QProcessEnvironment, QTimer

__all__ = ["TRAINER_MODULE", "command_line", "trainer_process", "wait_or_end"]

TRAINER_MODULE = "mffgui.training"
"""Run with ``python -m`` in the child process."""


def _package_root() -> Path:
    """Folder that makes ``import mffgui`` work in the child process (a source checkout)."""
    import mffgui

    return Path(mffgui.__file__).resolve().parents[1]


def command_line(args: list[str]) -> str:
    """The command as shown in the dialog's log."""
    return " ".join(["python", "-m", TRAINER_MODULE, *args])


def trainer_process(parent: QObject, args: list[str], workdir: Path) -> QProcess:
    """A not yet started QProcess for the trainer with ``args`` (connect its signals, then
    call :meth:`QProcess.start` with no arguments)."""
    proc = QProcess(parent)
    env = QProcessEnvironment.systemEnvironment()
    old = env.value("PYTHONPATH", "")
    env.insert("PYTHONPATH", str(_package_root()) + (":" + old if old else ""))
    env.insert("PYTHONUNBUFFERED", "1")
    proc.setProcessEnvironment(env)
    proc.setWorkingDirectory(str(workdir))
    proc.setProgram(sys.executable)
    proc.setArguments(["-m", TRAINER_MODULE, *args])
    return proc


def _alive(proc: QProcess) -> bool:
    return proc.state() != QProcess.ProcessState.NotRunning


def wait_or_end(proc: QProcess, timeout_ms: int, kill_wait_ms: int) -> bool:
    """Wait up to ``timeout_ms`` for ``proc`` to exit, in a local event loop (windows keep
    painting, user input is held back, the process's output is still read); a process still
    alive then gets SIGTERM, then SIGKILL, ``kill_wait_ms`` each. ``True`` when it ended."""
    loop = QEventLoop()
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    proc.finished.connect(loop.quit)
    timer.start(max(0, int(timeout_ms)))
    if _alive(proc):
        loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    timer.stop()
    try:
        proc.finished.disconnect(loop.quit)
    except (RuntimeError, TypeError):
        pass
    if _alive(proc):
        proc.terminate()
        if not proc.waitForFinished(kill_wait_ms):
            proc.kill()
            proc.waitForFinished(kill_wait_ms)
    return not _alive(proc)
