"""The console's side of a run: follow a run folder (its runner started as a detached process by
the console, or found at work by rundir.state's lister) and resume it. No Textual here.

The runner is started in its own session (start_new_session), with no terminal on its stdin or
stdout, so a dropped SSH connection, which hangs up the console's session, never reaches it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from edgetui.run.child import describe_exit, tail_lines
from edgetui.run.launch import launch_runner
from edgetui.rundir.control import Control
from edgetui.rundir.events import RAW_PROGRESS
from edgetui.rundir.follow import SAMPLES_TAIL_BYTES, JsonlTail, LiveState
from edgetui.rundir.layout import RUNNER_LOG
from edgetui.rundir.lock import Holder, lock_holder
from edgetui.rundir.samples import Sample
from edgetui.rundir.state import runner_alive
from edgetui.rundir.store import RunStore

BACKLOG_BYTES = 64 << 10  # more unread than this: a late attach, skip old progress events unparsed
LIVENESS_PERIOD_S = 1.0

# A live edgetui runner with this pid (not a zombie, not a stranger that reused the pid): the
# same check as `edgetui status`.
pid_alive = runner_alive


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
        self.samples = JsonlTail(self.store.samples_path)
        if attach:
            self.samples.start_near_end(SAMPLES_TAIL_BYTES)
        self.state = LiveState()
        self.died: str | None = None  # why the runner is gone though the run did not end
        self._manifest_mtime: float | None = None
        self._last_liveness = -1e9
        self.control = Control.of(self.run_dir)

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

    def poll(self) -> bool:
        """Read whatever is new; True when the state changed."""
        self._read_manifest()
        self._read_files()
        now = self.clock()
        if self.active and now - self._last_liveness >= LIVENESS_PERIOD_S:
            self._last_liveness = now
            self._check_runner()
        changed = self.state.changed
        self.state.changed = False
        return changed

    def _read_manifest(self) -> None:
        try:
            mtime = self.store.manifest_path.stat().st_mtime
        except OSError:
            return
        if mtime != self._manifest_mtime:
            m = self.store.manifest_or_none()
            if m is not None:
                self._manifest_mtime = mtime
                self.state.set_manifest(m)

    def _read_files(self) -> None:
        try:
            backlog = self.events.path.stat().st_size - self.events.offset > BACKLOG_BYTES
        except OSError:
            backlog = False
        skip = (lambda raw: RAW_PROGRESS in raw) if backlog else None
        self.state.feed_events(self.events.read(skip=skip))
        self.state.feed_samples(cast("list[Sample]", self.samples.read()))

    def _check_runner(self) -> None:
        if self.process is not None:
            code = self.process.poll()
            gone = code is not None
        else:
            pid = self.state.manifest.get("runner_pid")
            if pid is None:
                return  # not started far enough to have written its manifest
            if lock_holder(self.run_dir) is not None:
                return  # a runner holds the folder (one resumed elsewhere may not have rewritten run.json yet)
            code = None
            gone = not self.alive(pid)
        if not gone:
            return
        # it may have written its last lines just before exiting
        self._read_manifest()
        self._read_files()
        if self.ended:
            return
        how = describe_exit(code) if code is not None else f"pid {self.runner_pid} is gone"
        tail = tail_lines(self.run_dir / RUNNER_LOG)
        self.died = f"the runner stopped before the queue ended ({how})" + (f"\n{tail}" if tail else "")
        self.state.add_log(f"runner stopped unexpectedly ({how})", "error")
        for line in tail.splitlines()[-6:]:
            self.state.add_log(f"  {line}", "error")
        self.state.changed = True

    @property
    def pause_requested(self) -> bool:
        """What control.json asks for now (written by this console or another one)."""
        return bool(self.control.poll().get("pause"))

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
