"""Where a run stands, read from its folder alone: for `edgetui status`, for the console's
attach and resume offers, and for anyone after an SSH drop or a crash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from edgetui.errors import UserError
from edgetui.rundir.lock import lock_holder
from edgetui.rundir.store import RunStore, read_jsonl


@dataclass
class RunState:
    path: Path
    status: str  # running, finished, aborted, interrupted (runner gone before the end)
    pid: int | None
    created: str | None
    n_configs: int
    n_done: int
    n_failed: int
    current: str | None  # the configuration in progress
    last_event: dict | None

    @property
    def resumable(self) -> bool:
        return self.status == "interrupted"

    def line(self) -> str:
        prog = f"{self.n_done}/{self.n_configs} configurations"
        if self.n_failed:
            prog += f" ({self.n_failed} failed)"
        extra = f", now: {self.current}" if self.status == "running" and self.current else ""
        hint = f"  -> edgetui run --resume {self.path}" if self.resumable else ""
        pid = f" pid {self.pid}" if self.status == "running" else ""
        return f"{self.path.name}: {self.status}{pid}, {prog}{extra}{hint}"


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


def effective_status(manifest: dict, alive=None) -> str:
    """The manifest's status, except that "running" with its runner gone is "interrupted"."""
    status = str(manifest.get("status", "running"))
    if status == "running" and not (alive or runner_alive)(manifest.get("runner_pid")):
        return "interrupted"
    return status


def run_state(path: str | Path) -> RunState:
    store = RunStore(path)
    manifest = store.read_manifest()
    if manifest is None:
        raise UserError("not a run folder (no run.json)", where=str(path))
    pid = manifest.get("runner_pid")
    status = effective_status(manifest)
    holder = lock_holder(path)
    if holder is not None:  # a runner holds the folder, whatever run.json said last
        status, pid = "running", holder.pid or pid
    outcomes = store.config_statuses()
    current = None
    last = None
    for ev in read_jsonl(store.events_path):
        last = ev
        if ev["ev"] == "config_start":
            current = ev.get("describe")
        elif ev["ev"] == "config_end":
            current = None
    return RunState(
        path=Path(path), status=status, pid=pid, created=manifest.get("created"),
        n_configs=len(manifest.get("configs", [])), n_done=len(outcomes),
        n_failed=sum(1 for o in outcomes.values() if o.get("status") == "failed"),
        current=current, last_event=last,
    )


def list_runs(root: str | Path | None = None, limit: int = 20) -> list[RunState]:
    """The newest runs under the runs folder (default: the user's)."""
    from edgetui.rundir.layout import default_runs_dir

    base = Path(root) if root else default_runs_dir()
    if not base.is_dir():
        return []
    dirs = sorted((d for d in base.iterdir() if (d / "run.json").is_file()),
                  key=lambda d: d.stat().st_mtime, reverse=True)
    states = []
    for d in dirs[:limit]:
        try:
            states.append(run_state(d))
        except UserError:
            continue
    return states
