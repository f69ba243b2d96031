"""JSON over HTTP to an inference server (Ollama, hailo-ollama, OpenAI-compatible servers), with the
standard library only: every read bounded by engines/streams.py, every failure (refused, timeout,
deadline, HTTP error, HTML or an empty body where JSON was due, a stream cut short, a line or a
body too large) an EngineError with a clear reason."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from edgetui.engines.base import EngineError
from edgetui.engines.streams import BoundedSocket, Deadline, DeadlinePassed, TooLarge, describe_failure, read_body, read_line

ERROR_BODY_CHARS = 300
ERROR_BODY_BYTES = 64 * 1024  # an error page is read this far, no further
# After a complete stream, what is left of it is read this long at most before hanging up.
DRAIN_S = 2.0
READ_ERRORS = (OSError, http.client.HTTPException, DeadlinePassed, TooLarge)


def server_error_text(body: bytes) -> str:
    """The server's own words from an error body (Ollama and OpenAI servers put them in "error")."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return text[:ERROR_BODY_CHARS] or "(empty body)"
    err = obj.get("error", obj.get("detail", obj)) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        err = err.get("message") or err
    return str(err)[:ERROR_BODY_CHARS]


def looks_like_html(text: str) -> bool:
    return text.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))


def not_json(where: str, raw: str) -> str:
    """Why a body that should be JSON is not: empty, an HTML page (a proxy, a router's login, the
    wrong port), or something else."""
    text = raw.strip()
    if not text:
        return f"{where} answered an empty body where JSON was expected"
    if looks_like_html(text):
        return (f"{where} answered an HTML page, not JSON (is the url that of the server's API, "
                f"not a web page or a proxy?): {text[:120]!r}")
    return f"{where} answered something that is not JSON: {text[:120]!r}"


class BoundedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose responses read through the bounds of engines/streams.py."""

    deadline: Deadline

    def connect(self) -> None:
        super().connect()
        self.sock = BoundedSocket(self.sock, self.timeout, self.deadline)


class BoundedHTTPSConnection(http.client.HTTPSConnection):
    deadline: Deadline

    def connect(self) -> None:
        super().connect()  # the TLS socket, then the bounds over it
        self.sock = BoundedSocket(self.sock, self.timeout, self.deadline)


class Stream:
    """An open 2xx response, read within the request's deadline."""

    def __init__(self, resp: http.client.HTTPResponse, where: str, timeout_s: float, deadline: Deadline) -> None:
        self.resp, self.where, self.timeout_s, self.deadline = resp, where, timeout_s, deadline

    def failure(self, exc: BaseException) -> str:
        return describe_failure(exc, self.where, self.timeout_s, self.deadline)

    def body(self) -> bytes:
        try:
            return read_body(self.resp)
        except READ_ERRORS as exc:
            raise EngineError(self.failure(exc)) from None

    def lines(self) -> Iterator[tuple[bytes, float]]:
        """The response's lines as they arrive, each with its monotonic arrival time. A last line
        without its newline is the stream cut in the middle of one (see cut_line)."""
        while True:
            try:
                line = read_line(self.resp)
            except READ_ERRORS as exc:
                raise EngineError("stream broken: " + self.failure(exc)) from None
            if not line:
                return
            yield line, time.monotonic()

    def drain(self) -> None:
        """Read what is left of a complete stream before hanging up, briefly: a client that hangs up
        right after the last event races the server's clean-up (llama-cpp-python's server can then
        keep its model lock and answer nothing more, abetlen/llama-cpp-python#1861). A server that
        goes on sending is simply hung up on: the stream was already complete."""
        self.deadline.tighten(DRAIN_S)
        try:
            while self.resp.read(64 * 1024):
                pass
        except READ_ERRORS:
            pass


def cut_line(where: str, line: bytes, what: str = "a line") -> str:
    """Why a stream line could not be parsed: cut in the middle (its newline never came), or not
    what was due."""
    if looks_like_html(line.decode("utf-8", errors="replace")):
        return not_json(where, line.decode("utf-8", errors="replace"))
    if not line.endswith(b"\n"):
        return f"the stream from {where} was cut in the middle of a line: {line[:120]!r}"
    return f"{where} sent {what} that is not JSON: {line.strip()[:120]!r}"


class HttpServer:
    """A base URL, and JSON requests to it: one timeout for connecting and for each read
    (timeout_s), one deadline for each whole request (request_timeout_s)."""

    def __init__(self, url: str, timeout_s: float, request_timeout_s: float | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(f'engine url "{url}" is not an http:// or https:// address')
        self.url = url.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self.request_timeout_s = request_timeout_s

    @contextmanager
    def open(self, method: str, path: str, body: Any = None, *, deadline_s: float | None = None,
             whole_request: bool = True) -> Iterator[Stream]:
        """An open response with status 2xx; an EngineError naming the server's reason otherwise.
        deadline_s: this request's own deadline (a repetition's, from its gen_tokens), else
        request_timeout_s; whole_request=False: no deadline for the whole request (a model pull
        may take hours; each read still waits at most timeout_s)."""
        where = self.url + path
        seconds = (deadline_s if deadline_s is not None else self.request_timeout_s) if whole_request else None
        deadline = Deadline(seconds)
        cls = BoundedHTTPSConnection if self.scheme == "https" else BoundedHTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout_s)
        conn.deadline = deadline
        try:
            headers = {"Accept": "application/json, application/x-ndjson, text/event-stream"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
            except READ_ERRORS as exc:
                raise EngineError(describe_failure(exc, where, self.timeout_s, deadline)) from None
            if resp.status >= 400:
                try:
                    detail = server_error_text(resp.read(ERROR_BODY_BYTES))
                except READ_ERRORS:
                    detail = "(no body)"
                raise EngineError(f"{where} answered HTTP {resp.status}: {detail}")
            yield Stream(resp, where, self.timeout_s, deadline)
        finally:
            conn.close()

    def text(self, method: str, path: str, body: Any = None) -> str:
        with self.open(method, path, body) as stream:
            return stream.body().decode("utf-8", errors="replace")

    def json(self, method: str, path: str, body: Any = None) -> Any:
        raw = self.text(method, path, body)
        try:
            return json.loads(raw)
        except ValueError:
            raise EngineError(not_json(self.url + path, raw)) from None
