"""Batch progress line (done/total, throughput, ETA) and the ``batch-report.csv``/``.json``."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from mffgui.batch.task import StackResult
from mffgui.io.atomic import write_text_atomic

__all__ = ["REPORT_COLUMNS", "BatchProgress", "format_eta", "write_report"]

REPORT_COLUMNS = [
    "stack",
    "status",
    "frames",
    "size",
    "method",
    "alignment",
    "seconds",
    "output",
    "error",
    "input",
    "worker",
    "notes",
]
"""Columns of ``batch-report.csv`` (the JSON has the same keys per stack)."""


def format_eta(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``; ``--:--`` when unknown."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "--:--"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class BatchProgress:
    """Progress of a batch on a stream: ``batch: 12/40 stacks, 1 failed, 2.4/s, ETA 0:11``.

    On a terminal the line is redrawn in place and failures print above it; otherwise (logs)
    every finished stack prints one line.

    Parameters
    ----------
    total : int
        Stacks in the batch (skipped ones included).
    stream : text stream, optional
        Default ``sys.stderr``.
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.done = self.failed = self.skipped = 0
        self._width = 0

    def status(self) -> str:
        """The progress text: stacks done/total, failures, throughput and ETA."""
        finished = self.done + self.failed + self.skipped
        worked = self.done + self.failed
        elapsed = time.perf_counter() - self.t0
        rate = worked / elapsed if elapsed > 0 and worked else 0.0
        eta = (self.total - finished) / rate if rate else float("nan")
        text = f"batch: {finished}/{self.total} stacks"
        if self.failed:
            text += f", {self.failed} failed"
        if self.skipped:
            text += f", {self.skipped} skipped"
        return text + f", {rate:.2f} stacks/s, ETA {format_eta(eta)}"

    def __call__(self, res: StackResult) -> None:
        """Count ``res`` and redraw / print."""
        if res.status == "done":
            self.done += 1
            line = (
                f"{res.stack}: fused {res.frames} frames ({res.width}x{res.height}) with "
                f"{res.method} in {res.seconds:.1f} s -> {res.output}"
            )
        elif res.status == "skipped":
            self.skipped += 1
            line = f"{res.stack}: complete, skipped (--resume)"
        else:
            self.failed += 1
            line = f"{res.stack}: FAILED: {res.error}"
        if self.tty:
            if res.status not in ("done", "skipped"):
                self._print(line)
            self._redraw(self.status())
        else:
            self._print(f"[{self.done + self.failed + self.skipped}/{self.total}] {line}")

    def message(self, text: str) -> None:
        """Print a line (above the progress line on a terminal)."""
        self._print(text)
        if self.tty and self._width:
            self._redraw(self.status())

    def _redraw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self._width = len(text)
        self.stream.flush()

    def _print(self, text: str) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the in-place line and print the final status."""
        self._print(self.status())


def write_report(
    out_dir: str | os.PathLike[str], results: Sequence[StackResult], summary: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``batch-report.csv`` and ``batch-report.json`` into ``out_dir`` (atomically).

    Parameters
    ----------
    out_dir : path
        The batch's output folder.
    results : sequence of StackResult
        One per stack.
    summary : dict
        Batch-level fields for the JSON (root, cluster, wall time ...); counts are added.

    Returns
    -------
    (Path, Path)
        The CSV and the JSON.
    """
    out = Path(out_dir)
    rows = [r.row() for r in results]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    csv_path, json_path = out / "batch-report.csv", out / "batch-report.json"
    write_text_atomic(csv_path, buf.getvalue(), suffix=".part")
    counts = {
        s: sum(r.status == s for r in results) for s in ("done", "failed", "skipped", "cancelled")
    }
    doc = {
        **summary,
        "total": len(results),
        **counts,
        "stacks": [{k: row[k] for k in REPORT_COLUMNS} for row in rows],
    }
    write_text_atomic(json_path, json.dumps(doc, indent=1) + "\n", suffix=".part")
    return csv_path, json_path
