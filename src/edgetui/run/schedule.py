"""Which repetition a configuration runs next, and when it has run enough.

The runner asks its configuration's schedule for the next (rep, warmup) step and tells it each
counted repetition's row, so a rule that stops on the data (an interval precise enough, a time
window filled) is one class here and not a change to the runner's loop."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgetui.profiles.plan import Configuration
from edgetui.run.soak import SOAK_TAG
from edgetui.stats import ci95_half_width, clean


@dataclass(frozen=True)
class Step:
    rep: int
    warmup: bool
    # fields the step's repetition record carries besides its figures (a soak's window)
    tags: Mapping[str, Any] = field(default_factory=dict)


class Schedule(Protocol):
    @property
    def planned(self) -> int | None:
        """The counted repetitions planned, or None when the rule decides as it goes."""
        ...

    def steps(self) -> Iterator[Step]:
        """The steps still to run; the generator may look at what `record` was told before it yields
        the next one."""
        ...

    def record(self, step: Step, row: dict[str, Any]) -> None:
        """A step has run; `row` is its repetition record (warm-ups too)."""
        ...


@dataclass
class FixedSchedule:
    """The configuration's warm-ups, then each of its repetitions not already on disk (resume)."""

    warmup: int
    repetitions: int
    done: set[int] = field(default_factory=set)

    @property
    def planned(self) -> int | None:
        return self.repetitions

    def steps(self) -> Iterator[Step]:
        for i in range(self.warmup):
            yield Step(i, True)
        for i in range(self.repetitions):
            if i not in self.done:
                yield Step(i, False)

    def record(self, step: Step, row: dict[str, Any]) -> None:
        pass


@dataclass
class SoakSchedule:
    """A soak: the warm-ups, then counted repetitions back to back until soak_s seconds have passed
    since the first one started (the window; no cool-down between them); as many as fit.

    A soak's figures come from one continuous window, so a resumed soak starts again from its
    beginning: its repetitions are numbered on from the last one on disk (never taken for copies of
    them) and tagged with the number of the first (run.soak.SOAK_TAG), by which the aggregation
    counts the last window only."""

    warmup: int
    soak_s: float
    done: set[int] = field(default_factory=set)
    window_start: float | None = None  # the first counted repetition's start (monotonic)
    last_end: float | None = None  # the latest counted repetition's end

    planned: int | None = None  # decided as it goes

    def steps(self) -> Iterator[Step]:
        for i in range(self.warmup):
            yield Step(i, True)
        first = max(self.done) + 1 if self.done else 0
        tags = {SOAK_TAG: first}
        rep = first
        while True:
            yield Step(rep, False, tags)
            rep += 1
            if self.window_start is None or self.last_end is None \
                    or self.last_end - self.window_start >= self.soak_s:
                return  # the window is full (or the repetition gave no times to go on with)

    def record(self, step: Step, row: dict[str, Any]) -> None:
        if step.warmup:
            return
        start, end = row.get("t_start"), row.get("t_end")
        if isinstance(start, (int, float)) and self.window_start is None:
            self.window_start = float(start)
        self.last_end = float(end) if isinstance(end, (int, float)) else None


def precise_enough(values: Iterable[float | None], target_ci_pct: float) -> bool:
    """The 95% half-width of the mean of these values is under target_ci_pct percent of the mean
    (False with fewer than two values: no interval yet)."""
    vs = clean(values)
    half = ci95_half_width(vs)
    if half is None:
        return False
    m = sum(vs) / len(vs)
    return m != 0 and half < target_ci_pct / 100.0 * abs(m)


@dataclass
class AutoSchedule:
    """repetitions = "auto" ([stats]): the warm-ups, then repetitions until the decode rate's 95%
    half-width is under target_ci_pct percent of its mean (looked at from min_repetitions on), or
    max_repetitions. Counted repetitions already on disk (resume) count towards the rule; a
    configuration they already settle runs nothing, not even its warm-ups."""

    warmup: int
    min_repetitions: int
    max_repetitions: int
    target_ci_pct: float
    decode_tps: dict[int, float | None] = field(default_factory=dict)  # counted repetition -> its decode rate

    @property
    def planned(self) -> int | None:
        return None  # decided as it goes (at most max_repetitions)

    def settled(self) -> bool:
        n = len(self.decode_tps)
        return n >= self.max_repetitions or (
            n >= self.min_repetitions and precise_enough(self.decode_tps.values(), self.target_ci_pct))

    def steps(self) -> Iterator[Step]:
        if self.settled():
            return
        for i in range(self.warmup):
            yield Step(i, True)
        i = 0
        while not self.settled():
            while i in self.decode_tps:
                i += 1
            yield Step(i, False)  # `record` is told its row before the loop looks again
            i += 1

    def record(self, step: Step, row: dict[str, Any]) -> None:
        if not step.warmup:
            self.decode_tps[step.rep] = row.get("decode_tps")


def schedule_for(c: Configuration, done: Mapping[int, dict[str, Any]]) -> Schedule:
    """The schedule of configuration c, given the counted repetitions an earlier pass recorded
    (repetition index -> its row)."""
    if c.soak_s is not None:
        return SoakSchedule(warmup=c.warmup, soak_s=c.soak_s, done=set(done))
    if c.target_ci_pct is not None:
        return AutoSchedule(warmup=c.warmup, min_repetitions=c.min_repetitions or 1, max_repetitions=c.repetitions,
                            target_ci_pct=c.target_ci_pct,
                            decode_tps={i: r.get("decode_tps") for i, r in done.items()})
    return FixedSchedule(warmup=c.warmup, repetitions=c.repetitions, done=set(done))
