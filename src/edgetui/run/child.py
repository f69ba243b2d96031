"""The inference child as the runner sees it: a process with a command pipe, an event pipe
and a log, and the words for how it ended (exit code, signal, out of memory)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgetui.childenv import child_env

LOG_TAIL_LINES = 8


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

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        read_fd, write_fd = os.pipe()
        env = child_env(EDGETUI_EVENTS_FD=str(write_fd))
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgetui.run.inference"], stdin=subprocess.PIPE, stdout=self.log,
            stderr=subprocess.STDOUT, pass_fds=(write_fd,), env=env,
        )
        os.close(write_fd)
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
        self.log.flush()
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
