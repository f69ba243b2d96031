"""Every host's rows in one table: FLEET_RUN/results.csv and results.json, each row with its
inventory host in `fleet_host` (two identical boards stay apart) and its mirror folder as its
`source`, so that `edgetui rank FLEET_RUN` and `edgetui results FLEET_RUN` rank the fleet as one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgetui.errors import UserError
from edgetui.rundir.store import RunStore, load_result_rows


def host_rows(fleet_dir: Path, host: str) -> list[dict[str, Any]]:
    """The rows of one host's mirrored run, marked with the host; [] when it has none yet."""
    mirror = fleet_dir / host
    if not ((mirror / "results.json").is_file() or (mirror / "results.csv").is_file()):
        return []
    try:
        rows = load_result_rows(mirror)
    except UserError:
        return []  # a results file mid-copy or unreadable: that host has nothing to merge yet
    return [{**row, "fleet_host": host, "source": str(mirror)} for row in rows]


def merge(fleet_dir: str | Path, hosts: list[str]) -> list[dict[str, Any]]:
    """Write the merged table (hosts in inventory order) and return its rows."""
    fleet_dir = Path(fleet_dir)
    rows = [row for host in hosts for row in host_rows(fleet_dir, host)]
    RunStore(fleet_dir).write_results(rows)
    return rows
