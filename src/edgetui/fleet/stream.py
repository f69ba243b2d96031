"""The board's side of following a run over SSH: `python -m edgetui.fleet.stream RUN_DIR
--offsets-stdin`, started by the controller through `ssh HOST ...`, reads the offsets (below) as
one JSON line on its stdin and writes the run folder's new bytes to its
stdout as frames and exits when the run has ended and everything was sent (or when the connection
goes: a write fails, or the hang-up ends it). It never writes into the run folder; the run itself
is a detached process of its own and does not know it is followed.

A frame is one JSON header line, followed by exactly `n` bytes when the header has "n":

    {"f": NAME, "o": OFFSET, "n": N}   bytes OFFSET..OFFSET+N of an append-only file
    {"f": NAME, "whole": true, "o": O, "size": S, "n": N}
                                       bytes O..O+N of one version of a file rewritten
                                       atomically, S bytes in all: sent in parts of at most
                                       FRAME_BYTES, the mirror puts it in place once whole
    {"f": NAME, "truncate": SIZE}      the file is now shorter than the offset asked (a torn line cut)
    {"status": S, "pid": P, "mono": T, "wall": W}  the run's status here, its runner's pid and the
                                       board's clocks; sent at start, on change and as a heartbeat
    {"end": S}                         the run is no longer running (S: finished, aborted, crashed,
                                       interrupted, or "missing": no run appeared) and all was sent

OFFSETS tells, per append-only file, how many bytes the controller already holds: a reconnection
resumes there, so nothing is sent twice and nothing is lost. It comes on stdin, never on the
command line: a run of thousands of log files has more offsets than one argument may hold.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import BinaryIO

from edgetui.rundir.layout import EVENTS, MANIFEST, OUTCOMES, REPETITIONS, RESULTS_CSV, RESULTS_JSON, RUNNER_LOG, SAMPLES
from edgetui.rundir.lock import FolderBusy, RunFolderLock
from edgetui.rundir.state import effective_status
from edgetui.rundir.store import RunStore

FRAME_BYTES = 256 << 10  # one frame's payload at most
COLLECT_WAIT_S = 2.0  # for the runner that wrote the run's end to close its files and exit
TICK_BYTES = 4 << 20  # per file per tick: a late follower catches up over a few ticks, interleaved
HEARTBEAT_S = 5.0
WHOLE_FILES = (MANIFEST, RESULTS_CSV, RESULTS_JSON)
APPEND_FILES = (EVENTS, SAMPLES, REPETITIONS, OUTCOMES, RUNNER_LOG)  # and logs/*.log


def append_files(root: Path) -> list[str]:
    """The append-only files of a run folder, as names relative to it."""
    store = RunStore(root)
    names = [p.name for p in (store.events_path, *store.samples_segments(), store.reps_path, store.configs_path)]
    names.append(RUNNER_LOG)
    if store.logs.is_dir():
        names += sorted(f"logs/{p.name}" for p in store.logs.glob("*.log"))
    return names


class Streamer:
    def __init__(self, root: Path, offsets: dict[str, int], out: BinaryIO, *, interval_s: float = 0.5,
                 wait_start_s: float = 120.0) -> None:
        self.root = root
        self.offsets = {str(k): int(v) for k, v in offsets.items()}
        self.out = out
        self.interval_s = interval_s
        self.wait_start_s = wait_start_s
        self._whole_sent: dict[str, tuple[int, int]] = {}
        self._last_status: tuple[str, int | None] | None = None
        self._last_beat = 0.0

    def frame(self, header: dict, payload: bytes = b"") -> None:
        self.out.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
        if payload:
            self.out.write(payload)

    def send_new_bytes(self) -> bool:
        """Every append-only file's bytes past its offset (up to TICK_BYTES each); True if any."""
        sent = False
        for name in append_files(self.root):
            path = self.root / name
            try:
                size = path.stat().st_size
            except OSError:
                continue
            offset = self.offsets.get(name, 0)
            if size < offset:
                self.frame({"f": name, "truncate": size})
                self.offsets[name] = offset = size
                sent = True
            if size == offset:
                continue
            with path.open("rb") as f:
                f.seek(offset)
                budget = TICK_BYTES
                while budget > 0:
                    chunk = f.read(min(FRAME_BYTES, budget))
                    if not chunk:
                        break
                    self.frame({"f": name, "o": offset, "n": len(chunk)}, chunk)
                    offset += len(chunk)
                    budget -= len(chunk)
                    sent = True
            self.offsets[name] = offset
        for name in WHOLE_FILES:
            path = self.root / name
            try:
                f = path.open("rb")  # rewritten by rename: what this opened is one version, never half of two
            except OSError:
                continue
            with f:
                st = os.fstat(f.fileno())
                signature = (st.st_mtime_ns, st.st_size)
                if self._whole_sent.get(name) == signature:
                    continue
                offset = 0
                while True:  # in parts: a results.json of a long sweep passes any one frame's size
                    chunk = f.read(FRAME_BYTES)
                    if offset + len(chunk) > st.st_size:
                        chunk = chunk[:st.st_size - offset]
                    self.frame({"f": name, "whole": True, "o": offset, "size": st.st_size, "n": len(chunk)}, chunk)
                    offset += len(chunk)
                    if offset >= st.st_size or not chunk:
                        break
            self._whole_sent[name] = signature
            sent = True
        return sent

    def send_all(self) -> None:
        """Every byte there is now, over as many ticks as it takes."""
        while self.send_new_bytes():
            self.out.flush()

    def status(self) -> tuple[str, int | None]:
        try:
            manifest = json.loads((self.root / MANIFEST).read_text())
        except (OSError, ValueError):
            return "starting", None
        return effective_status(manifest), manifest.get("runner_pid")

    def beat(self, status: str, pid: int | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or (status, pid) != self._last_status or now - self._last_beat >= HEARTBEAT_S:
            self.frame({"status": status, "pid": pid, "mono": now, "wall": time.time()})
            self._last_status, self._last_beat = (status, pid), now

    def run(self) -> int:
        started = time.monotonic()
        self.beat(*self.status(), force=True)
        while True:
            status, pid = self.status()
            if status == "starting" and time.monotonic() - started > self.wait_start_s:
                self.frame({"end": "missing"})
                self.out.flush()
                return 0
            self.send_new_bytes()
            self.beat(status, pid)
            self.out.flush()
            if status not in ("running", "starting"):
                ended = self.collect()
                if ended is not None:
                    self.frame({"end": ended})
                    self.out.flush()
                    return 0
            time.sleep(self.interval_s)

    def collect(self) -> str | None:
        """The run's last bytes, with the folder standing still: under its lock (rundir.lock), so
        that neither the runner that wrote the end, still closing its files, nor a resume started
        on the board since, writes during the last sweep. The run's status as read under the lock;
        None when a runner holds the folder (it is not over: follow on)."""
        self.send_all()  # caught up first, so the lock is held for the last bytes only
        lock = RunFolderLock(self.root, what="fleet collection")
        try:
            lock.acquire(wait=COLLECT_WAIT_S, doing="start a runner during the fleet's collection")
        except FolderBusy:
            return None
        try:
            self.send_all()
            status, pid = self.status()
            self.beat(status, pid)
        finally:
            lock.release()
        return None if status in ("running", "starting") else status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgetui.fleet.stream")
    p.add_argument("run_dir")
    p.add_argument("--offsets", default="{}", help="JSON: bytes already held per append-only file")
    p.add_argument("--offsets-stdin", action="store_true", help="read the offsets' JSON from one line of stdin")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--wait-start", type=float, default=120.0)
    args = p.parse_args(argv)
    out = sys.stdout.buffer
    offsets = json.loads(sys.stdin.buffer.readline() or b"{}") if args.offsets_stdin else json.loads(args.offsets)
    try:
        return Streamer(Path(os.path.expanduser(args.run_dir)), offsets, out,
                        interval_s=args.interval, wait_start_s=args.wait_start).run()
    except (BrokenPipeError, ConnectionResetError):  # the controller or the connection went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # exit quietly: nobody reads
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
