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
    """Timestamped power or energy-counter samples; energy and mean power over any window.

    The energy is kept as the samples come: each one's joules since the first (the trapezoid rule
    between power samples; a counter is its own), so a window's energy is the difference of two
    such values, found by bisection. Memory is bounded by thinning, not by dropping: past
    max_samples the older half is resampled to a coarser step (from the span it covers), the
    energy at the samples kept stays exact, and each interval keeps the longest gap between the
    real samples in it. A window
    opened long ago (a 20-minute repetition at 100 Hz) so keeps its energy, exact between the
    samples kept and interpolated within one interval at each edge, and its coverage check."""

    def __init__(self, max_samples: int = 200_000) -> None:
        self.ts: list[float] = []
        self.values: list[float] = []  # watts, or the counter's joules
        self.cum_j: list[float] = []  # joules from the first sample to each
        self.gap_s: list[float] = []  # the longest gap between real samples in (ts[i-1], ts[i]] (0 at i = 0)
        self.fine: list[bool] = []  # (ts[i-1], ts[i]] lost no sample to thinning: power is linear across it
        self.is_counter: bool | None = None
        self.max_samples = max(4, max_samples)

    def add(self, t: float, value: float, *, counter: bool) -> None:
        if self.is_counter is None:
            self.is_counter = counter
        if counter != self.is_counter or (self.ts and t <= self.ts[-1]):
            return
        if not self.ts:
            cum, gap = (value if counter else 0.0), 0.0
        else:
            gap = t - self.ts[-1]
            cum = value if counter else self.cum_j[-1] + gap * (self.values[-1] + value) / 2.0
        self.ts.append(t)
        self.values.append(value)
        self.cum_j.append(cum)
        self.gap_s.append(gap)
        self.fine.append(True)
        if len(self.ts) > self.max_samples:
            self._thin()

    def _thin(self) -> None:
        """Resample the older half to one sample per `step` at most (a step from the span it covers,
        so resolution follows the trace's length, never coarsening the oldest part alone), merging
        the intervals of the samples dropped; the newer half stays as sampled (short windows, the
        prefill's, are asked of it right after they close)."""
        ts, gap_s, fine = self.ts, self.gap_s, self.fine
        end = len(ts) - self.max_samples // 2  # the older part: [0, end]; end itself is kept
        step = 4.0 * (ts[end] - ts[0]) / self.max_samples  # about max_samples / 4 older samples left
        keep, gaps, fines = [0], [gap_s[0]], [fine[0]]
        acc_gap, acc_fine, last = 0.0, True, ts[0]
        for i in range(1, end + 1):
            acc_gap = max(acc_gap, gap_s[i])
            if ts[i] - last >= step or i == end:
                keep.append(i)
                gaps.append(acc_gap)
                fines.append(acc_fine and fine[i])
                acc_gap, acc_fine, last = 0.0, True, ts[i]
            else:
                acc_fine = False  # this sample goes: its interval is no longer one of linear power
        self.ts = [ts[k] for k in keep] + ts[end + 1:]
        self.values = [self.values[k] for k in keep] + self.values[end + 1:]
        self.cum_j = [self.cum_j[k] for k in keep] + self.cum_j[end + 1:]
        self.gap_s = gaps + gap_s[end + 1:]
        self.fine = fines + fine[end + 1:]

    def _cum_at(self, t: float) -> float:
        """Joules from the first sample to t: exact at a sample and across an interval that lost
        none (power linear between its samples), the interval's mean power across a thinned one."""
        ts, cum, vs = self.ts, self.cum_j, self.values
        i = bisect_left(ts, t)
        if i < len(ts) and ts[i] == t:
            return cum[i]
        if i == 0:  # before the first sample: its power held (a counter knows nothing before it)
            return cum[0] if self.is_counter else cum[0] - (ts[0] - t) * vs[0]
        if i >= len(ts):
            return cum[-1] if self.is_counter else cum[-1] + (t - ts[-1]) * vs[-1]
        t0, t1 = ts[i - 1], ts[i]
        frac = (t - t0) / (t1 - t0)
        if self.is_counter or not self.fine[i]:
            return cum[i - 1] + (cum[i] - cum[i - 1]) * frac
        w_t = vs[i - 1] + (vs[i] - vs[i - 1]) * frac
        return cum[i - 1] + (t - t0) * (vs[i - 1] + w_t) / 2.0

    def covers(self, t0: float, t1: float, max_gap_s: float) -> bool:
        """covers() over the samples as they were: a thinned interval is judged by the longest gap
        between the real samples it held."""
        ts = self.ts
        if len(ts) < 2 or ts[0] > t0 + max_gap_s or ts[-1] < t1 - max_gap_s:
            return False
        n = len(ts)
        lo, hi = bisect_right(ts, t0), bisect_left(ts, t1)

        def piece(a: float, b: float, interval: int) -> float:  # a part of interval (ts[k-1], ts[k]]
            return b - a if interval <= 0 or interval >= n else min(b - a, self.gap_s[interval])

        if lo >= hi:  # no sample inside the window
            return piece(t0, t1, lo) <= max_gap_s
        if piece(t0, ts[lo], lo) > max_gap_s or piece(ts[hi - 1], t1, hi) > max_gap_s:
            return False
        return hi - lo < 2 or max(self.gap_s[lo + 1:hi]) <= max_gap_s

    def energy(self, t0: float, t1: float, max_gap_s: float) -> float | None:
        """Joules over [t0, t1], or None when the samples do not cover the window."""
        if not self.covers(t0, t1, max_gap_s):
            return None
        if t1 <= t0:
            return 0.0
        return self._cum_at(t1) - self._cum_at(t0)

    def mean_power(self, t0: float, t1: float, max_gap_s: float) -> float | None:
        e = self.energy(t0, t1, max_gap_s)
        return None if e is None or t1 <= t0 else e / (t1 - t0)
