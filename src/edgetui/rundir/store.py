"""The results store: one folder per run, append-only logs plus aggregated tables (the names
are declared in edgetui.rundir.layout).

    run.json          manifest: version, plan, host, profiles, runner pid, status (rewritten atomically)
    repetitions.jsonl one line per finished repetition, fsync'd before the next begins
    configs.jsonl     one line per configuration outcome (done, failed, skipped)
    events.jsonl      what the live screen follows: phases, progress, outcomes
    samples.jsonl     the sensor stream (monotonic timestamps); past SAMPLES_SEGMENT_BYTES it goes on in
                      samples.1.jsonl, samples.2.jsonl, ... and only the newest SAMPLES_KEEP_SEGMENTS are kept
    results.csv       one row per configuration (rewritten atomically after each)
    results.json      the same rows as JSON
    logs/<id>.log     the engine's own output, per configuration
    control.json      pause, skip and abort asked of the runner (edgetui.rundir.control)
    runner.log        a detached runner's own output (console or --detach)
    runner.lock       held (flock) by the runner at work here, with its pid, host and start (edgetui.rundir.lock)
    child.json        the inference child's pid and start time (a resume refuses while it lives)
    console_seen      marks that a console has shown this run's outcome once
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from edgetui.errors import UserError
from edgetui.rundir.columns import RESULT_COLUMNS
from edgetui.rundir.layout import (
    CHILD,
    EVENTS,
    LOGS,
    MANIFEST,
    OUTCOMES,
    REPETITIONS,
    RESULTS_CSV,
    RESULTS_JSON,
    RUNNER_LOG,
    SAMPLES,
)
from edgetui.rundir.lock import RunFolderLock

SCHEMA_VERSION = 1

# The sensor stream is the one file that grows with time rather than with the work done (about
# 230 bytes a sample: 200 MB a day at 10 Hz): past this size it goes on in a new segment, and the
# oldest segments past SAMPLES_KEEP_SEGMENTS are deleted (256 MiB in all). Energy never needs them:
# the runner integrates power in memory as it samples; the console follows the newest samples only.
SAMPLES_SEGMENT_BYTES = 32 << 20
SAMPLES_KEEP_SEGMENTS = 8
_SEGMENT = re.compile(r"samples(?:\.([1-9][0-9]{0,8}))?\.jsonl")

# Files are made readable as the user's umask says, whether appended or rewritten (0644 usually).
FILE_MODE = 0o666
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW


class StoreWriteFailed(Exception):
    """A write to the run folder failed (disk full, folder removed, read-only). Only these stop
    the queue as a storage failure; any other OSError (a model file gone) is not the store's."""

    def __init__(self, path: Path, exc: OSError) -> None:
        self.path, self.exc = path, exc
        super().__init__(f"{path}: {exc.strerror or exc}")


def samples_segment_name(n: int) -> str:
    """The name of the sensor stream's segment n (0: samples.jsonl, as before segments)."""
    return SAMPLES if n == 0 else f"samples.{n}.jsonl"


def samples_segment_number(name: str) -> int | None:
    m = _SEGMENT.fullmatch(name)
    return None if m is None else int(m.group(1) or 0)


def _fsync_dir(dir_fd: int) -> None:
    """The rename itself on disk; a filesystem that cannot fsync a folder is left as it is."""
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES):
            raise


def atomic_write_at(dir_fd: int, name: str, write: Callable[[BinaryIO], object]) -> None:
    """Write `name` in the folder dir_fd: a temporary file there, fsync, rename over the target,
    fsync the folder. The file gets the mode an appended one gets (the umask's), not 0600."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # POSIX rename replaces, atomically
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    _fsync_dir(dir_fd)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    atomic_write_with(path, lambda f: f.write(data.encode() if isinstance(data, str) else data))


def atomic_write_with(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """atomic_write for a writer that streams into the file (polars writing a large table)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        atomic_write_at(dir_fd, path.name, write)
    finally:
        os.close(dir_fd)


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


class SegmentedSamples:
    """The sensor stream as the sampler writes it: appended to the newest segment, which is closed
    (every line whole) before the next is made; the oldest past SAMPLES_KEEP_SEGMENTS deleted.
    Written relative to the run folder's descriptor, so never into another folder at that path.
    Errors are OSError, as the sampler expects of a file."""

    def __init__(self, store: RunStore, *, segment_bytes: int = SAMPLES_SEGMENT_BYTES,
                 keep: int = SAMPLES_KEEP_SEGMENTS) -> None:
        self.store, self.segment_bytes, self.keep = store, segment_bytes, max(1, keep)
        numbers = store.samples_segment_numbers()
        self.n = numbers[-1] if numbers else 0
        self._f = self._open(self.n)
        self._size = os.fstat(self._f.fileno()).st_size

    def _open(self, n: int) -> IO[str]:
        fd = os.open(self.store.rel(samples_segment_name(n)), _APPEND_FLAGS, FILE_MODE, dir_fd=self.store.dir_fd)
        return os.fdopen(fd, "a", encoding="utf-8")

    def write(self, line: str) -> int:
        if self._size >= self.segment_bytes:
            self._next_segment()
        written = self._f.write(line)
        self._size += len(line.encode()) if not line.isascii() else len(line)
        return written

    def _next_segment(self) -> None:
        self._f.close()  # flushed: a reader that sees the next segment finds this one complete
        self.n += 1
        self._f = self._open(self.n)
        self._size = 0
        for old in self.store.samples_segment_numbers():
            if old <= self.n - self.keep:
                try:
                    os.unlink(self.store.rel(samples_segment_name(old)), dir_fd=self.store.dir_fd)
                except FileNotFoundError:
                    pass

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()


class RunStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.logs = self.root / LOGS
        self._lock: RunFolderLock | None = None

    # --------------------------------------------------------------- the folder written
    def bind(self, lock: RunFolderLock) -> None:
        """Write only into the folder this lock was taken in: relative to its descriptor, and after
        checking that the path still names it (FolderChanged otherwise). The runner's store."""
        self._lock = lock

    @property
    def dir_fd(self) -> int | None:
        return self._lock.dir_fd if self._lock is not None else None

    def rel(self, name: str) -> str:
        """A file of the folder as os.open(..., dir_fd=self.dir_fd) wants it."""
        return name if self.dir_fd is not None else str(self.root / name)

    def check_same_folder(self) -> None:
        if self._lock is not None:
            self._lock.check_same_folder()

    def _open_append_fd(self, name: str) -> int:
        self.check_same_folder()
        try:
            return os.open(self.rel(name), _APPEND_FLAGS, FILE_MODE, dir_fd=self.dir_fd)
        except OSError as exc:
            raise StoreWriteFailed(self.root / name, exc) from None

    def open_append(self, name: str, *, binary: bool = False) -> IO[Any]:
        """A file of the folder (a name relative to it), opened for appending: never through a
        symlink, and in the folder locked when bound. StoreWriteFailed when it cannot be."""
        fd = self._open_append_fd(name)
        return os.fdopen(fd, "ab") if binary else os.fdopen(fd, "a", encoding="utf-8")

    def append_bytes(self, name: str, data: bytes, *, sync: bool) -> None:
        """Append data whole (one write of an O_APPEND descriptor, unbuffered: a failure is raised
        once, as StoreWriteFailed, never again by a buffer flushed on close)."""
        fd = self._open_append_fd(name)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        except OSError as exc:
            raise StoreWriteFailed(self.root / name, exc) from None
        finally:
            os.close(fd)

    def open_samples(self, **kw: Any) -> SegmentedSamples:
        self.check_same_folder()
        try:
            return SegmentedSamples(self, **kw)
        except OSError as exc:
            raise StoreWriteFailed(self.samples_path, exc) from None

    def samples_segment_numbers(self) -> list[int]:
        """The sensor stream's segments on disk, oldest first."""
        try:
            names = os.listdir(self.dir_fd if self.dir_fd is not None else self.root)
        except OSError:
            return []
        return sorted(n for n in map(samples_segment_number, names) if n is not None)

    def samples_segments(self) -> list[Path]:
        return [self.root / samples_segment_name(n) for n in self.samples_segment_numbers()]

    def _atomic(self, name: str, data: str) -> None:
        self.check_same_folder()
        try:
            if self.dir_fd is not None:
                atomic_write_at(self.dir_fd, name, lambda f: f.write(data.encode()))
            else:
                atomic_write(self.root / name, data)
        except OSError as exc:
            raise StoreWriteFailed(self.root / name, exc) from None

    def write_child(self, pid: int, started: float | None, runner_pid: int) -> None:
        """The inference child at work now, for a resume to find it alive (rundir.state.live_child)."""
        self._atomic(CHILD, json.dumps({"pid": pid, "started": started, "runner_pid": runner_pid}))

    def append_runner_log(self, text: str) -> None:
        self.append_bytes(RUNNER_LOG, (text if text.endswith("\n") else text + "\n").encode(), sync=False)

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
            for path in (self.reps_path, self.configs_path, self.events_path, *self.samples_segments()[-1:]):
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
        self._atomic(MANIFEST, json.dumps(manifest, indent=1, default=str))

    def update_manifest(self, **changes: Any) -> None:
        m = self.read_manifest() or {}
        m.update(changes)
        self.write_manifest(m)

    # --------------------------------------------------------------- appends
    def _append(self, path: Path, record: dict[str, Any], *, sync: bool) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        self.append_bytes(path.name, line.encode(), sync=sync)

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
        self._atomic(RESULTS_CSV, rows_to_csv(rows, RESULT_COLUMNS))
        payload = {"schema": SCHEMA_VERSION, "columns": RESULT_COLUMNS, "rows": rows}
        self._atomic(RESULTS_JSON, json.dumps(payload, indent=1, default=str))
