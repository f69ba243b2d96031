"""Reading from a server without trusting it: the socket helpers every server engine shares.

A server on a board in the field may stream forever, trickle a byte a second, send one line of
gigabytes or keep a connection open and say nothing. None of that may hang the queue or exhaust
the board's memory, so every read of a server's socket is bounded
- in time, twice: each read waits at most timeout_s (a server that says nothing), and the whole
  request at most its deadline (a server that always says something, but never finishes);
- in size: a line or a body over MAX_LINE_BYTES / MAX_BODY_BYTES is refused.

The HTTP client (engines/httpclient.py) and StackFlow's TCP connection both read through
BoundedSocketIO; every failure is turned into a sentence naming the server and what it did."""

from __future__ import annotations

import http.client
import io
import socket
import time
from typing import Any

MB = 1024 * 1024
MAX_LINE_BYTES = 16 * MB  # far above any real stream line (a token, or a JSON reply of a few kB)
MAX_BODY_BYTES = 16 * MB  # far above any real JSON reply (/api/tags, /v1/models, a completion)


class Deadline:
    """The moment a whole request must be over by (None: no whole-request limit)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds if seconds is not None else None
        self.received = 0  # bytes read within it, for the message when it passes

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    @property
    def passed(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def tighten(self, seconds: float) -> None:
        """End no later than `seconds` from now (a last drain of a stream that is already complete)."""
        at = time.monotonic() + seconds
        self.at = at if self.at is None else min(self.at, at)


class DeadlinePassed(Exception):
    """The whole request took longer than its deadline (not an OSError: nothing failed on the wire)."""


class TooLarge(Exception):
    """A line or a body over its limit."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} over {limit // MB} MB")
        self.what, self.limit = what, limit


class BoundedSocketIO(io.RawIOBase):
    """A socket's reads, each waiting at most read_timeout_s and none past the deadline, so that a
    trickle (a byte a second, each read on time) still ends at the deadline. It reads through the
    socket's own unbuffered file, which keeps the socket open while it is (http.client closes its
    connection as soon as a response without a length is under way)."""

    def __init__(self, sock: socket.socket, read_timeout_s: float | None, deadline: Deadline | None = None) -> None:
        super().__init__()
        self.sock = sock
        self.file = sock.makefile("rb", buffering=0)
        self.read_timeout_s = read_timeout_s
        self.deadline = deadline or Deadline(None)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        wait = self.read_timeout_s  # None: no limit per read (never so for a server engine)
        left = self.deadline.remaining()
        if left is not None:
            if left <= 0:
                raise DeadlinePassed()
            wait = left if wait is None else min(wait, left)
        self.sock.settimeout(wait)
        try:
            n = self.file.readinto(b)
        except TimeoutError:
            if self.deadline.passed:
                raise DeadlinePassed() from None
            raise
        if n is None:  # only a non-blocking socket has nothing yet, and this one has a timeout
            raise TimeoutError
        self.deadline.received += n
        return n

    def close(self) -> None:
        self.file.close()
        super().close()


class BoundedSocket:
    """A socket whose makefile() reads through BoundedSocketIO (what http.client reads a response
    with); everything else is the socket's own."""

    def __init__(self, sock: socket.socket, read_timeout_s: float | None, deadline: Deadline) -> None:
        self._sock = sock
        self.read_timeout_s = read_timeout_s
        self.deadline = deadline

    def makefile(self, mode: str = "rb", *args: Any, **kw: Any) -> io.BufferedReader:
        assert "r" in mode and "b" in mode, "only http.client's binary reads go through here"
        return io.BufferedReader(BoundedSocketIO(self._sock, self.read_timeout_s, self.deadline))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def read_line(f: Any, limit: int = MAX_LINE_BYTES) -> bytes:
    """One line (b"" at the end), refused past `limit` bytes: at most limit + 1 bytes are ever held."""
    line = f.readline(limit + 1)
    if len(line) > limit:
        raise TooLarge("a line", limit)
    return line


def read_body(f: Any, limit: int = MAX_BODY_BYTES) -> bytes:
    """A whole body, refused past `limit` bytes."""
    data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("a body", limit)
    return data


def describe_failure(exc: BaseException, where: str, timeout_s: float, deadline: Deadline | None = None) -> str:
    """What went wrong talking to `where`, in words a user can act on."""
    if isinstance(exc, DeadlinePassed):
        limit = deadline.seconds if deadline is not None and deadline.seconds is not None else None
        within = f"within {limit:g} s" if limit is not None else "within its deadline"
        got = deadline.received if deadline is not None else 0
        sent = "sent no byte" if not got else f"sent {got} bytes"
        return (f"{where} did not finish the request {within} (request_timeout_s in [engine]; it {sent}): "
                "abandoned")
    if isinstance(exc, TooLarge):
        return f"{where} sent {exc.what} over {exc.limit // MB} MB: refused (not a reply edgetui can read)"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused (is the server running?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {where} within {timeout_s:g} s (timeout_s in [engine])"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of {where}: {exc.strerror or exc}"
    if isinstance(exc, http.client.RemoteDisconnected):  # before ConnectionResetError, its base
        return f"{where} closed the connection without answering"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return f"{where} closed the connection ({type(exc).__name__})"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the answer from {where} was cut short (the connection closed before the length it announced)"
    if isinstance(exc, http.client.LineTooLong):
        return f"{where} sent a header or chunk-size line over 64 kB: refused (is it an HTTP server?)"
    if isinstance(exc, http.client.BadStatusLine):
        return f"{where} did not answer HTTP (is the url's port that of the server's API?)"
    return f"cannot talk to {where}: {type(exc).__name__}: {exc}"
