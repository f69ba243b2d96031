"""The controller's side of following a board's run: `ssh HOST python -m edgetui.fleet.stream ...`
(stream.py, on the board) and its frames written into a local mirror of the run folder.

The mirror's own file sizes are the offsets: a reconnection, or a controller started again after
a crash (`edgetui fleet resume`), asks for the bytes after what is on disk here, so only new bytes
cross the network and none is lost or written twice. A frame is written only once wholly read; a
frame cut by a crash mid-write leaves a shorter file, which the next connection simply continues.

Everything a board sends is untrusted: a header is checked for its types before it is used
(`decode_header`), a board writes only the files a run folder has (never control.json or
runner.lock, which are the controller's), and a board that sends the same broken stream on every
connection is given up ("lost", with the reason) instead of being reconnected to forever.
"""

from __future__ import annotations

import json
import math
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
from edgetui.fleet.ssh import remote_command, ssh_argv, stdin_preamble
from edgetui.fleet.stream import APPEND_FILES, WHOLE_FILES
from edgetui.rundir.store import samples_segment_number

MAX_PAYLOAD = 64 << 20  # one frame: boards send 256 KiB (an older edgetui sent a whole file in one)
MAX_WHOLE = 4 << 30  # one file sent whole, in parts
MAX_NAME = 200
STALL_S = 30.0  # no frame for this long (heartbeats come every 5 s): the connection is dead
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0)
SAME_FAILURE_LOST = 3  # the same broken stream on this many connections in a row: the host is lost
_LOG_NAME = re.compile(r"^logs/[A-Za-z0-9_][A-Za-z0-9_.+-]*\.log$")
_WORD = re.compile(r"^[a-z][a-z_]{0,31}$")  # a status or an end, as the board's edgetui names them


class ProtocolError(Exception):
    pass


def mirrored_name(name: str) -> bool:
    """Whether a board may write this file into its mirror: the files of a run folder the streamer
    sends, nothing else (not control.json or runner.lock, the controller's; nothing outside)."""
    return name in APPEND_FILES or name in WHOLE_FILES or samples_segment_number(name) is not None \
        or (bool(_LOG_NAME.match(name)) and ".." not in name)


def _int(header: dict[str, Any], key: str, *, low: int = 0, high: int | None = None) -> int:
    v = header.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < low or (high is not None and v > high):
        raise ProtocolError(f"frame field {key!r} = {str(v)[:40]!r} is not a whole number"
                            + (f" in {low}..{high}" if high is not None else f" of at least {low}"))
    return v


def decode_header(line: bytes) -> dict[str, Any]:
    """One frame header, its fields checked for their types (stream.py lists them); ProtocolError
    for anything else, with what was wrong."""
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than any header of ours
        raise ProtocolError(f"not a frame header: {bytes(line[:80])!r}") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"not a frame header: {bytes(line[:80])!r}")
    if "n" in header:
        n = header["n"]
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_PAYLOAD:
            # the board never sends one like this: the stream is not ours, or is torn
            raise ProtocolError(f"a frame of {str(n)[:40]} bytes announced (a whole number, at most "
                                f"{MAX_PAYLOAD >> 20} MiB)")
    if "f" in header:
        name = header["f"]
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise ProtocolError(f"refused file name {str(name)[:80]!r}")
        if "truncate" in header:
            _int(header, "truncate")
        elif "whole" in header:
            if header["whole"] is not True:
                raise ProtocolError("frame field 'whole' is not true")
            if "size" in header:  # in parts (an older edgetui sent the file in one frame)
                _int(header, "size", high=MAX_WHOLE)
                _int(header, "o", high=header["size"])
        else:
            _int(header, "o")
    elif "status" in header:
        if not isinstance(header["status"], str) or not _WORD.match(header["status"]):
            raise ProtocolError(f"a status that is not one: {str(header['status'])[:40]!r}")
        pid, mono = header.get("pid"), header.get("mono")
        if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
            raise ProtocolError(f"a pid that is not one: {str(pid)[:40]!r}")
        if mono is not None and (not isinstance(mono, (int, float)) or isinstance(mono, bool)
                                 or not math.isfinite(mono)):
            raise ProtocolError(f"a clock reading that is not one: {str(mono)[:40]!r}")
    elif "end" in header:
        if not isinstance(header["end"], str) or not _WORD.match(header["end"]):
            raise ProtocolError(f"an end that is not one: {str(header['end'])[:40]!r}")
    elif "error" in header:
        header["error"] = str(header["error"])[:500]
    return header


