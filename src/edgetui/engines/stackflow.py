"""M5Stack StackFlow (AX630C LLM Module and kit): JSON messages over TCP, port 10001.

The protocol, from M5Stack's StackFlow documentation and sources (llm_sys, llm_llm):
- every request is one JSON object {"request_id", "work_id", "action", "object", "data"};
  every reply is one JSON object per line {"created", "data", "error": {"code", "message"},
  "object", "request_id", "work_id"}, error.code 0 meaning success;
- setup: work_id "llm", object "llm.setup", data {model, response_format "llm.utf-8.stream",
  input "llm.utf-8", enoutput, max_token_len, prompt (the system prompt)}; the reply's work_id
  ("llm.1002") names the unit for what follows;
- inference: object "llm.utf-8.stream", data {delta: the text, index 0, finish true}; the
  unit streams {"delta", "index", "finish"} objects and ends with an empty delta, finish true;
- pause stops a running inference; exit frees the unit; sys.version and sys.lsmode describe
  the device and the models installed on it.

What StackFlow does not say, edgetui cannot measure: there are no token counts and no timers.
The llm unit decodes and sends its output every 3 tokens, so the tokens produced are
estimated as 3 per chunk (the last chunk at an end of sequence may hold fewer), the first
chunk arrives 3 tokens in, and all rates are the wall clock's. Each row says so. max_token_len
caps prompt and generated positions together; it comes from n_ctx. The unit cannot be asked
for an exact number of tokens: edgetui pauses it once gen_tokens have arrived, and a unit that
goes on regardless fails the configuration (StreamBudget in engines/server.py says why).

Every read of the connection is bounded (engines/streams.py): timeout_s per read, a deadline per
request (request_timeout_s), 16 MB per line."""

from __future__ import annotations

import io
import json
import socket
import time
import uuid
from typing import Any

from edgetui.engines.base import Emit, EngineError, LoadInfo, RepResult
from edgetui.engines.server import OVERRUN_MARGIN, ServerEngine, offsets_ms, request_timeout_s
from edgetui.engines.serverproc import url_host_port
from edgetui.engines.streams import BoundedSocketIO, Deadline, DeadlinePassed, TooLarge, describe_failure, read_line
from edgetui.profiles.plan import Configuration

DEFAULT_PORT = 10001
TOKENS_PER_CHUNK = 3  # llm_llm's runner: decoded text goes out every 3 tokens
SYSTEM_PROMPT = "You are a helpful assistant."  # the unit's, unless [workload] system_prompt says otherwise
STREAM_FORMAT = "llm.utf-8.stream"
CLOSE_WAIT_S = 5.0


class StackFlowRefused(EngineError):
    """The device answered a request with an error code (as opposed to not answering at all)."""


