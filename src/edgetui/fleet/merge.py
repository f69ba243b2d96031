"""Every host's rows in one table: FLEET_RUN/results.csv and results.json, each row with its
inventory host in `fleet_host` (two identical boards stay apart) and its mirror folder as its
`source` (a column of the merged CSV too), so that `edgetui rank FLEET_RUN` and `edgetui results
FLEET_RUN` rank the fleet as one, each row identified by its source and config_id as always."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edgetui.rundir.columns import COLUMN_KINDS, typed_value
from edgetui.rundir.store import RESULT_COLUMNS, SCHEMA_VERSION, RunStore, atomic_write, rows_to_csv

MERGED_COLUMNS = [*RESULT_COLUMNS, "source"]


def run_rows(run_dir: Path, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of a (mirrored) run folder's results.json, each value as its column's type; []
    when it has none yet or was written by an incompatible edgetui. A row that is not one (a
    board's, so untrusted: a value of the wrong type, not an object) is left out and said in
    `problems`."""
    try:
        data = json.loads(RunStore(run_dir).json_path.read_text())
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        return []
    rows = data.get("rows")
    if not isinstance(rows, list):
        if problems is not None:
            problems.append('results.json: "rows" is not a list')
        return []
    out = []
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise ValueError("not an object")
            typed = {k: typed_value(k, COLUMN_KINDS[k], v) for k, v in row.items() if k in COLUMN_KINDS}
            infinite = next((k for k, v in typed.items() if isinstance(v, float) and not math.isfinite(v)), None)
            if infinite:
                raise ValueError(f"{infinite} = {typed[infinite]} is not a finite number")
            out.append(typed)
        except (ValueError, OverflowError) as exc:
            if problems is not None:
                problems.append(f"results.json row {i + 1}: {exc}"[:300])
    return out


def host_rows(fleet_dir: Path, host: str, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of one host's mirrored run, marked with the host."""
    mirror = fleet_dir / host
    return [{**row, "fleet_host": host, "source": str(mirror)} for row in run_rows(mirror, problems)]


def merge(fleet_dir: str | Path, hosts: list[str],
          problems: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Write the merged table (hosts in inventory order) and return its rows; rows left out, per
    host, in `problems`."""
    fleet_dir = Path(fleet_dir)
    rows = []
    for host in hosts:
        left_out: list[str] = []
        rows += host_rows(fleet_dir, host, left_out)
        if left_out and problems is not None:
            problems[host] = left_out
    store = RunStore(fleet_dir)
    atomic_write(store.csv_path, rows_to_csv(rows, MERGED_COLUMNS))
    atomic_write(store.json_path, json.dumps({"schema": SCHEMA_VERSION, "columns": MERGED_COLUMNS, "rows": rows},
                                             indent=1, default=str))
    return rows
