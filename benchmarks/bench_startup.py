"""Desktop-app start-up time and UI responsiveness during fusion.

1. **Cold start to a visible window**: each run is a fresh ``python main.py --startup-probe``
   process (offscreen Qt platform, empty settings folder). The app reports when the window's
   first frame was painted and when it was ready (the method list, loaded just after the first
   paint, filled), and whether ``torch`` had been imported; this script measures the wall time
   from spawning the process to that report and the CPU time of the process.
2. **Event-loop stalls during fusion** (``--stack PATH``): the real window fuses ``PATH`` with
   each classical method while a 10 ms timer records the gaps between its ticks on the GUI
   thread; the longest gap is the worst freeze a user would feel.

Usage::

    python benchmarks/bench_startup.py [--runs 7] [--stack ../shared/data/lytro/lytro_01 ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cold_start(runs: int) -> list[tuple[float, float, float, float, bool]]:
    """``(first frame s, ready s, wall s, CPU s, torch imported)`` per fresh process.

    *first frame* and *ready* (method list filled) are measured by the app from the import of
    :mod:`mffgui.app`; *wall* by this script from spawning the process to the app's report.
    """
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cfg:
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MFFGUI_CONFIG_DIR=cfg)
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, str(REPO / "main.py"), "--startup-probe"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
                cwd=REPO,
            )
            assert proc.stdout is not None
            line = ""
            for line in proc.stdout:
                if line.startswith("startup"):
                    break
            wall = time.perf_counter() - t0
            proc.wait(timeout=60)
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU of the whole process (it closes right after reporting): steadier under load.
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        fields = line.split()
        if not fields:
            raise RuntimeError("the app did not report its start-up")
        out.append((float(fields[1]), float(fields[3]), wall, cpu, "torch_imported=True" in fields))
    return out


def stalls(stack: Path, methods: list[str] | None) -> list[tuple[str, float, float, float, int]]:
    """``(method, fusion seconds, max gap ms, 99th-percentile gap ms, ticks)`` per method."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MFFGUI_CONFIG_DIR", tempfile.mkdtemp(prefix="mffgui-bench-"))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from mffgui.gui.main_window import MainWindow
    from mffgui.methods import list_methods
    from mffgui.settings import AppSettings

    names = methods or [m.name for m in list_methods() if m.kind == "classical"]
    rows = [idle_gaps(app, 5.0)]
    for name in names:
        window = MainWindow(AppSettings(), probe_devices=False)
        window.resize(1400, 850)
        window.show()
        window.method_panel.set_method(name)
        window.open_paths([stack], fuse=False)
        for _ in range(50):  # let thumbnails finish so they do not count
            app.processEvents()
            time.sleep(0.01)
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick(gaps: list[float] = gaps, last: list[float] = last) -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.timeout.connect(tick)
        timer.start(10)
        t0 = time.perf_counter()
        window.fuse()
        while window.controller.running:
            app.processEvents()
            time.sleep(0.001)
        took = time.perf_counter() - t0
        # Keep ticking a little: the gap spanning the result's display ends after this.
        t_end = time.perf_counter() + 0.2
        while time.perf_counter() < t_end:
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        state = window.controller.state
        window.close()
        if state != "done":
            raise RuntimeError(f"{name}: {state}: {window.controller.last_error}")
        gaps_ms = sorted(g * 1000 for g in gaps)
        p99 = gaps_ms[min(len(gaps_ms) - 1, int(0.99 * len(gaps_ms)))]
        rows.append((name, took, gaps_ms[-1], p99, len(gaps_ms)))
    return rows


def idle_gaps(app, seconds: float) -> tuple[str, float, float, float, int]:
    """The same 10 ms timer with nothing running: the scheduling noise floor of this machine."""
    from PySide6.QtCore import QTimer

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    gaps_ms = sorted(g * 1000 for g in gaps)
    p99 = gaps_ms[min(len(gaps_ms) - 1, int(0.99 * len(gaps_ms)))]
    return ("(idle, no fusion)", seconds, gaps_ms[-1], p99, len(gaps_ms))


def main() -> int:
    """Run the benchmarks and print Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument(
        "--stack",
        type=Path,
        action="append",
        default=[],
        help="stack to fuse while measuring event-loop stalls (repeatable)",
    )
    ap.add_argument("--method", action="append", default=None)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python "
        f"{platform.python_version()}, Qt platform offscreen\n"
    )
    if args.runs:
        res = cold_start(args.runs)
        print(f"load average before: {os.getloadavg()[0]:.1f}\n")
        print(
            "| run | first frame (s) | ready: methods listed (s) | process start to ready, "
            "wall (s) | process CPU (s) | torch imported |"
        )
        print("|---|---|---|---|---|---|")
        for i, (paint, ready, wall, cpu, torch) in enumerate(res, 1):
            print(
                f"| {i} | {paint:.2f} | {ready:.2f} | {wall:.2f} | {cpu:.2f} | "
                f"{'yes' if torch else 'no'} |"
            )
        med = [statistics.median(r[k] for r in res) for k in range(4)]
        print(
            f"\nmedians over {len(res)} runs: first frame {med[0]:.2f} s, ready {med[1]:.2f} s,"
            f" wall {med[2]:.2f} s (max {max(r[2] for r in res):.2f} s), CPU {med[3]:.2f} s\n"
        )
    for stack in args.stack:
        print(f"stack: {stack} (load average {os.getloadavg()[0]:.1f})\n")
        print("| method | fusion (s) | longest event-loop gap (ms) | 99th pct gap (ms) | ticks |")
        print("|---|---|---|---|---|")
        for name, took, worst, p99, n in stalls(stack, args.method):
            print(f"| {name} | {took:.2f} | {worst:.0f} | {p99:.0f} | {n} |")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
