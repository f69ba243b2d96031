"""The inference child as the runner sees it: a process with a command pipe, an event pipe
and a log, and the words for how it ended (exit code, signal, out of memory).

The child must never outlive its runner (a `kill -9` of the runner would leave it computing beside
whatever is measured next): on Linux the kernel kills it when the runner dies (PR_SET_PDEATHSIG,
set by the child itself, run.inference), and everywhere it watches a lifeline pipe whose other end
only the runner holds: end of file there means the runner is gone, and the child exits."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from edgetui.childenv import child_env

LOG_TAIL_LINES = 8
LIFELINE_FD_ENV = "EDGETUI_LIFELINE_FD"  # the child's end of the lifeline (read; EOF: the runner is gone)
PARENT_PID_ENV = "EDGETUI_PARENT_PID"  # the runner's pid, for the child to tell it died before it looked


def oom_kills() -> int | None:
    """The kernel's count of out-of-memory kills so far (/proc/vmstat, Linux 4.13+)."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def describe_exit(code: int | None, oom_before: int | None = None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
        if sig == signal.SIGKILL:
            after = oom_kills()
            if oom_before is not None and after is not None and after > oom_before:
                return f"out of memory (signal {sig})"
            return f"killed (signal {sig}, {name})"
        return f"killed by {name} (signal {sig})"
    return f"exit code {code}"


def tail_lines(path: Path, n: int = LOG_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(line for line in lines[-n:] if line.strip())


class ChildDied(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InferenceChild:
    """One inference child process and its two pipes."""

    def __init__(self, log_path: Path, *, log: IO[bytes] | None = None) -> None:
        """log: the log file, opened for appending (the runner opens it in its own folder); else
        log_path is opened."""
        self.log_path = log_path
        self.log = log if log is not None else log_path.open("ab")
        read_fd, write_fd = os.pipe()
        life_read, self._lifeline = os.pipe()  # the write end stays here, unwritten, until the child is done
        env = child_env(EDGETUI_EVENTS_FD=str(write_fd), **{LIFELINE_FD_ENV: str(life_read),
                                                           PARENT_PID_ENV: str(os.getpid())})
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edgetui.run.inference"], stdin=subprocess.PIPE, stdout=self.log,
                stderr=subprocess.STDOUT, pass_fds=(write_fd, life_read), env=env,
            )
        except BaseException:
            for fd in (read_fd, write_fd, life_read, self._lifeline):
                os.close(fd)
            self.log.close()
            raise
        os.close(write_fd)
        os.close(life_read)
        self.events = os.fdopen(read_fd, "rb", buffering=0)  # read by os.read in next_event
        self._pending = b""  # bytes read from the events pipe, not yet a whole line (next_event)
        self.pid = self.proc.pid
        self.oom_before = oom_kills()
        self.last_heard = time.monotonic()  # when the child last said something, or was last asked

    def silent_for(self) -> float:
        """Seconds since the child last sent an event (or was sent a command)."""
        return time.monotonic() - self.last_heard

    def send(self, cmd: dict[str, Any]) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
            self.last_heard = time.monotonic()
        except (BrokenPipeError, OSError):
            raise ChildDied(self.death_reason()) from None

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next event, None on timeout; ChildDied when the child is gone."""
        # Lines are split from a buffer of our own: select() sees only the pipe, so a second line
        # already pulled into a file object's read buffer (two events in one read) would wait
        # unseen behind it forever while the child waits for its next command.
        while b"\n" not in self._pending:
            ready, _, _ = select.select([self.events], [], [], timeout)
            if not ready:
                if self.proc.poll() is not None:
                    raise ChildDied(self.death_reason())
                return None
            chunk = os.read(self.events.fileno(), 65536)
            if not chunk:
                raise ChildDied(self.death_reason())
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        self.last_heard = time.monotonic()
        return json.loads(line)

    def death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        try:
            self.log.flush()
        except (OSError, ValueError):
            pass
        tail = tail_lines(self.log_path)
        return describe_exit(code, self.oom_before) + (f"; last log lines:\n{tail}" if tail else "")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close_files()

    def quit(self) -> None:
        try:
            self.send({"cmd": "quit"})
            self.proc.wait(timeout=30)
        except (ChildDied, subprocess.TimeoutExpired):
            self.kill()
        self.close_files()

    def close_files(self) -> None:
        for f in (self.events, self.proc.stdin, self.log):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        if self._lifeline >= 0:
            fd, self._lifeline = self._lifeline, -1
            os.close(fd)
