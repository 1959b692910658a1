"""Worker lifecycle (issue 11): closing the app mid-run, 100 start/cancel cycles, exit.

Threads are counted at the operating-system level (``/proc/self/task``), so a leaked or
still-running worker is seen whatever Python or Qt know about it. Each test first runs one
fusion to the end, so that thread pools created on first use (OpenCV's, whose threads inherit
the name ``mffgui-task-N`` of the task thread that started them; Qt's global pool) are part of
the baseline; afterwards no thread may remain that was not there before.
"""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gui_support import (  # noqa: F401 - fixtures
    FINISHED_TAGS,
    choose,
    config_dir,
    pair_dir,
    sharp_texture,
    slow_method,
    window,
    write_png,
)
from PySide6.QtCore import QThread, QTimer

from mffgui.gui import tasks as tasks_mod

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="counts threads through /proc (Linux)"
)

GUI_DIR = Path(__file__).resolve().parent
REPO = GUI_DIR.parent.parent


def os_threads() -> dict[int, str]:
    """This process's OS threads: id -> name."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            out[int(tid)] = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:  # ended meanwhile
            pass
    return out


def new_threads(baseline: dict[int, str]) -> list[str]:
    """Threads alive now that were not in ``baseline`` (Qt's expiring pool threads aside)."""
    return [n for t, n in os_threads().items() if t not in baseline and n != "Thread (pooled)"]


def rss_mib() -> float:
    """Resident set size of this process in MiB (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def timer_latency(qtbot) -> float:
    """Seconds until a zero-delay timer fires in the event loop."""
    fired: list[float] = []
    t0 = time.monotonic()
    QTimer.singleShot(0, lambda: fired.append(time.monotonic()))
    qtbot.waitUntil(lambda: bool(fired), timeout=5000)
    return fired[0] - t0


def _running_threads(window) -> list[QThread]:
    return [t for t, _w in window.controller._runner._running.values()]


def _wait_idle(qtbot, window, baseline: dict[int, str], timeout: int = 5000) -> None:
    """Until no task of the window runs and no thread beyond ``baseline`` is alive."""
    qtbot.waitUntil(
        lambda: not window.controller._runner.busy and not new_threads(baseline), timeout=timeout
    )


def _warm_up(qtbot, window, paths: list[Path], method: str, **values) -> dict[int, str]:
    """Fuse ``paths`` once to the end; returns the thread baseline after it."""
    choose(window, method, **values)
    with qtbot.waitSignal(window.controller.resultChanged, timeout=30000):
        window.open_paths(paths)
    qtbot.waitUntil(lambda: not window.controller._runner.busy, timeout=5000)
    FINISHED_TAGS.clear()
    return os_threads()


def _close_mid_run(qtbot, window, paths: list[Path]) -> tuple[list[QThread], float]:
    """Start fusing ``paths``, wait until the method is working, close the window."""
    stages: list[str] = []
    window.controller.progressChanged.connect(lambda _f, stage, _e: stages.append(stage))
    assert window.fuse()
    qtbot.waitUntil(
        lambda: any(s != "Reading images" and not s.startswith("Fusing") for s in stages),
        timeout=20000,
    )
    assert window.controller.state == "running", "closed while the method runs"
    threads = _running_threads(window)
    assert threads
    t0 = time.monotonic()
    window.close()
    return threads, time.monotonic() - t0


def test_closing_the_window_mid_run_stops_the_worker(qtbot, window, pair_dir):
    baseline = _warm_up(qtbot, window, [pair_dir], "test-slow", seconds=0.0)
    py_before = threading.active_count()
    window.method_panel.set_values({"seconds": 30.0, "tag": 1})
    threads, took = _close_mid_run(qtbot, window, [pair_dir])
    assert took < 2.0, f"closing waited {took:.2f} s"
    assert all(t.isFinished() for t in threads), "worker thread still running after close"
    assert not window.controller._runner.busy
    assert tasks_mod._ABANDONED == []
    qtbot.waitUntil(lambda: not new_threads(baseline), timeout=2000)
    assert threading.active_count() == py_before
    assert FINISHED_TAGS == [], "the cancelled run did not go on to the end"
    # The queued 'cancelled' report still arrives, harmlessly, after the close.
    qtbot.waitUntil(lambda: window.controller.state == "cancelled", timeout=2000)


@pytest.mark.slow
def test_closing_mid_run_of_a_real_method(qtbot, window, tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    base = sharp_texture(600, 800, seed=3)
    for i in range(8):  # enough work that the close lands inside the fusion
        write_png(folder / f"f{i}.png", np.roll(base, 7 * i, axis=1))
    baseline = _warm_up(qtbot, window, [folder], "laplacian")
    threads, took = _close_mid_run(qtbot, window, [folder])
    assert took < 3.0, f"closing waited {took:.2f} s"
    assert all(t.isFinished() for t in threads)
    assert tasks_mod._ABANDONED == []
    qtbot.waitUntil(lambda: not new_threads(baseline), timeout=2000)


def test_adding_sources_leaves_nothing_in_the_mailbox(qtbot, window, pair_dir):
    before = dict(tasks_mod._MAILBOX)
    for _ in range(3):
        window.open_paths([pair_dir], fuse=False)
        ctl = window.controller
        qtbot.waitUntil(
            lambda c=ctl: all(s.id in c.thumbnails for s in c.sources) and not c._runner.busy,
            timeout=10000,
        )
    assert tasks_mod._MAILBOX == before


@pytest.mark.slow
def test_100_start_cancel_cycles_leak_nothing_and_stay_responsive(qtbot, window, pair_dir):
    ctl = window.controller
    baseline = _warm_up(qtbot, window, [pair_dir], "test-slow", seconds=0.0)
    window.method_panel.set_values({"seconds": 30.0})
    working: list[bool] = []
    ctl.progressChanged.connect(lambda _f, stage, _e: working.append(stage == "Sleeping"))

    def cycle(i: int) -> None:
        working.clear()
        assert window.fuse()
        if i % 2:  # every other run is cancelled inside the method, the rest at once
            qtbot.waitUntil(lambda: any(working), timeout=5000)
        window.act_cancel.trigger()
        qtbot.waitUntil(lambda: ctl.state == "cancelled" and not ctl._runner.busy, timeout=5000)

    for i in range(4):  # warm up the cancel paths too
        cycle(i)
    _wait_idle(qtbot, window, baseline)
    gc.collect()
    threads0, py0, rss0 = os_threads(), threading.active_count(), rss_mib()
    mailbox0 = dict(tasks_mod._MAILBOX)

    t0 = time.monotonic()
    for i in range(100):
        cycle(i)
    seconds = time.monotonic() - t0
    _wait_idle(qtbot, window, threads0)
    gc.collect()
    assert threading.active_count() == py0
    grew = rss_mib() - rss0
    assert grew < 50, f"RSS grew by {grew:.1f} MiB over 100 cycles"
    assert tasks_mod._MAILBOX == mailbox0, "results left behind in the mailbox"
    assert tasks_mod._ABANDONED == []
    assert FINISHED_TAGS == []
    # Still responsive: the event loop serves a timer at once, and a real run completes.
    assert timer_latency(qtbot) < 0.5
    assert window.act_fuse.isEnabled()
    assert not window.act_cancel.isEnabled()
    window.method_panel.set_values({"seconds": 0.0, "tag": 1})
    with qtbot.waitSignal(ctl.resultChanged, timeout=10000):
        assert window.fuse()
    assert ctl.state == "done"
    assert seconds < 60


def test_100_restarts_without_waiting_end_every_thread(qtbot, window, pair_dir):
    # Each new run cancels the previous one; none is waited for in between.
    ctl = window.controller
    baseline = _warm_up(qtbot, window, [pair_dir], "test-slow", seconds=0.0)
    window.method_panel.set_values({"seconds": 30.0})
    rss0, mailbox0 = rss_mib(), dict(tasks_mod._MAILBOX)
    for _ in range(100):
        assert window.fuse()
    assert ctl.generation >= 101
    window.act_cancel.trigger()
    qtbot.waitUntil(lambda: ctl.state == "cancelled", timeout=5000)
    _wait_idle(qtbot, window, baseline, timeout=20000)
    assert rss_mib() - rss0 < 50
    assert tasks_mod._MAILBOX == mailbox0
    assert FINISHED_TAGS == []
    assert timer_latency(qtbot) < 0.5


EXIT_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {gui_dir!r})
    import gui_support as gs
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from mffgui.gui import tasks
    from mffgui.methods import registry

    registry._REGISTRY[gs.SlowMethod.info.name] = gs.SlowMethod
    tasks.TaskRunner.shutdown.__defaults__ = (300,)  # the window waits 0.3 s, not 5 s
    tasks.EXIT_GRACE_S = 0.3
    app = QApplication([])
    from mffgui.gui.main_window import MainWindow
    from mffgui.settings import AppSettings

    w = MainWindow(AppSettings(), probe_devices=False)
    w.show()
    gs.choose(w, "test-slow", seconds=30.0, ignore_cancel=True)  # never checks cancel
    w.open_paths([{pair!r}])

    def close():
        w.close()
        print("abandoned", len(tasks._ABANDONED), flush=True)
        app.quit()

    QTimer.singleShot(300, close)
    code = app.exec()
    if {record!r}:
        tasks.set_exit_status(code)  # as mffgui.app.main does
    print("exec", code, flush=True)
""")


@pytest.mark.slow
@pytest.mark.parametrize(("record", "status"), [(True, 0), (False, 1)])
def test_exit_with_a_task_that_ignores_cancel_does_not_abort(pair_dir, tmp_path, record, status):
    # Without the exit handling, Python destroys the still-running QThread and Qt aborts the
    # process ("QThread: Destroyed while thread is still running", status 134). The process
    # ends with the app's recorded status; without one, with 1 (never a masked success).
    script = tmp_path / "exit_app.py"
    script.write_text(EXIT_SCRIPT.format(gui_dir=str(GUI_DIR), pair=str(pair_dir), record=record))
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        MFFGUI_CONFIG_DIR=str(tmp_path / "cfg"),
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    took = time.monotonic() - t0
    assert proc.returncode == status, proc.stderr[-2000:]
    assert "abandoned 1" in proc.stdout
    assert "exec 0" in proc.stdout
    assert "Destroyed while thread" not in proc.stderr
    assert "still running at exit" in proc.stderr
    assert took < 25, f"exit took {took:.1f} s (the task would have run 30 s)"
