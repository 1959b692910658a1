"""Time-left estimate: silent early, then close to the truth on simulated runs."""

from __future__ import annotations

import numpy as np
import pytest

from mffgui.core.eta import EtaEstimator


def _naive(elapsed: float, f: float) -> float:
    """The former estimate: elapsed * (1 - f) / f (start-up charged to the rate)."""
    return elapsed * (1.0 - f) / f


@pytest.mark.parametrize("setup_s", [0.0, 3.0, 8.0])
def test_linear_progress_after_setup(setup_s):
    """``setup_s`` seconds at 0 % (reading, model load), then 20 s of linear progress with
    jittered update times; the estimate is compared with the true remaining time."""
    rng = np.random.default_rng(int(setup_s * 10))
    work = 20.0
    total = setup_s + work
    eta = EtaEstimator()
    t, errors, naive_err = 0.0, [], []
    while t < total:
        t += float(rng.uniform(0.03, 0.2))
        f = min(1.0, max(0.0, (t - setup_s) / work))
        got = eta.update(f, t)
        true = max(0.0, total - t)
        moving = t - setup_s
        if moving < 2.0 or f < 0.03:
            assert got is None, (t, f, got)  # nothing before a few % and two seconds
            continue
        if got is not None:
            assert got < 2.0 * true + 1.0  # never absurd
        if moving < 2.5 or f < 0.05:  # the first report after the threshold may be early
            continue
        assert got is not None
        if f >= 0.1:
            errors.append(abs(got - true))
            naive_err.append(abs(_naive(t, f) - true))
    assert max(errors) < 1.0  # bounded after warm-up
    if setup_s >= 3.0:
        assert max(naive_err) > 2.0  # the old formula was far off here


def test_no_value_during_setup_and_reset_on_new_phase():
    eta = EtaEstimator()
    for t in np.arange(0.0, 5.0, 0.1):
        assert eta.update(0.0, float(t)) is None
    assert eta.estimate(5.0) is None
    for t in np.arange(5.0, 9.0, 0.1):
        eta.update((t - 5.0) / 10.0, float(t))
    assert eta.estimate(9.0) == pytest.approx(6.0, abs=0.3)
    assert eta.update(0.05, 9.1) is None  # progress went back: start over


def test_stepwise_network_progress_counts_down_between_frames():
    """A network reports only at frame starts, (k - 1) / (n - 1): 4 s model load, 2 s/frame."""
    n, load, per = 10, 4.0, 2.0
    end = load + per * (n - 1)
    eta = EtaEstimator()
    for k in range(n):
        t = load + per * k
        got = eta.update(k / (n - 1), t)
        if k == 0:
            assert got is None
            continue
        assert got == pytest.approx(end - t, abs=0.5)
        if k == n - 1:
            break
        # Between two reports the estimate follows the clock.
        mid = eta.estimate(t + per / 2)
        assert mid == pytest.approx(end - t - per / 2, abs=0.5)
        assert mid < got


def test_speed_change_is_followed():
    """Half the work at 1 %/s, the rest at 4 %/s: the window catches up within seconds."""
    eta = EtaEstimator()
    t, f, last = 0.0, 0.0, None
    while f < 1.0:
        t += 0.1
        f = min(1.0, f + (0.001 if f < 0.5 else 0.004))
        last = eta.update(f, t)
        if f >= 0.9:
            true = (1.0 - f) / 0.04
            assert last is not None
            assert abs(last - true) < max(1.5, 0.5 * true)