class StackFlowEngine(ServerEngine):
    kind = "stackflow"

    def __init__(self, config: Configuration, model_path: str | None, emit: Emit) -> None:
        super().__init__(config, model_path, emit)
        url = config.engine_url or ""
        if "://" in url and not url.startswith("tcp://"):
            raise EngineError(f'the stackflow engine talks TCP: give url = "tcp://host:{DEFAULT_PORT}", not "{url}"')
        self.host, port = url_host_port(url, DEFAULT_PORT)
        self.port = port or DEFAULT_PORT
        self.where = f"tcp://{self.host}:{self.port}"
        self.sock: socket.socket | None = None
        self.io: BoundedSocketIO | None = None
        self.reader: io.BufferedReader | None = None
        self.work_id: str | None = None

    # ------------------------------------------------------------ the connection
    def connect(self) -> None:
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise EngineError(describe_failure(exc, self.where, self.timeout_s)) from None
        self.io = BoundedSocketIO(self.sock, self.timeout_s)
        self.reader = io.BufferedReader(self.io)

    def start_request(self, seconds: float) -> None:
        """Reads from here on end at the deadline of the request about to be sent."""
        assert self.io is not None
        self.io.deadline = Deadline(seconds)

    def send(self, action: str, work_id: str, obj: str | None = None, data: Any = None) -> str:
        request_id = uuid.uuid4().hex[:12]
        msg: dict[str, Any] = {"request_id": request_id, "work_id": work_id, "action": action}
        if obj is not None:
            msg["object"] = obj
        if data is not None:
            msg["data"] = data
        assert self.sock is not None
        try:
            self.sock.settimeout(self.timeout_s)
            self.sock.sendall(json.dumps(msg).encode())
        except OSError as exc:
            raise EngineError(describe_failure(exc, self.where, self.timeout_s)) from None
        return request_id

    def ask(self, action: str, work_id: str, what: str, obj: str | None = None, data: Any = None) -> dict[str, Any]:
        """One request and its reply, within request_timeout_s."""
        self.start_request(self.request_timeout_s)
        return self.reply_to(self.send(action, work_id, obj, data), what)

    def receive(self) -> tuple[dict[str, Any], float]:
        """The next message and its monotonic arrival time."""
        assert self.reader is not None and self.io is not None
        while True:
            try:
                line = read_line(self.reader)
            except (OSError, DeadlinePassed, TooLarge) as exc:
                raise EngineError(describe_failure(exc, self.where, self.timeout_s, self.io.deadline)) from None
            t = time.monotonic()
            if not line:
                raise EngineError(f"{self.where} closed the connection")
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                if not line.endswith(b"\n"):
                    raise EngineError(f"{self.where} closed the connection in the middle of a message: "
                                      f"{line[:120]!r}") from None
                raise EngineError(f"{self.where} sent something that is not JSON: {line[:120]!r}") from None
            if not isinstance(msg, dict):
                raise EngineError(f"{self.where} sent something that is not a JSON object: {line[:120]!r}")
            return msg, t

    def reply_to(self, request_id: str, what: str) -> dict[str, Any]:
        """The reply to one request; its error, if any, as an EngineError."""
        while True:
            msg, _ = self.receive()
            if msg.get("request_id") != request_id:
                continue  # a late stream chunk or another client's message
            err = msg.get("error") or {}
            if err.get("code", 0) != 0:
                raise StackFlowRefused(f"StackFlow {what} failed: {err.get('message') or 'no message'} "
                                  f"(error code {err.get('code')})")
            return msg

    # ------------------------------------------------------------ load
    def load(self) -> LoadInfo:
        self.connect()
        try:
            version = self.ask("version", "sys", "sys.version").get("data")
        except StackFlowRefused:  # an llm_sys without sys.version: the device still works
            version = None
        engine_version = f"StackFlow llm_sys {version}" if isinstance(version, str) else "StackFlow (version unknown)"
        installed = self.installed_models()
        if installed is not None and self.model_name not in installed:
            raise EngineError(f'the StackFlow device at {self.where} has no LLM model "{self.model_name}" '
                              f"(installed: {', '.join(installed) or 'none'})")
        setup = {"model": self.model_name, "response_format": STREAM_FORMAT, "input": "llm.utf-8",
                 "enoutput": True, "max_token_len": self.config.n_ctx,
                 "prompt": SYSTEM_PROMPT if self.config.system_prompt is None else self.config.system_prompt}
        t0 = time.monotonic()
        try:
            reply = self.ask("setup", "llm", "setup", "llm.setup", setup)
        except StackFlowRefused as exc:
            raise EngineError(f"{exc}; is max_token_len = n_ctx = {self.config.n_ctx} within the model's limit?") \
                from None
        t1 = time.monotonic()
        self.work_id = reply.get("work_id")
        if not self.work_id or self.work_id == "llm":
            raise EngineError(f"StackFlow setup answered no unit to talk to (work_id {self.work_id!r})")
        info = {"server": "stackflow", "url": self.where, "work_id": self.work_id, "setup": setup,
                "load_timing": "wall clock of the setup request (the unit loads the model onto the NPU)",
                "token_counts": f"estimated: {TOKENS_PER_CHUNK} tokens per streamed chunk"}
        return LoadInfo(load_s=t1 - t0, engine_version=engine_version, t_start=t0, t_end=t1, info=info)

    def installed_models(self) -> list[str] | None:
        """The LLM models on the device (sys.lsmode), or None when it does not say."""
        try:
            reply = self.ask("lsmode", "sys", "sys.lsmode")
        except StackFlowRefused:
            return None
        modes = reply.get("data")
        if not isinstance(modes, list):
            return None
        return [m["mode"] for m in modes if isinstance(m, dict) and m.get("type") == "llm" and m.get("mode")]

    # ------------------------------------------------------------ one repetition
    def run_once(self, config: Configuration, rep: int, warmup: bool) -> RepResult:
        if self.work_id is None:
            raise EngineError("StackFlow run before setup")
        text = config.prompt or ""  # the profile refuses prompt_tokens for this engine
        report = self.progress_reporter(config, rep, warmup)
        arrivals: list[float] = []  # each counted chunk's arrival (3 tokens each): the token times
        chunks = 0
        pieces: list[str] = []
        t_first = t_last = None
        pause_id: str | None = None
        late_chunks = 0
        extra: dict[str, Any] = {}
        self.progress(config, rep, warmup, "prefill", 0)
        self.start_request(request_timeout_s(config))
        t_start = time.monotonic()
        request_id = self.send("inference", self.work_id, STREAM_FORMAT, {"delta": text, "index": 0, "finish": True})
        while True:
            msg, t = self.receive()
            err = msg.get("error") or {}
            if err.get("code", 0) != 0:
                if pause_id is not None and msg.get("request_id") == pause_id:
                    extra["pause_refused"] = f"{err.get('message')} (code {err.get('code')})"
                    continue
                if msg.get("request_id") in (request_id, pause_id) or msg.get("work_id") == self.work_id:
                    raise EngineError(f"StackFlow inference failed after {chunks} chunks: {err.get('message')} "
                                      f"(error code {err.get('code')})")
                continue
            data = msg.get("data")
            if msg.get("object") != STREAM_FORMAT or msg.get("work_id") != self.work_id or not isinstance(data, dict):
                continue  # the pause's reply, or another unit's output
            if data.get("delta"):
                if pause_id is not None:
                    late_chunks += 1  # sent before the unit saw the pause: produced, not counted
                    if late_chunks > OVERRUN_MARGIN:
                        raise EngineError(f"StackFlow ignored pause: sent {chunks + late_chunks} chunks for "
                                          f"{config.gen_tokens} tokens and had not finished {OVERRUN_MARGIN} "
                                          "chunks after the pause (request closed)")
                else:
                    chunks += 1
                    arrivals.append(t)
                    t_first = t_first or t
                    t_last = t
                    if len(pieces) < 64:
                        pieces.append(data["delta"])
                    report(chunks * TOKENS_PER_CHUNK)
                    if chunks * TOKENS_PER_CHUNK >= config.gen_tokens:
                        pause_id = self.send("pause", self.work_id)
            if data.get("finish"):
                break
        if t_first is None or t_last is None:
            raise EngineError("StackFlow produced no text (did the model stop at once?)")
        stopped = ("by edgetui's pause after gen_tokens" if pause_id
                   else "by the model (end of sequence or max_token_len)")
        extra.update(chunks=chunks, stopped=stopped,
                     gen_tokens_method=f"estimated: {TOKENS_PER_CHUNK} tokens per chunk (StackFlow sends no counts)")
        if late_chunks:
            extra["chunks_after_pause"] = late_chunks
        return RepResult(
            prompt_tokens=None, gen_tokens=chunks * TOKENS_PER_CHUNK, t_start=t_start, t_first_token=t_first,
            t_end=t_last, timing_source="wall clock (StackFlow sends no timers; tokens estimated, 3 per chunk)",
            text="".join(pieces)[:400], extra=extra, first_token_count=TOKENS_PER_CHUNK,
            token_ms=offsets_ms(arrivals, t_start), token_counts=[TOKENS_PER_CHUNK] * len(arrivals),
        )

    def close(self) -> None:
        if self.sock is None:
            return
        if self.work_id:
            try:
                if self.io is not None:
                    self.io.read_timeout_s = CLOSE_WAIT_S
                self.start_request(CLOSE_WAIT_S)
                self.reply_to(self.send("exit", self.work_id), "exit")
            except (EngineError, OSError, AssertionError):
                pass  # closing anyway: a unit left behind is freed by the device's next reset
        try:
            if self.reader is not None:
                self.reader.close()  # the socket's file keeps it open until closed
            self.sock.close()
        except OSError:
            pass
        self.sock = self.reader = self.io = None
