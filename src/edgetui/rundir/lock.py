"""One runner per run folder: an OS file lock (flock) on `runner.lock` inside the folder, held by
the runner for its whole life and by anyone else who must see the folder stand still (the fleet's
collection step). The kernel releases it when its holder dies, SIGKILL included, so a crashed
runner never leaves a stale lock behind; the file's text (pid, host, start time) is only for
messages and means nothing once the lock is free.

A lock guards the folder it was taken in, not a path: a holder keeps a descriptor of that folder
(`dir_fd`, for writing relative to it) and `check_same_folder()` tells whether the path still names
it. A folder deleted and made again under a live runner is a new folder with a new lock; the old
runner must not write into it (FolderChanged)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from edgetui.errors import UserError
from edgetui.rundir.layout import RUNNER_LOCK

# A `status` probe holds the lock for microseconds: a runner asking for it retries this long before
# it takes a live holder for what it is.
DEFAULT_WAIT_S = 1.0
POLL_S = 0.05


@dataclass(frozen=True)
class Holder:
    """Who holds a run folder's lock, as its lock file says."""

    pid: int | None
    host: str | None
    since: str | None  # UTC, ISO 8601
    what: str | None = None  # "runner", "fleet collection", ...

    def describe(self) -> str:
        who = f"{self.what or 'a process'} pid {self.pid if self.pid is not None else '?'}"
        if self.host and self.host != socket.gethostname():
            who += f" on {self.host}"
        return who + (f", since {self.since}" if self.since else "")


class FolderChanged(Exception):
    """The run folder's path no longer names the folder whose lock this process holds (deleted and
    made again, or moved away): whatever is there now is not this runner's to write."""

    def __init__(self, run_dir: Path, why: str) -> None:
        self.run_dir = run_dir
        super().__init__(
            f"the results folder {run_dir} was {why} while this runner (pid {os.getpid()}) was writing it: "
            f"the run stopped and writes nothing more there (what is at that path now is not this run's)")


def folder_identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class FolderBusy(UserError):
    """The folder's lock is held by a live process: refused, exit 2, naming it and how to follow it."""

    def __init__(self, run_dir: Path, holder: Holder | None, doing: str) -> None:
        self.holder = holder
        who = holder.describe() if holder else "another process"
        super().__init__(f"cannot {doing}: {who} is at work on this run. Follow it with "
                         f"`edgetui status {run_dir}`, or open the console with `edgetui` to attach",
                         where=str(run_dir))


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw) if raw.strip() else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    return Holder(pid=pid if isinstance(pid, int) else None, host=data.get("host"), since=data.get("since"),
                  what=data.get("what"))


class RunFolderLock:
    """The lock of one run folder. acquire() takes it or raises FolderBusy; release() (or the end of
    the process) gives it back. Re-entrant within one object: a second acquire() is a no-op."""

    def __init__(self, run_dir: str | Path, *, what: str = "runner") -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RUNNER_LOCK
        self.what = what
        self._fd: int | None = None
        self.dir_fd: int | None = None  # the locked folder itself, while held
        self._identity: tuple[tuple[int, int], tuple[int, int]] | None = None  # (folder, runner.lock)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def check_same_folder(self) -> None:
        """FolderChanged unless the path still names the folder locked, with this lock file in it
        (a few microseconds: two stat calls). A no-op while not held."""
        if self._identity is None:
            return
        folder, lock_file = self._identity
        try:
            if folder_identity(os.stat(self.run_dir)) != folder:
                raise FolderChanged(self.run_dir, "removed and made again, or replaced")
        except FileNotFoundError:
            raise FolderChanged(self.run_dir, "removed") from None
        except OSError as exc:
            raise FolderChanged(self.run_dir, f"made unreadable ({exc.strerror})") from None
        try:
            same_lock = folder_identity(os.stat(self.path, follow_symlinks=False)) == lock_file
        except OSError:
            same_lock = False
        if not same_lock:
            raise FolderChanged(self.run_dir, f"emptied (its {RUNNER_LOCK} removed or replaced)")

    def acquire(self, *, wait: float = DEFAULT_WAIT_S, doing: str = "run here") -> None:
        if self._fd is not None:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            dir_fd = os.open(self.run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise UserError(f"results folder is not writable: {exc.strerror}", where=str(self.run_dir)) from None
        try:
            # never replaced or removed: a lock on a file that someone renamed over guards nothing;
            # opened in the folder just opened (never through a symlink planted in its place)
            fd = os.open(RUNNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            os.close(dir_fd)
            raise UserError(f"results folder is not writable: {exc.strerror} ({RUNNER_LOCK})",
                            where=str(self.run_dir)) from None
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    os.close(dir_fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = _wait_for_text(fd)
                    os.close(fd)
                    os.close(dir_fd)
                    raise FolderBusy(self.run_dir, holder, doing) from None
                time.sleep(POLL_S)
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                           "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode() + b"\n", 0)
        except OSError:
            pass  # a full disk: the lock holds all the same; messages say "pid ?"
        self._fd, self.dir_fd = fd, dir_fd
        self._identity = (folder_identity(os.fstat(dir_fd)), folder_identity(os.fstat(fd)))

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        dir_fd, self.dir_fd, self._identity = self.dir_fd, None, None
        os.close(fd)  # closing the last descriptor releases the flock
        if dir_fd is not None:
            os.close(dir_fd)

    def __enter__(self) -> RunFolderLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _wait_for_text(fd: int) -> Holder | None:
    """The holder's text; a holder that has just taken the lock may not have written it yet."""
    for _ in range(10):
        holder = _read_holder(fd)
        if holder is not None:
            return holder
        time.sleep(POLL_S)
    return None


def run_folder_lock(run_dir: str | Path, *, what: str = "runner", wait: float = DEFAULT_WAIT_S,
                    doing: str = "run here") -> RunFolderLock:
    """The folder's lock, taken (FolderBusy when a live process holds it longer than `wait`).
    Use as `with run_folder_lock(d, what="fleet collection"): ...`; leaving the block releases it."""
    lock = RunFolderLock(run_dir, what=what)
    lock.acquire(wait=wait, doing=doing)
    return lock


def lock_holder(run_dir: str | Path) -> Holder | None:
    """Who holds the folder's lock now, or None when it is free (or the folder has never had one).
    Probes with a shared lock held for an instant; a runner asking for the lock meanwhile retries."""
    path = Path(run_dir) / RUNNER_LOCK
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _wait_for_text(fd) or Holder(pid=None, host=None, since=None)
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
