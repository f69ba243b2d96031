"""A run as `edgetui run --headless` starts it, in the core so that the command line only parses
and prints: the checks before anything is measured or launched, then the queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetui import __version__
from edgetui.errors import UserError
from edgetui.profiles.plan import expand
from edgetui.profiles.schema import Profile
from edgetui.run.modelfacts import read_model_facts
from edgetui.run.runner import Runner, StoreWriteError, run_sensors
from edgetui.rundir.store import RunStore


@dataclass
class RunOutcome:
    rows: list[dict[str, Any]]  # one results row per configuration this pass reached
    failed: int
    aborted: bool
    results_csv: Path


def check_new_folder(out: Path) -> None:
    """A new run never goes into a folder that holds one: never mix two runs, never overwrite one."""
    if RunStore(out).manifest_path.exists():
        raise UserError(f"already holds a run: continue it with `edgetui run --resume {out}`, "
                        f"or give another --out folder", where=str(out))


def check_before_launch(profiles: list[Profile], out: Path, *, sysfs_root: str | None,
                        power_source: str | None, progress: Callable[[str], None]) -> None:
    """What a detached run would refuse, refused here, where the user still reads it: a folder that
    takes no writes, a power source this machine lacks, a model file missing or not GGUF. No
    Runner is built: the detached process builds its own."""
    RunStore(out).check_writable()
    run_sensors(profiles, sysfs_root, power_source).close()
    read_model_facts([c for p in profiles for c in expand(p)], progress)


def run_headless(profiles: list[Profile], out: Path, *, resume: bool, sysfs_root: str | None,
                 power_source: str | None, say: Callable[[str], None]) -> RunOutcome:
    """Check, then run the queue into out, saying progress lines as they come."""
    runner = Runner(profiles, out, sysfs_root=sysfs_root, power_source=power_source, on_line=say, resume=resume)
    try:
        runner.prepare(progress=say)
    except BaseException:
        runner.sensors.close()
        raise
    say(f"edgetui {__version__}: {len(runner.configs)} configuration(s) -> {out}")
    say(f"power source: {runner.sensors.power_source_label}")
    try:
        failed = runner.run()
    except StoreWriteError as exc:
        raise UserError(str(exc)) from None
    return RunOutcome(rows=list(runner.rows.values()), failed=failed, aborted=runner.aborted,
                      results_csv=runner.store.csv_path)
