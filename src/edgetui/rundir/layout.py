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
