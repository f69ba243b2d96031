"""The controller's side of following a board's run: `ssh HOST python -m edgetui.fleet.stream ...`
(stream.py, on the board) and its frames written into a local mirror of the run folder.

The mirror's own file sizes are the offsets: a reconnection, or a controller started again after
a crash (`edgetui fleet resume`), asks for the bytes after what is on disk here, so only new bytes
cross the network and none is lost or written twice. A frame is written only once wholly read; a
frame cut by a crash mid-write leaves a shorter file, which the next connection simply continues.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgetui.fleet.inventory import FleetHost
from edgetui.rundir.layout import CONTROL, SEEN_MARK
from edgetui.fleet.ssh import ssh_argv
from edgetui.fleet.stream import WHOLE_FILES
from edgetui.rundir.store import atomic_write

MAX_PAYLOAD = 64 << 20  # appends come in 256 KiB frames; a whole results.json of a long sweep stays far below
STALL_S = 30.0  # no frame for this long (heartbeats come every 5 s): the connection is dead
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0)
_NAME = re.compile(r"^(logs/)?[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
# written into a mirror here, never fetched: the console's requests (sent to the board by the
# controller) and its "outcome shown" mark
LOCAL_ONLY = (CONTROL, SEEN_MARK)


class ProtocolError(Exception):
    pass


class Mirror:
    """A local copy of a board's run folder, grown frame by frame."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        if not _NAME.match(name) or ".." in name:  # a board never writes outside its mirror
            raise ProtocolError(f"refused file name {name!r}")
        return self.root / name

    def offsets(self) -> dict[str, int]:
        """Bytes held per append-only file (every file here but those sent whole)."""
        out: dict[str, int] = {}
        if not self.root.is_dir():
            return out
        for p in [*self.root.iterdir(), *((self.root / "logs").iterdir() if (self.root / "logs").is_dir() else [])]:
            name = p.relative_to(self.root).as_posix()
            if p.is_file() and name not in WHOLE_FILES and name not in LOCAL_ONLY and _NAME.match(name):
                out[name] = p.stat().st_size
        return out

    def append(self, name: str, offset: int, data: bytes) -> None:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else 0
        if offset > size:
            raise ProtocolError(f"{name}: bytes from {offset} sent, {size} held")
        data = data[size - offset:]  # what a previous connection already brought is not written twice
        if data:
            with path.open("ab") as f:
                f.write(data)

    def truncate(self, name: str, size: int) -> None:
        path = self.path(name)
        if path.exists() and path.stat().st_size > size:
            with path.open("rb+") as f:
                f.truncate(size)

    def whole(self, name: str, data: bytes) -> None:
        atomic_write(self.path(name), data)


class FrameReader:
    """Frames from a pipe: a JSON header line, then its payload of "n" bytes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.eof = False

    def fill(self, timeout: float) -> bool:
        """Read what is there within timeout; False when nothing came (or the pipe closed)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def next(self) -> tuple[dict[str, Any], bytes] | None:
        """A complete frame from the buffer, or None until more bytes come."""
        nl = self.buf.find(b"\n")
        if nl < 0:
            if len(self.buf) > 1 << 16:
                raise ProtocolError("a header line longer than 64 KiB")
            return None
        try:
            header = json.loads(self.buf[:nl])
        except ValueError:
            raise ProtocolError(f"not a frame header: {bytes(self.buf[:80])!r}") from None
        if not isinstance(header, dict):
            raise ProtocolError("not a frame header")
        n = int(header.get("n") or 0)
        if not 0 <= n <= MAX_PAYLOAD:  # the board never sends one this size: the stream is not ours, or is torn
            raise ProtocolError(f"a frame of {n} bytes announced (at most {MAX_PAYLOAD >> 20} MiB)")
        if len(self.buf) < nl + 1 + n:
            return None
        payload = bytes(self.buf[nl + 1:nl + 1 + n])
        del self.buf[:nl + 1 + n]
        return header, payload


