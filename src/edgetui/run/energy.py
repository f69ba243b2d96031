"""Energy over exact time windows, from a power trace (trapezoid) or an energy counter (difference)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence


def _interp(ts: Sequence[float], vs: Sequence[float], t: float) -> float:
    i = bisect_left(ts, t)
    if i < len(ts) and ts[i] == t:
        return vs[i]
    if i == 0:
        return vs[0]
    if i >= len(ts):
        return vs[-1]
    t0, t1 = ts[i - 1], ts[i]
    return vs[i - 1] + (vs[i] - vs[i - 1]) * (t - t0) / (t1 - t0)


def covers(ts: Sequence[float], t0: float, t1: float, max_gap_s: float) -> bool:
    """True when samples bracket [t0, t1] within max_gap_s at each edge and inside."""
    if len(ts) < 2 or ts[0] > t0 + max_gap_s or ts[-1] < t1 - max_gap_s:
        return False
    lo, hi = bisect_right(ts, t0), bisect_left(ts, t1)
    inner = [t0, *ts[lo:hi], t1]
    return all(b - a <= max_gap_s for a, b in zip(inner, inner[1:]))


def integrate_power(ts: Sequence[float], watts: Sequence[float], t0: float, t1: float) -> float:
    """Joules over [t0, t1] by the trapezoid rule, with the trace interpolated at both edges."""
    if t1 <= t0:
        return 0.0
    lo, hi = bisect_right(ts, t0), bisect_left(ts, t1)
    pts_t = [t0, *ts[lo:hi], t1]
    pts_w = [_interp(ts, watts, t0), *watts[lo:hi], _interp(ts, watts, t1)]
    return sum((pts_t[i + 1] - pts_t[i]) * (pts_w[i] + pts_w[i + 1]) / 2.0 for i in range(len(pts_t) - 1))


def counter_delta(ts: Sequence[float], joules: Sequence[float], t0: float, t1: float) -> float:
    """Joules over [t0, t1] from a cumulative (already wrap-corrected) energy counter."""
    return _interp(ts, joules, t1) - _interp(ts, joules, t0)


class PowerTrace:
    """Timestamped power or energy-counter samples; energy and mean power over any window."""

    def __init__(self, max_samples: int = 200_000) -> None:
        self.ts: list[float] = []
        self.values: list[float] = []
        self.is_counter: bool | None = None
        self.max_samples = max_samples

    def add(self, t: float, value: float, *, counter: bool) -> None:
        if self.is_counter is None:
            self.is_counter = counter
        if counter != self.is_counter or (self.ts and t <= self.ts[-1]):
            return
        self.ts.append(t)
        self.values.append(value)
        if len(self.ts) > self.max_samples:  # bounded: drop the oldest half at once
            cut = self.max_samples // 2
            del self.ts[:cut], self.values[:cut]

    def energy(self, t0: float, t1: float, max_gap_s: float) -> float | None:
        """Joules over [t0, t1], or None when the samples do not cover the window."""
        if not covers(self.ts, t0, t1, max_gap_s):
            return None
        if self.is_counter:
            return counter_delta(self.ts, self.values, t0, t1)
        return integrate_power(self.ts, self.values, t0, t1)

    def mean_power(self, t0: float, t1: float, max_gap_s: float) -> float | None:
        e = self.energy(t0, t1, max_gap_s)
        return None if e is None or t1 <= t0 else e / (t1 - t0)
