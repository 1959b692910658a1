"""The controller's time left: none early, rate-based later, counting down between steps."""

from __future__ import annotations

import types

import pytest

import mffgui.gui.controller as controller_mod


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def monotonic(self) -> float:
        return self.t


def test_controller_eta_for_stepwise_progress(qtbot, monkeypatch):
    from mffgui.gui.controller import Controller

    clock = _Clock()
    monkeypatch.setattr(controller_mod, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    c = Controller()
    seen: list[tuple[float, str, float]] = []
    c.progressChanged.connect(lambda f, s, e: seen.append((f, s, e)))
    # A run in progress: 5 s of set-up (model load) at 0 %, then 9 frames of 2 s each.
    assert c.runs.start()[0] == 1  # generation 1
    c._set_state("running")
    c._eta.reset()
    c._eta.update(0.0, clock.t)
    clock.t += 5.0
    c._on_progress(1, 0.0, "frame 1 of 10")
    assert seen[-1][2] < 0  # no estimate yet; the old formula could not tell either
    for k in range(1, 5):
        clock.t += 2.0
        c._on_progress(1, k / 9, f"frame {k + 1} of 10")
        true = 2.0 * (9 - k)
        assert seen[-1][2] == pytest.approx(true, abs=0.5)
    # Between two reports the timer re-emits an estimate that follows the clock.
    n = len(seen)
    clock.t += 1.0
    c._tick_eta()
    assert len(seen) == n + 1
    assert seen[-1][:2] == seen[-2][:2]
    assert seen[-1][2] == pytest.approx(2.0 * (9 - 4) - 1.0, abs=0.5)
    assert c._eta_timer.isActive() is False  # started by fuse() only
    c._set_state("done")
    c._tick_eta()
    assert len(seen) == n + 1  # nothing once the run is over