class RemoteFollower(threading.Thread):
    """Follows one board's run until it ends: connects, mirrors, reconnects after a drop from the
    bytes already held, and gives up only after `reconnect_for_s` without a working connection.

    on_status(status, pid, clock_offset) hears the board's heartbeats; on_state(state, detail)
    hears connection changes (following, reconnecting, ended, lost). The result is in `.end`:
    the board's last status (finished, aborted, interrupted, missing) or None when contact was lost."""

    def __init__(self, host: FleetHost, python: str, run_dir: str, mirror: Path, *,
                 on_state: Callable[[str, str | None], None], on_status: Callable[[str, Any, float], None],
                 reconnect_for_s: float = 600.0, stop: threading.Event | None = None,
                 interval_s: float = 0.5) -> None:
        super().__init__(name=f"follow-{host.name}", daemon=True)
        self.host = host
        self.python = python
        self.run_dir = run_dir
        self.mirror = Mirror(mirror)
        self.on_state = on_state
        self.on_status = on_status
        self.reconnect_for_s = reconnect_for_s
        self.stop_event = stop or threading.Event()
        self.interval_s = interval_s
        self.end: str | None = None
        self.connections = 0
        self.last_error: str | None = None
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        remote = [self.python, "-m", "edgetui.fleet.stream", self.run_dir,
                  "--offsets", json.dumps(self.mirror.offsets(), separators=(",", ":")),
                  "--interval", str(self.interval_s)]
        return ssh_argv(self.host, remote, env=self.host.env)

    def run(self) -> None:
        self.mirror.root.mkdir(parents=True, exist_ok=True)
        failing_since: float | None = None
        attempt = 0
        while not self.stop_event.is_set():
            got_frames = self._connect_once()
            if self.end is not None or self.stop_event.is_set():
                return
            now = time.monotonic()
            if got_frames:
                failing_since, attempt = None, 0
            failing_since = failing_since or now
            if now - failing_since > self.reconnect_for_s:
                self.on_state("lost", f"no connection for {self.reconnect_for_s:g} s ({self.last_error}); "
                                      "the board's run goes on: `edgetui fleet resume` collects it later")
                return
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            attempt += 1
            self.on_state("reconnecting", f"{self.last_error or 'connection closed'}; again in {delay:g} s, "
                                          f"from the {sum(self.mirror.offsets().values())} bytes held")
            self.stop_event.wait(delay)

    def _connect_once(self) -> bool:
        """One connection, until the run ends, the connection drops or stalls; True if frames came."""
        self.connections += 1
        try:
            proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            self.last_error = f"could not start ssh: {exc}"
            return False
        self.proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        reader = FrameReader(out_fd)
        err = bytearray()
        watched = [out_fd, err_fd]
        got = False
        why: str | None = None
        last = time.monotonic()
        try:
            while not self.stop_event.is_set():
                ready, _, _ = select.select(watched, [], [], 1.0)
                if err_fd in ready:
                    chunk = os.read(err_fd, 65536)
                    if chunk:
                        err = (err + chunk)[-4096:]
                    else:
                        watched.remove(err_fd)
                if out_fd in ready:
                    if not reader.fill(0) and reader.eof:
                        break
                    while (frame := reader.next()) is not None:
                        if not got:
                            got = True
                            held = sum(self.mirror.offsets().values())
                            self.on_state("following", f"connected again, from the {held} bytes held"
                                          if self.connections > 1 else "connected")
                        last = time.monotonic()
                        self._apply(*frame)
                        if self.end is not None:
                            return True
                elif time.monotonic() - last > STALL_S:
                    why = f"nothing heard for {STALL_S:g} s"
                    break
        except (ProtocolError, OSError) as exc:
            why = str(exc)
        finally:
            self._stop_proc(proc)
        if why is None:
            tail = [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            why = tail[-1] if tail else f"ssh exited ({proc.returncode})"
        self.last_error = why
        return got

    def _apply(self, header: dict[str, Any], payload: bytes) -> None:
        if "f" in header:
            name = str(header["f"])
            if "truncate" in header:
                self.mirror.truncate(name, int(header["truncate"]))
            elif header.get("whole"):
                self.mirror.whole(name, payload)
            else:
                self.mirror.append(name, int(header["o"]), payload)
        elif "status" in header:
            mono = header.get("mono")
            offset = float(mono) - time.monotonic() if isinstance(mono, (int, float)) else 0.0
            self.on_status(str(header["status"]), header.get("pid"), offset)
        elif "end" in header:
            self.end = str(header["end"])
        elif "error" in header:
            raise ProtocolError(str(header["error"]))

    def _stop_proc(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
