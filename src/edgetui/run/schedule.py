"""Which repetition a configuration runs next, and when it has run enough.

The runner asks its configuration's schedule for the next (rep, warmup) step and tells it each
counted repetition's row, so a rule that stops on the data (an interval precise enough, a time
window filled) is one class here and not a change to the runner's loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgetui.profiles.plan import Configuration


@dataclass(frozen=True)
class Step:
    rep: int
    warmup: bool


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


def schedule_for(c: Configuration, done: set[int]) -> Schedule:
    """The schedule of configuration c, given the counted repetitions a earlier pass recorded."""
    return FixedSchedule(warmup=c.warmup, repetitions=c.repetitions, done=set(done))
