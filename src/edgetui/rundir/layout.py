"""Where runs live: the user's data folder (or $EDGETUI_RUNS_DIR), one folder per run."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path


def default_runs_dir() -> Path:
    import platformdirs

    return Path(os.environ.get("EDGETUI_RUNS_DIR") or Path(platformdirs.user_data_dir("edgetui")) / "runs")


def new_run_dir(profile_names: list[str]) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = "+".join(profile_names)[:60].replace("/", "_")
    return default_runs_dir() / f"{stamp}-{name}"


# The files of a run folder, named here once (rundir.store's docstring says what each one holds).
MANIFEST = "run.json"
REPETITIONS = "repetitions.jsonl"
OUTCOMES = "configs.jsonl"
EVENTS = "events.jsonl"
SAMPLES = "samples.jsonl"
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
LOGS = "logs"
CONTROL = "control.json"
RUNNER_LOG = "runner.log"  # a detached runner's stdout and stderr
RUNNER_LOCK = "runner.lock"
CHILD = "child.json"  # the inference child at work: a resume refuses while it lives
SEEN_MARK = "console_seen"  # a console has shown this run's outcome once: not opened again at start


def is_run_folder(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()
