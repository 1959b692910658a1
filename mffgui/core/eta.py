"""Time-left estimate of a running task from its progress fractions (Qt-free).

The naive ``elapsed * (1 - f) / f`` charges the start-up (reading images, loading a network)
to the rate, so early estimates are several times too high. :class:`EtaEstimator` instead:

* says nothing until the progress has moved by ``min_fraction`` and for ``min_seconds``
  since it started moving (the set-up before the first move is not part of the rate);
* measures the rate over the last ``window_s`` seconds of moving progress, so a speed change
  is followed;
* smooths the estimate exponentially (time constant ``smooth_s``), and between two updates of
  a step-wise progress (a network's per-frame progress) counts the estimate down with the
  clock, so an estimate is shown for those too.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["EtaEstimator"]


class EtaEstimator:
    """Seconds left of a task reporting progress fractions in ``[0, 1]``.

    Parameters
    ----------
    min_fraction : float
        Progress made since it started moving before any estimate is given.
    min_seconds : float
        Seconds of moving progress before any estimate is given.
    window_s : float
        Seconds of recent progress the rate is measured over.
    smooth_s : float
        Time constant of the exponential smoothing of the estimate.

    Examples
    --------
    >>> eta = EtaEstimator()
    >>> for t in range(0, 11):
    ...     _ = eta.update(t / 20, float(t))
    >>> round(eta.estimate(10.0))
    10
    """

    def __init__(
        self,
        min_fraction: float = 0.03,
        min_seconds: float = 2.0,
        window_s: float = 6.0,
        smooth_s: float = 1.5,
    ) -> None:
        self.min_fraction = float(min_fraction)
        self.min_seconds = float(min_seconds)
        self.window_s = float(window_s)
        self.smooth_s = float(smooth_s)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new run)."""
        self._samples: deque[tuple[float, float]] = deque()
        self._start: tuple[float, float] | None = None  # (t, f) when progress began to move
        self._moved = False
        self._eta: float | None = None
        self._eta_t = 0.0

    def update(self, fraction: float, now: float) -> float | None:
        """Record ``fraction`` done at time ``now`` (seconds, monotonic) and estimate.

        Returns
        -------
        float or None
            Seconds left, or ``None`` while there is not enough progress to tell.
        """
        f = min(1.0, max(0.0, float(fraction)))
        if self._samples and f < self._samples[-1][1]:
            self.reset()  # progress went back: a new phase, start over
        if not self._moved:
            if self._start is None or f <= self._start[1]:
                self._start = (now, f)  # still setting up: the start moves with the clock
            else:
                self._moved = True
        self._samples.append((now, f))
        self._trim(now)
        raw = self._raw(now)
        if raw is None:
            return self.estimate(now)
        if self._eta is None:
            self._eta = raw
        else:
            prev = max(0.0, self._eta - (now - self._eta_t))
            a = 1.0 - math.exp(-max(0.0, now - self._eta_t) / self.smooth_s)
            # A fresh step of a step-wise progress is new information: weigh it at least half.
            self._eta = prev + max(a, 0.5) * (raw - prev)
        self._eta_t = now
        return self.estimate(now)

    def estimate(self, now: float) -> float | None:
        """Seconds left at ``now``: the last estimate counted down with the clock (>= 0)."""
        if self._eta is None:
            return None
        return max(0.0, self._eta - max(0.0, now - self._eta_t))

    def _trim(self, now: float) -> None:
        assert self._start is not None
        while (
            len(self._samples) > 2
            and self._samples[1][0] < now - self.window_s
            and self._samples[1][0] >= self._start[0]
        ):
            self._samples.popleft()

    def _raw(self, now: float) -> float | None:
        assert self._start is not None
        t0, f0 = self._start
        f = self._samples[-1][1]
        if not self._moved or f - f0 < self.min_fraction or now - t0 < self.min_seconds:
            return None
        if f >= 1.0:
            return 0.0
        # Reference: the oldest sample of the window, never before the start of the movement.
        rt, rf = self._samples[0]
        if rt < t0:
            rt, rf = t0, f0
        if f <= rf or now <= rt:
            rt, rf = t0, f0
        rate = (f - rf) / (now - rt)
        return (1.0 - f) / rate if rate > 0 else None
