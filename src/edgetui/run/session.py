"""The console's side of a run: follow a run folder (its runner started as a detached process by
the console, or found at work by rundir.state's lister) and resume it. No Textual here.

The runner is started in its own session (start_new_session), with no terminal on its stdin or
stdout, so a dropped SSH connection, which hangs up the console's session, never reaches it."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from edgetui.run.child import describe_exit, tail_lines
from edgetui.run.launch import launch_runner
from edgetui.rundir.control import ControlPoller
from edgetui.rundir.events import RAW_PROGRESS
from edgetui.rundir.follow import SAMPLES_TAIL_BYTES, JsonlTail, LiveState
from edgetui.rundir.history import board_history
from edgetui.rundir.layout import RUNNER_LOG
from edgetui.rundir.lock import Holder, lock_holder
from edgetui.rundir.samples import Sample
from edgetui.rundir.samples_tail import SamplesTail
from edgetui.rundir.state import lock_only
from edgetui.rundir.store import RunStore

BACKLOG_BYTES = 64 << 10  # more unread than this: a late attach, skip old progress events unparsed
LIVENESS_PERIOD_S = 1.0

# Whether run.json's runner pid is a live runner, asked once the folder's lock is free: never, as
# for `edgetui status` (a runner at work holds the lock; a pid may be recycled). Tests pass stand-ins.
pid_alive = lock_only


@dataclass
class FollowBatch:
    """What one read of a run folder found."""

    manifest: dict[str, Any] | None = None  # run.json, when it changed
    events: list[dict[str, Any]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    gone: str | None = None  # the runner is gone: how (its exit, or its pid)
    log_tail: str = ""  # then, the end of its log

    @property
    def empty(self) -> bool:
        return self.manifest is None and not self.events and not self.samples and self.gone is None


class RunFollower:
    """One run folder followed from the console: its events and samples folded into a LiveState,
    its manifest re-read when it changes, and its runner watched for an unexpected death."""

    def __init__(self, run_dir: str | Path, *, process: subprocess.Popen | None = None, attach: bool = False,
                 alive: Callable[[int | None], bool] = pid_alive,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run_dir = Path(run_dir)
        self.process = process
        self.alive = alive
        self.clock = clock
        self.store = RunStore(self.run_dir)
        self.events = JsonlTail(self.store.events_path)
        self.samples = SamplesTail(self.run_dir)
        if attach:
            self.samples.start_near_end(SAMPLES_TAIL_BYTES)
        self.state = LiveState()
        # the ETA before this run has rates of its own: the board's earlier runs beside this one
        self.state.history_source = lambda: board_history(self.run_dir.parent, exclude=self.run_dir)
        self.died: str | None = None  # why the runner is gone though the run did not end
        self._died_of_crash = False  # died says the run crashed (its end event), rather than that its runner vanished
        self._manifest_mtime: float | None = None
        self._manifest_read: dict[str, Any] = {}  # the reader's own copy: the state's is the drawing loop's
        self._last_liveness = -1e9
        self.control = ControlPoller.of(self.run_dir)
        self._reading = threading.Lock()  # one reader of the tails at a time
        self._fetched: queue.SimpleQueue[FollowBatch] = queue.SimpleQueue()

    @property
    def ended(self) -> bool:
        return self.state.run_end is not None or self.state.manifest.get("status") in ("finished", "aborted")

    @property
    def active(self) -> bool:
        """The runner is (as far as we know) still working through the queue."""
        return not self.ended and self.died is None

    @property
    def runner_pid(self) -> int | None:
        if self.process is not None:
            return self.process.pid
        return self.state.manifest.get("runner_pid")

    # The console reads in its follow worker's thread (read, then fetch's queue) and folds what was
    # read on its event loop (take): file reading and JSON decoding never hold up a frame, and the
    # state the screens draw is only ever changed by the loop that draws it.
    def read(self) -> FollowBatch:
        """What is new on disk since the last read: the manifest when it changed, the events and
        samples completed since, and whether the runner has gone (checked once a second)."""
        with self._reading:
            batch = FollowBatch(manifest=self._changed_manifest())
            self._read_files(batch)
            now = self.clock()
            if self.active and now - self._last_liveness >= LIVENESS_PERIOD_S:
                self._last_liveness = now
                gone = self._runner_gone()
                if gone is not None:
                    # it may have written its last lines just before exiting
                    batch.manifest = self._changed_manifest() or batch.manifest
                    self._read_files(batch)
                    batch.gone, batch.log_tail = gone, tail_lines(self.run_dir / RUNNER_LOG)
            return batch

    def apply(self, batch: FollowBatch) -> None:
        """Fold a batch into the state (on the loop that draws it)."""
        if batch.manifest is not None:
            self.state.set_manifest(batch.manifest)
        self.state.feed_events(batch.events)
        self.state.feed_samples(batch.samples)
        end = self.state.run_end
        crashed = end is not None and end.status == "crashed"
        if end is not None and crashed and self.died is None:  # ended, but to be resumed like an interrupted run
            self.died = f"the runner crashed: {end.error or 'an unexpected error'} (traceback in {RUNNER_LOG})"
            self._died_of_crash = True
            self.state.add_log(self.died, "error")
            self.state.changed = True
        elif self._died_of_crash and not crashed:  # resumed since (from here or elsewhere): at work again
            self.died, self._died_of_crash = None, False
            self.state.changed = True
        if batch.gone is not None and not self.ended and self.died is None:
            tail = batch.log_tail
            self.died = f"the runner stopped before the queue ended ({batch.gone})" + (f"\n{tail}" if tail else "")
            self.state.add_log(f"runner stopped unexpectedly ({batch.gone})", "error")
            for line in tail.splitlines()[-6:]:
                self.state.add_log(f"  {line}", "error")
            self.state.changed = True

    def fetch(self) -> bool:
        """read() into the queue that take() empties, for a thread other than the drawing one;
        True when something new was found."""
        batch = self.read()
        self._fetched.put(batch)
        return not batch.empty

    def take(self) -> bool:
        """Apply every batch fetched so far; True when the state changed."""
        while True:
            try:
                self.apply(self._fetched.get_nowait())
            except queue.Empty:
                break
        return self._changed()

    def poll(self) -> bool:
        """Read and fold whatever is new, on this thread; True when the state changed."""
        self.apply(self.read())
        return self._changed()

    def _changed(self) -> bool:
        changed = self.state.changed
        self.state.changed = False
        return changed

    def _changed_manifest(self) -> dict[str, Any] | None:
        try:
            mtime = self.store.manifest_path.stat().st_mtime
        except OSError:
            return None
        if mtime == self._manifest_mtime:
            return None
        m = self.store.manifest_or_none()
        if m is not None:
            self._manifest_mtime, self._manifest_read = mtime, m
        return m

    def _read_files(self, batch: FollowBatch) -> None:
        try:
            backlog = self.events.path.stat().st_size - self.events.offset > BACKLOG_BYTES
        except OSError:
            backlog = False
        skip = (lambda raw: RAW_PROGRESS in raw) if backlog else None
        batch.events += self.events.read(skip=skip)
        batch.samples += cast("list[Sample]", self.samples.read())

    def _runner_gone(self) -> str | None:
        """How the runner went (its exit, or its pid gone), or None while it is at work."""
        if self.process is not None:
            code = self.process.poll()
            return describe_exit(code) if code is not None else None
        pid = self._manifest_read.get("runner_pid")
        if pid is None:
            return None  # not started far enough to have written its manifest
        if lock_holder(self.run_dir) is not None:
            return None  # a runner holds the folder (one resumed elsewhere may not have rewritten run.json yet)
        return None if self.alive(pid) else f"pid {pid} is gone"

    @property
    def pause_requested(self) -> bool:
        """What control.json asks for now (written by this console or another one)."""
        return self.control.poll().pause

    def resume(self, sysfs_root: str | None = None) -> Holder | None:
        """Continue this run from the first repetition not on disk: start a runner, or follow the one
        already at work here (resumed from another terminal or console) rather than start a second.
        Returns that runner, or None when one was started."""
        from edgetui.rundir.control import write_control

        holder = lock_holder(self.run_dir)
        if holder is not None:
            self.process = None
            self.died = None
            self.state.run_end = None
            self.state.add_log(f"{holder.describe()} is already at work on this run: following it", "warn")
            return holder
        write_control(self.run_dir, abort=False, pause=False)  # an old request must not stop the new runner
        self.process = launch_runner([], self.run_dir, sysfs_root=sysfs_root, resume=True)
        self.died = None
        self.state.run_end = None
        self.state.add_log("resuming the run", "ok")
        return None
