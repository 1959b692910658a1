"""``_Run.measured``: per-frame work in worker threads, results folded in frame order."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mffgui.core.progress import NEVER, noop_progress
from mffgui.methods.classical import _Run
from mffgui.types import Stack


def _run(n: int) -> _Run:
    frames = [np.full((4, 5, 1), i / 100, np.float32) for i in range(n)]
    return _Run(Stack.from_arrays(frames), 2, noop_progress, NEVER)


def test_results_come_in_frame_order_and_slots_are_never_shared():
    workers = 2
    alive: dict[int, int] = {}  # slot -> frame whose result is alive
    lock = threading.Lock()
    seen = []

    def fn(i: int, img: np.ndarray, slot: int) -> tuple[int, float]:
        with lock:
            assert slot not in alive, f"slot {slot} reused while frame {alive.get(slot)} alive"
            alive[slot] = i
        time.sleep(0.002 * ((7 * i) % 3))  # finish out of order
        return slot, float(img[0, 0, 0])

    for i, (slot, value) in _run(12).measured(fn, range(12), workers):
        assert 0 <= slot <= workers
        assert value == pytest.approx(i / 100)
        seen.append(i)
        with lock:
            del alive[slot]  # the caller is done with frame i's result
    assert seen == list(range(12))


def test_an_error_in_a_worker_reaches_the_caller():
    def fn(i: int, img: np.ndarray, slot: int) -> int:
        if i == 3:
            raise ValueError("frame 3 is bad")
        return i

    got: list[int] = []

    def consume() -> None:
        for _, r in _run(8).measured(fn, range(8)):
            got.append(r)

    with pytest.raises(ValueError, match="frame 3"):
        consume()
    assert got == [0, 1, 2]


def test_stopping_early_leaves_the_rest_unmeasured():
    started = []

    def fn(i: int, img: np.ndarray, slot: int) -> int:
        started.append(i)
        return i

    gen = _run(20).measured(fn, range(20), workers=2)
    for i, _ in gen:
        if i == 2:
            break
    gen.close()
    # Frames 0-2 were consumed; at most `workers` more were submitted before the stop.
    assert max(started) <= 2 + 2
