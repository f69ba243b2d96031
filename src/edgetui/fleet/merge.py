"""Every host's rows in one table: FLEET_RUN/results.csv and results.json, each row with its
inventory host in `fleet_host` (two identical boards stay apart) and its mirror folder as its
`source` (a column of the merged CSV too), so that `edgetui rank FLEET_RUN` and `edgetui results
FLEET_RUN` rank the fleet as one, each row identified by its source and config_id as always."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgetui.rundir.store import RESULT_COLUMNS, SCHEMA_VERSION, RunStore, atomic_write, rows_to_csv

MERGED_COLUMNS = [*RESULT_COLUMNS, "source"]


def run_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of a (mirrored) run folder's results.json; [] when it has none yet or was written
    by an incompatible edgetui."""
    try:
        data = json.loads(RunStore(run_dir).json_path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        return []
    return [r for r in data.get("rows") or [] if isinstance(r, dict)]


def host_rows(fleet_dir: Path, host: str) -> list[dict[str, Any]]:
    """The rows of one host's mirrored run, marked with the host."""
    mirror = fleet_dir / host
    return [{**row, "fleet_host": host, "source": str(mirror)} for row in run_rows(mirror)]


def merge(fleet_dir: str | Path, hosts: list[str]) -> list[dict[str, Any]]:
    """Write the merged table (hosts in inventory order) and return its rows."""
    fleet_dir = Path(fleet_dir)
    rows = [row for host in hosts for row in host_rows(fleet_dir, host)]
    store = RunStore(fleet_dir)
    atomic_write(store.csv_path, rows_to_csv(rows, MERGED_COLUMNS))
    atomic_write(store.json_path, json.dumps({"schema": SCHEMA_VERSION, "columns": MERGED_COLUMNS, "rows": rows},
                                             indent=1, default=str))
    return rows
