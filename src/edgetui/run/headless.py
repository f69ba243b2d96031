"""A run as `edgetui run --headless` starts it, in the core so that the command line only parses
and prints: the checks before anything is measured or launched, then the queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetui import __version__
from edgetui.errors import EXIT_FAILED_CONFIGS, UserError
from edgetui.profiles.plan import expand_all
from edgetui.profiles.schema import Profile
from edgetui.run.metrics import MetricsExporter, MetricsOptions
from edgetui.run.modelfacts import read_model_facts
from edgetui.run.runner import RunCrashed, Runner, StoreWriteError, run_sensors
from edgetui.rundir.lock import FolderBusy, lock_holder
from edgetui.rundir.state import refuse_live_child
from edgetui.rundir.store import RunStore


@dataclass
class RunOutcome:
    rows: list[dict[str, Any]]  # one results row per configuration this pass reached
    failed: int
    aborted: bool
    results_csv: Path


def check_not_busy(out: Path, *, resume: bool) -> None:
    """Refuse at once, before any model is read, a folder whose runner is alive (its lock is held)."""
    doing = "resume this run" if resume else "start a run in this folder"
    holder = lock_holder(out)
    if holder is not None:
        raise FolderBusy(out, holder, doing)
    refuse_live_child(out, doing)


class CrashReported(UserError):
    """The runner crashed (RunCrashed): said in one line, exit code 1 (the queue did not end)."""

    exit_code = EXIT_FAILED_CONFIGS


def check_new_folder(out: Path) -> None:
    """A new run never goes into a folder that holds one: never mix two runs, never overwrite one."""
    check_not_busy(out, resume=False)
    if RunStore(out).manifest_path.exists():
        raise UserError(f"already holds a run: continue it with `edgetui run --resume {out}`, "
                        f"or give another --out folder", where=str(out))


def check_before_launch(profiles: list[Profile], out: Path, *, resume: bool, sysfs_root: str | None,
                        power_source: str | None, progress: Callable[[str], None],
                        metrics: MetricsOptions | None = None) -> None:
    """What a detached run would refuse, refused here, where the user still reads it: a folder whose
    runner is alive or that takes no writes, a power source this machine lacks, a model file missing
    or not GGUF, a metrics file or port it cannot have. No Runner is built: the detached process
    builds its own (and takes the lock)."""
    check_not_busy(out, resume=resume)
    if metrics is not None:
        metrics.check(port_free=True)
    RunStore(out).check_writable()
    run_sensors(profiles, sysfs_root, power_source).close()
    read_model_facts(expand_all(profiles), progress)


def run_headless(profiles: list[Profile], out: Path, *, resume: bool, sysfs_root: str | None,
                 power_source: str | None, say: Callable[[str], None],
                 metrics: MetricsOptions | None = None) -> RunOutcome:
    """Check, then run the queue into out, saying progress lines as they come; with metrics, its
    live figures exported for Prometheus while it runs."""
    if metrics is not None:
        metrics.check()
    runner = Runner(profiles, out, sysfs_root=sysfs_root, power_source=power_source, on_line=say, resume=resume)
    exporter = None
    try:
        runner.prepare(progress=say)
        if metrics is not None:
            exporter = MetricsExporter(out, metrics).start()
    except BaseException:
        runner.sensors.close()
        raise
    say(f"edgetui {__version__}: {len(runner.configs)} configuration(s) -> {out}")
    if metrics is not None:
        say("metrics: " + ", ".join(w for w in (metrics.textfile and f"{metrics.textfile} (every second)",
                                               metrics.port and f"http://127.0.0.1:{metrics.port}/metrics") if w))
    try:
        failed = runner.run()
    except StoreWriteError as exc:
        raise UserError(str(exc)) from None
    except RunCrashed as exc:
        raise CrashReported(str(exc)) from None
    finally:
        if exporter is not None:
            exporter.stop()
            if exporter.write_error:
                say(f"note: the metrics file could not be written: {exporter.write_error}")
    return RunOutcome(rows=list(runner.rows.values()), failed=failed, aborted=runner.aborted,
                      results_csv=runner.store.csv_path)
