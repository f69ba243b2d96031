"""What a server in the field may do to a client (issue 16), for the HTTP stand-ins to do on request.

A stand-in's handler subclasses MisbehavingHandler and says what its stream lines look like
(piece_line, flood_head, stream_content_type); its server object carries the knobs
(Misbehaviour). Everything is written as it is made, so that a 100 MB line is never held by the
stand-in either."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

MISBEHAVIOURS = {
    "endless": "ignores the token limit: a token every endless_period_s until the client hangs up",
    "trickle": "one byte of a stream line every trickle_period_s, never a whole line",
    "flood": "one line of flood_bytes (100 MB), streamed in 64 kB pieces",
    "silent": "accepts the request and sends no byte until the client hangs up",
    "html": "answers 200 with an HTML page (a router's login, a proxy)",
    "empty": "answers 200 with an empty body",
    "truncated": "announces a chunk and closes the connection halfway through it",
}
PIECE = b"x" * (64 * 1024)


class Misbehaviour:
    """The knobs, on the stand-in server object."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.endless_period_s = 0.01
        self.trickle_period_s = 1.0
        self.flood_bytes = 100 * 1024 * 1024
        self.flood_sent = 0  # bytes of the flood line sent before the client hung up


class MisbehavingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stream_content_type = "application/x-ndjson"
    knobs: Misbehaviour

    def log_message(self, *args: Any) -> None:
        pass

    # the stand-in's own stream: one piece of text as a whole line, and the start of one
    def piece_line(self, i: int) -> bytes:
        raise NotImplementedError

    def flood_head(self) -> bytes:
        raise NotImplementedError

    # chunked transfer encoding, as Ollama and llama-server stream
    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.stream_content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk_bytes(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def misbehave(self, mode: str) -> None:
        self.close_connection = True
        try:
            getattr(self, "_" + mode)()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: what a client should do to such a server

    def _endless(self) -> None:
        self._start_stream()
        i = 0
        while not self.knobs.stopping.is_set():
            self._chunk_bytes(self.piece_line(i))
            i += 1
            time.sleep(self.knobs.endless_period_s)

    def _trickle(self) -> None:
        self._start_stream()
        line = self.piece_line(0)
        i = 0
        while not self.knobs.stopping.wait(self.knobs.trickle_period_s):
            self._chunk_bytes(line[i % len(line):][:1])
            i += 1

    def _flood(self) -> None:
        self._start_stream()
        head = self.flood_head()
        self._chunk_bytes(head)
        self.knobs.flood_sent = len(head)
        while self.knobs.flood_sent < self.knobs.flood_bytes and not self.knobs.stopping.is_set():
            self._chunk_bytes(PIECE)
            self.knobs.flood_sent += len(PIECE)
        self._chunk_bytes(b'"}\n')
        self._end_stream()

    def _silent(self) -> None:
        self.connection.settimeout(0.2)
        while not self.knobs.stopping.is_set():
            try:
                if not self.connection.recv(1):
                    return  # the client hung up
            except TimeoutError:
                continue

    def _html(self) -> None:
        page = b"<!DOCTYPE html><html><head><title>Router login</title></head><body>Sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def _empty(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _truncated(self) -> None:
        self._start_stream()
        line = self.piece_line(0)
        self.wfile.write(f"{len(line) * 3:x}\r\n".encode() + line)  # a third of what it announced
        self.wfile.flush()
        self.connection.shutdown(2)
