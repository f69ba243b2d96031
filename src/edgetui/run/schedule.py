"""Which repetition a configuration runs next, and when it has run enough.

The runner asks its configuration's schedule for the next (rep, warmup) step and tells it each
counted repetition's row, so a rule that stops on the data (an interval precise enough, a time
window filled) is one class here and not a change to the runner's loop."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgetui.profiles.plan import Configuration
from edgetui.run.soak import SOAK_TAG


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


def schedule_for(c: Configuration, done: set[int]) -> Schedule:
    """The schedule of configuration c, given the counted repetitions a earlier pass recorded."""
    if c.soak_s is not None:
        return SoakSchedule(warmup=c.warmup, soak_s=c.soak_s, done=set(done))
    return FixedSchedule(warmup=c.warmup, repetitions=c.repetitions, done=set(done))
