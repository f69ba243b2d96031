"""Following the sensor stream across its segments (samples.jsonl, samples.1.jsonl, ...: see
rundir.store): a JsonlTail on the segment being read, which moves on to the next one once that
one exists and this one is read to its end (the runner closes a segment, every line whole, before
it makes the next)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgetui.rundir.follow import MAX_READ_BYTES, JsonlTail
from edgetui.rundir.store import RunStore, samples_segment_name


class SamplesTail:
    """The new complete samples since the last read, whichever segment they are in."""

    def __init__(self, run_dir: str | Path, *, max_bytes: int = MAX_READ_BYTES) -> None:
        self.store = RunStore(run_dir)
        self.max_bytes = max_bytes
        self.n = 0  # the segment read now
        self.tail = JsonlTail(self.store.root / samples_segment_name(0), max_bytes=max_bytes)

    @property
    def path(self) -> Path:
        return self.tail.path

    @property
    def offset(self) -> int:
        return self.tail.offset

    @property
    def pending(self) -> bool:
        return self.tail.pending

    def _go_to(self, n: int) -> None:
        self.n = n
        self.tail = JsonlTail(self.store.root / samples_segment_name(n), max_bytes=self.max_bytes)

    def start_near_end(self, nbytes: int) -> None:
        """Skip all but about the last nbytes of the newest segment."""
        numbers = self.store.samples_segment_numbers()
        if numbers:
            self._go_to(numbers[-1])
        self.tail.start_near_end(nbytes)

    def read(self, skip: Callable[[bytes], bool] | None = None) -> list[dict[str, Any]]:
        numbers = self.store.samples_segment_numbers()  # listed first: a later segment seen means this one is whole
        if numbers and self.n < numbers[0]:  # ours was deleted (fallen far behind): the oldest kept
            self._go_to(numbers[0])
        out = self.tail.read(skip)
        while not self.tail.pending:
            later = [k for k in numbers if k > self.n]
            if not later:
                break
            self._go_to(later[0])
            out += self.tail.read(skip)
        return out
