"""Time series for the live panes, in bounded memory whatever the run's length.

A Series keeps at most `max_points` (t, value) points: when full, neighbouring points are merged in
pairs (mean time, mean value) and later points are gathered in buckets of twice the size, so a run
of hours keeps its whole shape at a coarser step and the console's memory stays flat. LiveSeries
holds two of them per quantity: the configuration in flight (cleared when the next one starts)
and the run so far. No Textual here: the live screen only draws what these hold."""

from __future__ import annotations

from collections.abc import Iterator

MAX_POINTS = 240  # per series: more than a pane is wide in cells

# What LiveState follows over time: key -> (what it is, unit), for the plots' axis titles.
QUANTITIES: dict[str, tuple[str, str]] = {
    "decode": ("decode", "tok/s"),
    "prefill": ("prefill", "tok/s"),
    "power": ("power", "W"),
    "temp": ("hottest zone", "°C"),
    "rss": ("inference RSS", "MB"),
    "rep_decode": ("decode per repetition", "tok/s"),  # at each counted repetition's start (a soak's curve)
}


class Series:
    def __init__(self, max_points: int = MAX_POINTS) -> None:
        if max_points < 2 or max_points % 2:
            raise ValueError("max_points must be an even number of at least 2")
        self.max_points = max_points
        self.t: list[float] = []
        self.v: list[float] = []
        self.bucket = 1  # samples merged into each point
        self._acc_t = 0.0
        self._acc_v = 0.0
        self._acc_n = 0
        self.version = 0  # bumped on every change: the screen redraws a plot only when it moved

    def __len__(self) -> int:
        return len(self.t) + (1 if self._acc_n else 0)

    def add(self, t: float, v: float) -> None:
        self._acc_t += t
        self._acc_v += v
        self._acc_n += 1
        self.version += 1
        if self._acc_n < self.bucket:
            return
        self.t.append(self._acc_t / self._acc_n)
        self.v.append(self._acc_v / self._acc_n)
        self._acc_t = self._acc_v = 0.0
        self._acc_n = 0
        if len(self.t) >= self.max_points:
            self.t = [(a + b) / 2 for a, b in zip(self.t[::2], self.t[1::2])]
            self.v = [(a + b) / 2 for a, b in zip(self.v[::2], self.v[1::2])]
            self.bucket *= 2

    def clear(self) -> None:
        self.t.clear()
        self.v.clear()
        self.bucket = 1
        self._acc_t = self._acc_v = 0.0
        self._acc_n = 0
        self.version += 1

    def points(self) -> tuple[list[float], list[float]]:
        """Times and values, the bucket still filling included (its mean so far)."""
        if not self._acc_n:
            return list(self.t), list(self.v)
        return [*self.t, self._acc_t / self._acc_n], [*self.v, self._acc_v / self._acc_n]

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(zip(*self.points()))


class LiveSeries:
    """One quantity over the configuration in flight and over the run so far."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.config = Series(max_points)
        self.run = Series(max_points)

    def add(self, t: float | None, v: float | None) -> None:
        if t is None or v is None:  # a missing reading is a gap, never a zero
            return
        self.config.add(t, v)
        self.run.add(t, v)

    def new_config(self) -> None:
        self.config.clear()
