"""Where runs stand, read from their folders alone: one lister for `edgetui status`, for the
console's attach and resume offers at start, and for anyone after an SSH drop or a crash.

A run is running exactly while a runner holds its folder's lock (rundir.lock): a pid written in
run.json says nothing after a reboot, which may give it to anything. run.json's own status says how
the last runner ended: finished, aborted (by the user), crashed (an error of the runner's own,
summarised in run.json's "error"), or still "running" when it never got to say: interrupted."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import psutil

from edgetui.errors import UserError
from edgetui.rundir.events import ConfigEnd, ConfigStart, decode_event
from edgetui.rundir.layout import CHILD, MANIFEST, RUNNER_LOG, SEEN_MARK, default_runs_dir
from edgetui.rundir.lock import lock_holder
from edgetui.rundir.store import RunStore, read_jsonl

Alive = Callable[[int | None], bool]
RESUMABLE = ("interrupted", "crashed")  # a resume continues from the first repetition not on disk
CHILD_MODULE = "edgetui.run.inference"


def runner_alive(pid: int | None) -> bool:
    """True when pid is a live edgetui runner (not a recycled pid of something else)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return any("edgetui" in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def lock_only(pid: int | None) -> bool:
    """The listers' default `alive`: no pid is taken for a live runner. The lock, which read_state
    asks first, is the only sign of one; tests pass stand-ins of their own."""
    return False


def live_child(run_dir: str | Path) -> int | None:
    """The pid of the inference child child.json names, when that very process is still alive: the
    same pid, the same start time and an inference child's command line (not a recycled pid)."""
    try:
        rec = json.loads((Path(run_dir) / CHILD).read_text())
        pid, started = rec.get("pid"), rec.get("started")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if isinstance(started, (int, float)) and abs(proc.create_time() - started) > 0.05:
            return None
        return pid if any(CHILD_MODULE in part for part in proc.cmdline()) else None
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def refuse_live_child(run_dir: str | Path, doing: str) -> None:
    """UserError (exit 2) while the last runner's inference child still computes: whatever a new
    runner measured beside it would be slowed by it."""
    pid = live_child(run_dir)
    if pid is not None:
        raise UserError(f"cannot {doing}: the inference child pid {pid} of this run's last runner is still at "
                        f"work (its runner is gone; it stops at its next event). Wait for it to end, or "
                        f"`kill {pid}`, then try again", where=str(run_dir))


def effective_status(manifest: dict[str, Any], alive: Alive | None = None) -> str:
    """The manifest's status, except that "running" with its runner gone is "interrupted"."""
    status = str(manifest.get("status", "running"))
    if status == "running" and not (alive or runner_alive)(manifest.get("runner_pid")):
        return "interrupted"
    return status


@dataclass
class RunState:
    path: Path
    manifest: dict[str, Any] = field(repr=False)
    status: str  # running, finished, aborted, crashed, interrupted (runner gone before the end)
    pid: int | None

    @property
    def created(self) -> str | None:
        return self.manifest.get("created")

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE

    @property
    def error(self) -> str | None:
        """A crashed run's error, in one line."""
        err = self.manifest.get("error")
        return str(err) if err and self.status == "crashed" else None

    @property
    def seen(self) -> bool:
        """A console has shown this run's end once."""
        return (self.path / SEEN_MARK).exists()

    @property
    def console_started(self) -> bool:
        """Started by a console (or --detach): a detached runner writes its own log."""
        return (self.path / RUNNER_LOG).exists()

    @property
    def n_configs(self) -> int:
        return len(self.manifest.get("configs", []))

    @cached_property
    def outcomes(self) -> dict[str, dict[str, Any]]:
        return RunStore(self.path).config_statuses()

    @property
    def n_done(self) -> int:
        return len(self.outcomes)

    @property
    def n_failed(self) -> int:
        return sum(1 for o in self.outcomes.values() if o.get("status") == "failed")

    @cached_property
    def current(self) -> str | None:
        """The configuration in progress, from the events (read only when asked: `edgetui status`)."""
        current = None
        for rec in read_jsonl(RunStore(self.path).events_path):
            ev = decode_event(rec)
            if isinstance(ev, ConfigStart):
                current = ev.describe
            elif isinstance(ev, ConfigEnd):
                current = None
        return current

    def line(self) -> str:
        prog = f"{self.n_done}/{self.n_configs} configurations"
        if self.n_failed:
            prog += f" ({self.n_failed} failed)"
        extra = f", now: {self.current}" if self.status == "running" and self.current else ""
        hint = f"  -> edgetui run --resume {self.path}" if self.resumable else ""
        pid = f" pid {self.pid}" if self.status == "running" else ""
        error = f" ({self.error}; traceback in runner.log)" if self.error else ""
        return f"{self.path.name}: {self.status}{error}{pid}, {prog}{extra}{hint}"


def read_state(path: str | Path, alive: Alive = lock_only) -> RunState | None:
    """The state of one run folder, or None when it is not one (no manifest, unreadable, incompatible).
    Running while its lock is held; `alive` is asked of run.json's pid only when it is not."""
    manifest = RunStore(path).manifest_or_none()
    if manifest is None:
        return None
    holder = lock_holder(path)
    if holder is not None:  # a runner holds the folder, whatever run.json said last
        return RunState(path=Path(path), manifest=manifest, status="running", pid=holder.pid or manifest.get("runner_pid"))
    return RunState(path=Path(path), manifest=manifest, status=effective_status(manifest, alive),
                    pid=manifest.get("runner_pid"))


def run_state(path: str | Path, alive: Alive = lock_only) -> RunState:
    state = read_state(path, alive)
    if state is None:
        RunStore(path).read_manifest()  # says why: unreadable or incompatible
        raise UserError(f"not a run folder (no {MANIFEST})", where=str(path))
    return state


def list_runs(root: str | Path | None = None, limit: int = 20, alive: Alive = lock_only) -> list[RunState]:
    """The newest runs under the runs folder (default: the user's), newest first: by the time each
    run was created (its manifest says), then by folder name (names start with a timestamp)."""
    base = Path(root) if root else default_runs_dir()
    try:
        dirs = [d for d in base.iterdir() if (d / MANIFEST).is_file()]
    except OSError:
        return []
    states = [s for s in (read_state(d, alive) for d in dirs) if s is not None]
    states.sort(key=lambda s: (s.created or "", s.path.name), reverse=True)
    return states[:limit]


def run_to_open(runs_dir: str | Path, alive: Alive = lock_only) -> RunState | None:
    """What `edgetui` shows first, before the queue: a run in progress (attach), else the newest run
    if the console has not shown its end yet: interrupted or crashed (to offer a resume), or finished
    after the console that started it went away (an SSH drop)."""
    runs = list_runs(runs_dir, alive=alive)
    for r in runs:
        if r.status == "running":
            return r
    if runs and not runs[0].seen:
        newest = runs[0]
        if newest.resumable or (newest.status in ("finished", "aborted") and newest.console_started):
            return newest
    return None


def mark_seen(run_dir: str | Path) -> None:
    try:
        (Path(run_dir) / SEEN_MARK).touch()
    except OSError:
        pass  # a read-only results folder: we will offer it again, nothing worse
