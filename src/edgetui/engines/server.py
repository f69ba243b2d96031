"""Engines that drive an inference server over the network (Ollama, Hailo-Ollama,
OpenAI-compatible servers, M5Stack StackFlow): what they share.

- HTTP with the standard library only, streaming line by line, every failure (refused,
  timeout, HTTP error, a stream cut short) turned into an EngineError with a clear reason.
- The workload: an exact prompt length in tokens is found by asking the server how it
  counts candidate prompts (a one-token request each), then verified on every repetition.
- Prefix caches: servers reuse the KV cache of a prompt prefix they saw before, which
  would turn a repeated prompt into no prefill at all. Each repetition's prompt therefore
  starts with its own short tag ("[001] "), recorded with the result."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from edgetui.engines.base import PROGRESS_PERIOD_S, Engine, EngineError, Emit
from edgetui.engines.prompt import PROMPT_TEXT
from edgetui.profiles.plan import Configuration

MAX_FIT_TRIES = 10
FILLERS = (" a", " and so", " and so on")  # one, two, three words to close a gap
ERROR_BODY_CHARS = 300


def describe_os_error(exc: BaseException, where: str, timeout_s: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused (is the server running?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {where} within {timeout_s:g} s (timeout_s in [engine])"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of {where}: {exc.strerror or exc}"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return f"{where} closed the connection ({type(exc).__name__})"
    return f"cannot talk to {where}: {type(exc).__name__}: {exc}"


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


class HttpServer:
    """A base URL, and JSON requests to it with one timeout for connecting and for each read."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(f'engine url "{url}" is not an http:// or https:// address')
        self.url = url.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout_s)

    @contextmanager
    def open(self, method: str, path: str, body: Any = None) -> Iterator[http.client.HTTPResponse]:
        """An open response with status 2xx; an EngineError naming the server's reason otherwise."""
        where = self.url + path
        conn = self._connection()
        try:
            headers = {"Accept": "application/json, application/x-ndjson, text/event-stream"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise EngineError(describe_os_error(exc, where, self.timeout_s)) from None
            if resp.status >= 400:
                try:
                    detail = server_error_text(resp.read())
                except (OSError, http.client.HTTPException):
                    detail = "(no body)"
                raise EngineError(f"{where} answered HTTP {resp.status}: {detail}")
            yield resp
        finally:
            conn.close()

    def text(self, method: str, path: str, body: Any = None) -> str:
        with self.open(method, path, body) as resp:
            try:
                return resp.read().decode("utf-8", errors="replace")
            except (OSError, http.client.HTTPException) as exc:
                raise EngineError(describe_os_error(exc, self.url + path, self.timeout_s)) from None

    def json(self, method: str, path: str, body: Any = None) -> Any:
        raw = self.text(method, path, body)
        try:
            return json.loads(raw)
        except ValueError:
            raise EngineError(f"{self.url + path} answered something that is not JSON: {raw[:120]!r}") from None

    def finish(self, resp: http.client.HTTPResponse) -> None:
        """Read a stream to its end before closing: a client that hangs up right after the last
        event races the server's clean-up (llama-cpp-python's server can then keep its model lock
        and answer nothing more, abetlen/llama-cpp-python#1861)."""
        try:
            resp.read()
        except (OSError, http.client.HTTPException):
            pass

    def lines(self, resp: http.client.HTTPResponse, path: str) -> Iterator[tuple[bytes, float]]:
        """The response's lines as they arrive, each with its monotonic arrival time."""
        where = self.url + path
        while True:
            try:
                line = resp.readline()
            except (OSError, http.client.HTTPException) as exc:
                raise EngineError("stream broken: " + describe_os_error(exc, where, self.timeout_s)) from None
            if not line:
                return
            yield line, time.monotonic()


class ServerEngine(Engine):
    """An engine whose model runs in a server: the worker process only sends and times requests."""

    def __init__(self, config: Configuration, model_path: str | None, emit: Emit) -> None:
        super().__init__(config, model_path, emit)
        if not config.engine_url:
            raise EngineError(f'the "{config.engine}" engine needs [engine] url')
        if not config.model_name:
            raise EngineError(f'the "{config.engine}" engine needs the server\'s model name ([[models]] name)')
        self.model_name = config.model_name
        self.timeout_s = config.engine_timeout_s
        self._tag_counter = 0
        self._fitted: dict[int, tuple[str, int]] = {}  # prompt_tokens -> (body text, tokens counted)

    # ------------------------------------------------------------ the workload
    def next_tag(self) -> str:
        """A fixed-width tag that differs between requests, so no server can reuse a cached prefix."""
        self._tag_counter = self._tag_counter % 999 + 1
        return f"[{self._tag_counter:03d}] "

    def count_prompt_tokens(self, text: str) -> int | None:
        """How many tokens the server prefills for this prompt text (None when it cannot tell)."""
        return None

    def prompt_for(self, config: Configuration) -> tuple[str, dict[str, Any]]:
        """This repetition's prompt text, and what to record about it."""
        tag = self.next_tag()
        if config.prompt is not None:
            return tag + config.prompt, {"prompt_prefix": tag}
        want = config.prompt_tokens or 1
        if want not in self._fitted:
            self._fitted[want] = self.fit_prompt(want)
        body, counted = self._fitted[want]
        note = {"prompt_prefix": tag, "prompt_tokens_asked": want}
        if counted != want:
            note["prompt_fit"] = f"the closest prompt found has {counted} tokens, not {want}"
        return tag + body, note

    def fit_prompt(self, want: int) -> tuple[str, int]:
        """A body text that, after a tag, the server counts as `want` prompt tokens (its template
        and special tokens included): words of a fixed text are added or removed until it does."""
        words = PROMPT_TEXT.split()
        tag = "[000] "

        def text_of(n: int) -> str:
            reps = n // len(words) + 1
            return " ".join((words * reps)[:n])

        n = max(want // 2, 1)
        best: tuple[int, str, int] | None = None  # (distance, text, count)
        seen: dict[int, int] = {}
        for _ in range(MAX_FIT_TRIES):
            text = text_of(n)
            got = self.count_prompt_tokens(tag + text)
            if got is None:
                raise EngineError(f"the server does not report prompt token counts, so a prompt of exactly "
                                  f"{want} tokens cannot be built: give [workload] prompt instead")
            seen[n] = got
            if best is None or abs(got - want) < best[0]:
                best = (abs(got - want), text, got)
            if got == want:
                break
            step = want - got
            nxt = max(n + (step if abs(step) > 1 else (1 if step > 0 else -1)), 0)
            if nxt in seen:  # one word more overshoots, one fewer undershoots
                break
            n = nxt
        assert best is not None
        under = [k for k, c in seen.items() if c < want]
        if best[0] and under:
            # Between two word counts: fill up with short words, most tokenizers' single tokens.
            base = text_of(max(under, key=lambda k: seen[k]))
            for filler in FILLERS:
                got = self.count_prompt_tokens(tag + base + filler)
                if got is not None and abs(got - want) < best[0]:
                    best = (abs(got - want), base + filler, got)
                if got == want:
                    break
        return best[1], best[2]

    # ------------------------------------------------------------ progress
    def progress_reporter(self, config: Configuration, rep: int, warmup: bool) -> Callable[[int], None]:
        """Report decode progress at most every PROGRESS_PERIOD_S (for the live tokens/s pane)."""
        next_at = [0.0]

        def report(tokens: int) -> None:
            now = time.monotonic()
            if now >= next_at[0]:
                self.progress(config, rep, warmup, "decode", tokens)
                next_at[0] = now + PROGRESS_PERIOD_S

        return report


def ns_to_ms(value: Any) -> float | None:
    return value / 1e6 if isinstance(value, (int, float)) and not isinstance(value, bool) else None

