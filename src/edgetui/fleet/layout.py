"""The fleet run folder (FLEET_RUN), written by the controller alone:

    fleet.json          manifest: inventory, profiles, hosts, the runs' name on the boards, controller pid
    hosts.json          where each host stands now (rewritten atomically): state, detail, its board
                        folders, the remote run's status, the board's clock offset, when last heard
    fleet-events.jsonl  every change of a host's state, appended (what `edgetui fleet status` tells)
    <host>/             that board's run folder, mirrored over SSH by byte offset (a run folder like
                        any other: `edgetui results FLEET_RUN/<host>` opens it)
    results.csv, .json  every host's rows merged, with fleet_host (what `edgetui rank FLEET_RUN` ranks)
    controller.log      the output of a controller started by the console

Host states: pending, deploying, launched, following, reconnecting, ended (the board's run is no
longer running: finished, aborted or interrupted), collected, failed (could not be reached,
installed or started: `detail` says why), lost (no contact for longer than the controller waits).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgetui.errors import UserError
from edgetui.rundir.layout import RESULTS_CSV, RESULTS_JSON
from edgetui.rundir.store import atomic_write, read_jsonl

FLEET_SCHEMA = 1
FLEET_MANIFEST = "fleet.json"
HOSTS_FILE = "hosts.json"
EVENTS_FILE = "fleet-events.jsonl"
CONTROLLER_LOG = "controller.log"
RESERVED = {FLEET_MANIFEST, HOSTS_FILE, EVENTS_FILE, CONTROLLER_LOG, RESULTS_CSV, RESULTS_JSON}
FINAL_STATES = ("collected", "failed", "lost")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_fleet_dir(path: str | Path) -> bool:
    return (Path(path) / FLEET_MANIFEST).is_file()


class FleetDir:
    """FLEET_RUN's files; safe to update from the controller's threads (one lock)."""

    def __init__(self, root: str | Path, on_line: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.on_line = on_line
        self._lock = threading.Lock()
        self._hosts: dict[str, dict[str, Any]] | None = None

    def mirror(self, host: str) -> Path:
        return self.root / host

    # ------------------------------------------------------------------ manifest
    def read_manifest(self) -> dict[str, Any]:
        path = self.root / FLEET_MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError("not a fleet run folder (no fleet.json)", where=str(self.root)) from None
        except (OSError, ValueError) as exc:
            raise UserError(f"unreadable fleet manifest: {exc}", where=str(path)) from None
        if data.get("schema") != FLEET_SCHEMA:
            raise UserError(f"fleet run written by an incompatible edgetui (schema {data.get('schema')}, "
                            f"this edgetui reads {FLEET_SCHEMA})", where=str(path))
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(self.root / FLEET_MANIFEST, json.dumps({**manifest, "schema": FLEET_SCHEMA}, indent=1))

    def update_manifest(self, **changes: Any) -> None:
        with self._lock:
            self.write_manifest({**self.read_manifest(), **changes})

    # ------------------------------------------------------------------ hosts
    def hosts(self) -> dict[str, dict[str, Any]]:
        """host -> its latest state (a copy)."""
        with self._lock:
            return json.loads(json.dumps(self._load_hosts()))

    def _load_hosts(self) -> dict[str, dict[str, Any]]:
        if self._hosts is None:
            self._hosts = read_hosts(self.root)
        return self._hosts

    def set_host(self, host: str, state: str | None = None, detail: str | None = None, *, say: bool = True,
                 **fields: Any) -> None:
        """Record a host's new state (appended to the events, shown as a line) or just new fields."""
        with self._lock:
            hosts = self._load_hosts()
            entry = hosts.setdefault(host, {"state": "pending"})
            entry.update(fields)
            changed = state is not None and (state != entry.get("state") or detail != entry.get("detail"))
            if state is not None:
                entry["state"] = state
                entry["detail"] = detail
                entry["since"] = now_iso()
            atomic_write(self.root / HOSTS_FILE, json.dumps(hosts, indent=1, default=str))
            if changed:
                record = {"t": now_iso(), "host": host, "state": state, "detail": detail}
                with (self.root / EVENTS_FILE).open("a", encoding="utf-8") as f:
                    f.write(json.dumps(record, separators=(",", ":")) + "\n")
        if changed and say:
            self.say(host, f"{state}: {detail}" if detail else str(state))

    def say(self, host: str | None, text: str) -> None:
        if self.on_line is not None:
            self.on_line(f"[{host}] {text}" if host else text)

    def events(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.root / EVENTS_FILE))


def read_hosts(root: str | Path) -> dict[str, dict[str, Any]]:
    """hosts.json as it is now ({} when absent or mid-replace)."""
    try:
        data = json.loads((Path(root) / HOSTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def host_is_current(entry: dict[str, Any], stale_after_s: float = 60.0) -> bool:
    """True when the controller heard from this host lately (last_seen is wall-clock seconds)."""
    seen = entry.get("last_seen")
    return isinstance(seen, (int, float)) and time.time() - seen < stale_after_s