class Mirror:
    """A local copy of a board's run folder, grown frame by frame."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        if not mirrored_name(name):  # a board never writes outside its mirror, nor the controller's files
            raise ProtocolError(f"refused file name {name[:80]!r}")
        return self.root / name

    def offsets(self) -> dict[str, int]:
        """Bytes held per append-only file (every file here but those sent whole)."""
        out: dict[str, int] = {}
        if not self.root.is_dir():
            return out
        for p in [*self.root.iterdir(), *((self.root / "logs").iterdir() if (self.root / "logs").is_dir() else [])]:
            name = p.relative_to(self.root).as_posix()
            if p.is_file() and name not in WHOLE_FILES and mirrored_name(name):
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

    def whole(self, name: str, data: bytes, *, offset: int = 0, size: int | None = None) -> None:
        """Part of one version of a file sent whole (bytes offset.. of size in all); the file is
        replaced once every part has come. A part that does not continue the parts held starts
        nothing: the next connection sends the file again from its start."""
        path = self.path(name)
        size = len(data) if size is None else size
        part = path.with_name(f".{path.name}.part")  # a dot name: never a mirrored file's
        if offset + len(data) > size:
            raise ProtocolError(f"{name}: {offset + len(data)} bytes of a file of {size} sent")
        if offset == 0:
            part.unlink(missing_ok=True)
        elif not part.exists() or part.stat().st_size != offset:
            raise ProtocolError(f"{name}: a part from byte {offset} sent, {part.stat().st_size if part.exists() else 0} "
                                "held")
        path.parent.mkdir(parents=True, exist_ok=True)
        with part.open("ab") as f:
            f.write(data)
            if offset + len(data) == size:
                f.flush()
                os.fsync(f.fileno())
        if offset + len(data) == size:
            os.replace(part, path)


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
        header = decode_header(bytes(self.buf[:nl]))
        n = header.get("n", 0)
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
        self._protocol_error = False  # the last connection ended on a stream that is not ours
        self._halt = threading.Event()  # this host alone is no longer followed (halt())

    def halt(self) -> None:
        """Stop following this board (the controller gave up on it); the others go on."""
        self._halt.set()

    def _stopping(self) -> bool:
        return self.stop_event.is_set() or self._halt.is_set()

    def argv(self) -> list[str]:
        remote = remote_command(self.python, ["-m", "edgetui.fleet.stream", self.run_dir, "--offsets-stdin",
                                              "--interval", str(self.interval_s)])
        return ssh_argv(self.host, remote)

    def stdin_bytes(self) -> bytes:
        """What the remote side reads first: its environment, then the offsets held here."""
        return stdin_preamble(self.host.env) + json.dumps(self.mirror.offsets(), separators=(",", ":")).encode() + b"\n"

    def run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # this host's follower only: the others and the controller go on
            import traceback

            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.end = None
            self.last_error = (f"the controller could not follow this board: {type(exc).__name__}: {exc} "
                               f"({Path(where.filename).name}:{where.lineno})")
            try:
                self.on_state("lost", self.last_error)
            except Exception:
                pass

    def _follow(self) -> None:
        self.mirror.root.mkdir(parents=True, exist_ok=True)
        failing_since: float | None = None
        attempt = 0
        same: tuple[str | None, int] = (None, 0)  # the last protocol failure, and how often in a row
        while not self._stopping():
            got_frames = self._connect_once()
            if self.end is not None or self._stopping():
                return
            if self._protocol_error:
                same = (self.last_error, same[1] + 1 if same[0] == self.last_error else 1)
                if same[1] >= SAME_FAILURE_LOST:
                    self.on_state("lost", f"{self.last_error} (the same on {same[1]} connections in a row: "
                                          "the board's stream is broken, not the network)")
                    return
            else:
                same = (None, 0)
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
            until = time.monotonic() + delay
            while not self._stopping() and time.monotonic() < until:
                self.stop_event.wait(min(0.5, until - time.monotonic()))

    def _connect_once(self) -> bool:
        """One connection, until the run ends, the connection drops or stalls; True if frames came."""
        self.connections += 1
        self._protocol_error = False
        try:
            proc = subprocess.Popen(self.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            self.last_error = f"could not start ssh: {exc}"
            return False
        self.proc = proc
        threading.Thread(target=self._send_stdin, args=(proc, self.stdin_bytes()), daemon=True,
                         name=f"follow-{self.host.name}-stdin").start()
        assert proc.stdout is not None and proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        reader = FrameReader(out_fd)
        err = bytearray()
        watched = [out_fd, err_fd]
        got = False
        why: str | None = None
        last = time.monotonic()
        try:
            while not self._stopping():
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
        except ProtocolError as exc:
            why = str(exc)
            self._protocol_error = True
        except OSError as exc:
            why = str(exc)
        finally:
            self._stop_proc(proc)
        if why is None:
            tail = [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            why = tail[-1] if tail else f"ssh exited ({proc.returncode})"
        self.last_error = why
        return got

    @staticmethod
    def _send_stdin(proc: subprocess.Popen, data: bytes) -> None:
        """Written beside the reading loop: offsets past a pipe's buffer must not hold it up."""
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except (OSError, ValueError):  # ssh has gone (its reason comes on stderr)
            pass

    def _apply(self, header: dict[str, Any], payload: bytes) -> None:
        """One frame, its header checked already (decode_header)."""
        if "f" in header:
            name = header["f"]
            if "truncate" in header:
                self.mirror.truncate(name, header["truncate"])
            elif header.get("whole"):
                self.mirror.whole(name, payload, offset=header.get("o", 0), size=header.get("size"))
            else:
                self.mirror.append(name, header["o"], payload)
        elif "status" in header:
            mono = header.get("mono")
            offset = mono - time.monotonic() if mono is not None else 0.0
            self.on_status(header["status"], header.get("pid"), offset)
        elif "end" in header:
            self.end = header["end"]
        elif "error" in header:
            raise ProtocolError(header["error"])

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
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                stream.close()
