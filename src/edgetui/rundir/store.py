"""The results store: one folder per run, append-only logs plus aggregated tables (the names
are declared in edgetui.rundir.layout).

    run.json          manifest: version, plan, host, profiles, runner pid, status (rewritten atomically)
    repetitions.jsonl one line per finished repetition, fsync'd before the next begins
    configs.jsonl     one line per configuration outcome (done, failed, skipped)
    events.jsonl      what the live screen follows: phases, progress, outcomes
    samples.jsonl     the sensor stream (monotonic timestamps)
    results.csv       one row per configuration (rewritten atomically after each)
    results.json      the same rows as JSON
    logs/<id>.log     the engine's own output, per configuration
    control.json      pause, skip and abort asked of the runner (edgetui.rundir.control)
    runner.log        a detached runner's own output (console or --detach)
    runner.lock       held (flock) by the runner at work here, with its pid, host and start (edgetui.rundir.lock)
    console_seen      marks that a console has shown this run's outcome once
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from edgetui.errors import UserError
from edgetui.rundir.columns import RESULT_COLUMNS
from edgetui.rundir.layout import (EVENTS, LOGS, MANIFEST, OUTCOMES, REPETITIONS, RESULTS_CSV, RESULTS_JSON,
                                   SAMPLES)

SCHEMA_VERSION = 1


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    atomic_write_with(path, lambda f: f.write(data.encode() if isinstance(data, str) else data))


def atomic_write_with(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """atomic_write for a writer that streams into the file (polars writing a large table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete line that is a JSON object; a torn last line (a crash mid-write) is skipped,
    not fatal, and so is a line that does not decode or holds another JSON value (`[1]`, `"x"`,
    `3`: every reader takes records for objects, and a board's or an old file's odd line must
    not stop one)."""
    try:
        f = path.open("r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn write at the end
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # undecodable, a number past the digits limit, nested deep
                continue
            if isinstance(record, dict):
                yield record


def repair_torn_tail(path: Path) -> int:
    """Truncate a JSON-lines file after its last complete line; returns the bytes cut."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        # walk back to the last newline, in blocks
        pos = size
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            block = f.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos - step + nl + 1
                break
            pos -= step
        else:
            keep = 0
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


def rows_to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _csv_cell(row.get(k)) for k in columns})
    return buf.getvalue()


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""  # missing stays missing, never zero
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        # every digit that tells the float apart (as results.json has it): the ranking reads this
        # file, and six digits could split or merge ties that the JSON does not
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return v


def repetition_key(r: dict[str, Any]) -> tuple[Any, Any, bool]:
    return r.get("config_id"), r.get("rep"), bool(r.get("warmup"))


def unique_repetitions(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, repeated): one record per (configuration, repetition, warm-up), the first written
    kept. Before run folders had a lock, two runners resuming one folder recorded some twice."""
    kept: list[dict[str, Any]] = []
    repeated: list[dict[str, Any]] = []
    seen: set[tuple[Any, Any, bool]] = set()
    for r in records:
        key = repetition_key(r)
        if key[1] is None:  # no repetition number to tell two apart: never taken for a copy
            kept.append(r)
            continue
        (repeated if key in seen else kept).append(r)
        seen.add(key)
    return kept, repeated


def repeated_note(repeated: list[dict[str, Any]]) -> str:
    """What is said when records were dropped: how many, of which configurations."""
    ids = sorted({str(r.get("config_id")) for r in repeated})
    return (f"{len(repeated)} repetition record(s) of {', '.join(ids)} were written twice (two runners at once, "
            f"before run folders had a lock): each repetition is counted once")


class RunStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.logs = self.root / LOGS

    # --------------------------------------------------------------- paths
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def reps_path(self) -> Path:
        return self.root / REPETITIONS

    @property
    def configs_path(self) -> Path:
        return self.root / OUTCOMES

    @property
    def events_path(self) -> Path:
        return self.root / EVENTS

    @property
    def samples_path(self) -> Path:
        return self.root / SAMPLES

    @property
    def csv_path(self) -> Path:
        return self.root / RESULTS_CSV

    @property
    def json_path(self) -> Path:
        return self.root / RESULTS_JSON

    def log_path(self, config_id: str) -> Path:
        return self.logs / f"{config_id}.log"

    # --------------------------------------------------------------- set-up
    def check_writable(self) -> None:
        """Create the folder and check it takes writes, before anything runs."""
        try:
            self.logs.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"  # its own: two processes may check at once
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"results folder is not writable: {exc.strerror}", where=str(self.root)) from None

    def prepare(self) -> None:
        """check_writable(), then cut any line torn by a crash mid-write, so that new lines never
        glue onto a broken one (only the runner that holds the folder does this)."""
        self.check_writable()
        try:
            for path in (self.reps_path, self.configs_path, self.events_path, self.samples_path):
                repair_torn_tail(path)
        except OSError as exc:
            raise UserError(f"results folder is not writable: {exc.strerror}", where=str(self.root)) from None

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise UserError(f"unreadable run manifest: {exc}", where=str(self.manifest_path)) from None
        if not isinstance(data, dict):
            raise UserError("unreadable run manifest: not a JSON object", where=str(self.manifest_path))
        version = data.get("schema")
        if version != SCHEMA_VERSION:
            raise UserError(f"results written by an incompatible edgetui (schema {version}, "
                            f"this edgetui reads {SCHEMA_VERSION})", where=str(self.manifest_path))
        return data

    def manifest_or_none(self) -> dict[str, Any] | None:
        """read_manifest() for those who list or follow runs: a folder whose manifest is absent,
        unreadable or from an incompatible edgetui is None, not an error."""
        try:
            return self.read_manifest()
        except UserError:
            return None

    def has_results(self) -> bool:
        return self.json_path.exists() or self.csv_path.exists()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest = {**manifest, "schema": SCHEMA_VERSION}
        atomic_write(self.manifest_path, json.dumps(manifest, indent=1, default=str))

    def update_manifest(self, **changes: Any) -> None:
        m = self.read_manifest() or {}
        m.update(changes)
        self.write_manifest(m)

    # --------------------------------------------------------------- appends
    def _append(self, path: Path, record: dict[str, Any], *, sync: bool) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            if sync:
                os.fsync(f.fileno())

    def append_rep(self, row: dict[str, Any]) -> None:
        """On disk (flushed and fsync'd) before the next repetition begins."""
        self._append(self.reps_path, row, sync=True)

    def append_config_status(self, record: dict[str, Any]) -> None:
        self._append(self.configs_path, record, sync=True)

    def reps(self) -> list[dict[str, Any]]:
        """The repetition records, one per (configuration, repetition, warm-up)."""
        return unique_repetitions(read_jsonl(self.reps_path))[0]

    def repeated_reps(self) -> list[dict[str, Any]]:
        """The records reps() leaves out, written a second time for a repetition already recorded."""
        return unique_repetitions(read_jsonl(self.reps_path))[1]

    def config_statuses(self) -> dict[str, dict[str, Any]]:
        """The latest outcome of each configuration."""
        return {r["config_id"]: r for r in read_jsonl(self.configs_path)}

    # --------------------------------------------------------------- tables
    def write_results(self, rows: list[dict[str, Any]]) -> None:
        atomic_write(self.csv_path, rows_to_csv(rows, RESULT_COLUMNS))
        payload = {"schema": SCHEMA_VERSION, "columns": RESULT_COLUMNS, "rows": rows}
        atomic_write(self.json_path, json.dumps(payload, indent=1, default=str))
