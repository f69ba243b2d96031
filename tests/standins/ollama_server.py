"""A stand-in for an Ollama server (and for Hailo's Ollama-compatible hailo-ollama), on loopback.

Written from the documented API (ollama/docs/api.md; hailo_model_zoo_genai docs/USAGE.rst and
its DTOs): the same paths, field names and units. Streams are newline-delimited JSON in
chunked transfer encoding; the final chunk of a stream carries Ollama's statistics in
nanoseconds (total_duration, load_duration, prompt_eval_count, prompt_eval_duration,
eval_count, eval_duration), or, like hailo-ollama, only total_duration and eval_count.

It "tokenizes" by words and punctuation, adds a fixed template overhead, keeps a prefix
cache as Ollama does (prompt_eval_count counts cached tokens too, prompt_eval_duration only
the others), and sleeps for prefill and decode at set rates, so that the rates an engine
derives can be checked against the ones set here.

It can also misbehave, as a server in the field may (standins/misbehave.py): for one model's completions
(`misbehave[model] = "endless"`) or for every request (`misbehave_all = "silent"`)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from typing import Any

from standins.misbehave import MisbehavingHandler, Misbehaviour

TEMPLATE_TOKENS = 6  # "<|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n"
WORDS = ("edge", "boards", "measure", "tokens", "per", "second", "and", "energy", "per", "token", ".")
HAILO_OPTIONS = {"temperature", "seed", "top_k", "top_p", "frequency_penalty", "num_predict", "use_mlock"}


def tokenize(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class StandinOllama(Misbehaviour):
    """Set the attributes before a request to change what the next requests see."""

    def __init__(self, models: tuple[str, ...] = ("qwen2.5:0.5b",), *, flavour: str = "ollama",
                 prefill_tps: float = 4000.0, decode_tps: float = 400.0, load_s: float = 0.05,
                 pullable: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.models = list(models)
        self.flavour = flavour  # "ollama" or "hailo-ollama"
        self.prefill_tps = prefill_tps
        self.decode_tps = decode_tps
        self.load_s = load_s
        self.pullable = set(pullable)
        self.eos_after: int | None = None  # stop (done_reason "stop") after this many tokens
        self.report_cached = False  # send prompt_eval_cached_count, as recent Ollama does
        self.fail: str | None = None  # "cut", "stall" or "error" mid-stream
        self.fail_after = 3  # chunks sent before the failure
        self.loaded: dict[str, dict[str, Any]] = {}  # model -> load-time options
        self.last_prompt: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.completions_in_flight = 0
        self.most_in_flight = 0  # the most completions served at once
        self._flight_lock = threading.Lock()
        self.last_final: dict[str, Any] = {}  # the statistics of the last completion, as sent
        self.overrun_by = 0  # tokens produced past num_predict, statistics included (a slight overrun)
        self.misbehave: dict[str, str] = {}  # model -> one of MISBEHAVIOURS, for its completions
        self.misbehave_all: str | None = None  # one of MISBEHAVIOURS, for every request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandinOllama:
        self._thread.start()
        return self

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        with self._flight_lock:
            self.completions_in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.completions_in_flight)
        try:
            yield
        finally:
            with self._flight_lock:
                self.completions_in_flight -= 1

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ model state
    def _load(self, model: str, options: dict[str, Any]) -> float:
        """Load (or reload when load-time options change); the seconds it took."""
        load_opts = {k: options.get(k) for k in ("num_ctx", "num_thread", "num_gpu")}
        if self.loaded.get(model) == load_opts:
            return 0.0001
        time.sleep(self.load_s)
        self.loaded = {model: load_opts}  # one model at a time, as on a small board
        self.last_prompt = []
        return self.load_s

    def _handler(self):
        standin = self

        class Handler(MisbehavingHandler):
            knobs = standin
            model, chat = "m", False  # of the request under way, for the misbehaviours' lines

            def piece_line(self, i: int) -> bytes:
                word = (" " if i else "") + WORDS[i % len(WORDS)]
                return (json.dumps(self._piece(self.model, self.chat, word)) + "\n").encode()

            def flood_head(self) -> bytes:
                return b'{"model": "' + self.model.encode() + b'", "done": false, "response": "'

            # -------------------------------------------------------------- plumbing
            def _send_json(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_text(self, text: str) -> None:
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, obj: Any) -> None:
                self._chunk_bytes((json.dumps(obj) + "\n").encode())

            def _body(self) -> dict[str, Any]:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def _not_found(self, model: str) -> None:
                if standin.flavour == "hailo-ollama":
                    self._send_json(404, {"error": f"model '{model}' not found"})
                else:
                    self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})

            # -------------------------------------------------------------- routes
            def do_GET(self) -> None:
                if standin.misbehave_all:
                    return self.misbehave(standin.misbehave_all)
                if self.path == "/":
                    self._send_text("hailo-ollama is running" if standin.flavour == "hailo-ollama"
                                    else "Ollama is running")
                elif self.path == "/api/version":
                    self._send_json(200, {"version": "0.5.1" if standin.flavour == "hailo-ollama" else "0.6.2"})
                elif self.path == "/api/tags":
                    self._send_json(200, {"models": [self._model_entry(m) for m in standin.models]})
                elif self.path == "/api/ps":
                    self._send_json(200, {"models": [dict(self._model_entry(m), expires_at=now_iso(), size_vram=0)
                                                     for m in standin.loaded]})
                else:
                    self._send_json(404, {"error": "404 page not found"})

            def _model_entry(self, name: str) -> dict[str, Any]:
                return {"name": name, "model": name, "modified_at": now_iso(), "size": 397821319,
                        "digest": "a8b0c5157701" * 5 + "abcd",
                        "details": {"parent_model": "", "format": "gguf", "family": "qwen2", "families": ["qwen2"],
                                    "parameter_size": "494.03M", "quantization_level": "Q4_K_M"}}

            def do_POST(self) -> None:
                body = self._body()
                standin.requests.append((self.path, body))
                if standin.misbehave_all:
                    return self.misbehave(standin.misbehave_all)
                if self.path in ("/api/generate", "/api/chat"):
                    self._generate(body, chat=self.path == "/api/chat")
                elif self.path == "/api/show":
                    if body.get("model") not in standin.models:
                        return self._not_found(body.get("model"))
                    self._send_json(200, {"modelfile": "FROM qwen2.5", "parameters": "", "template": "{{ .Prompt }}",
                                          "details": self._model_entry(body["model"])["details"]})
                elif self.path == "/api/pull":
                    self._pull(body)
                else:
                    self._send_json(404, {"error": "404 page not found"})

            def _pull(self, body: dict[str, Any]) -> None:
                model = body.get("model") or body.get("name")
                self._start_stream()
                if model not in standin.pullable:
                    self._chunk({"status": "pulling manifest"})
                    self._chunk({"error": "pull model manifest: file does not exist"})
                else:
                    for status in ("pulling manifest", "verifying sha256 digest", "writing manifest", "success"):
                        self._chunk({"status": status})
                    standin.models.append(model)
                self._end_stream()

            def _generate(self, body: dict[str, Any], chat: bool) -> None:
                model = body.get("model")
                if model not in standin.models:
                    return self._not_found(model)
                options = body.get("options") or {}
                if standin.flavour == "hailo-ollama":
                    unknown = set(options) - HAILO_OPTIONS
                    if unknown:  # its ModelParameters DTO has no such fields
                        return self._send_json(400, {"error": f"unknown options: {sorted(unknown)}"})
                if body.get("keep_alive") == 0:
                    standin.loaded.pop(model, None)
                    return self._send_json(200, self._final(model, chat, "unload", {}))
                text = body.get("prompt") if not chat else " ".join(m["content"] for m in body.get("messages") or [])
                if not text:  # a load request: Ollama's answer carries no statistics
                    standin._load(model, options)
                    return self._send_json(200, self._final(model, chat, "load", {}))
                if model in standin.misbehave:
                    self.model, self.chat = model, chat
                    return self.misbehave(standin.misbehave[model])
                with standin.in_flight():
                    self._complete(body, model, chat, text, options)

            def _final(self, model: str, chat: bool, reason: str, stats: dict[str, Any]) -> dict[str, Any]:
                out: dict[str, Any] = {"model": model, "created_at": now_iso()}
                if chat:
                    out["message"] = {"role": "assistant", "content": ""}
                else:
                    out["response"] = ""
                out.update(done=True, done_reason=reason, **stats)
                return out

            def _complete(self, body: dict[str, Any], model: str, chat: bool, text: str,
                          options: dict[str, Any]) -> None:
                t0 = time.monotonic_ns()
                standin._load(model, options)
                t_loaded = time.monotonic_ns()
                prompt = ["<bos>"] + tokenize(text) + ["<tpl>"] * (TEMPLATE_TOKENS - 1)
                cached = 0
                while (cached < min(len(prompt), len(standin.last_prompt)) - 1
                       and prompt[cached] == standin.last_prompt[cached]):
                    cached += 1
                standin.last_prompt = prompt
                time.sleep((len(prompt) - cached) / standin.prefill_tps)
                t_prompt = time.monotonic_ns()
                limit = int(options.get("num_predict", 128)) + standin.overrun_by
                stream = body.get("stream", True)
                if stream:
                    self._start_stream()
                produced: list[str] = []
                reason = "length"
                for i in range(limit):
                    if standin.eos_after is not None and i >= standin.eos_after:
                        reason = "stop"
                        break
                    time.sleep(1.0 / standin.decode_tps)
                    word = (" " if i else "") + WORDS[i % len(WORDS)]
                    produced.append(word)
                    if stream:
                        if standin.fail and i == standin.fail_after:
                            return self._fail()
                        self._chunk(self._piece(model, chat, word))
                t_end = time.monotonic_ns()
                if standin.flavour == "hailo-ollama":
                    stats: dict[str, Any] = {"total_duration": t_end - t_prompt, "load_duration": None,
                                             "eval_count": len(produced), "eval_duration": None,
                                             "prompt_eval_count": None, "prompt_eval_duration": None, "context": None}
                else:
                    stats = {"total_duration": t_end - t0, "load_duration": t_loaded - t0,
                             "prompt_eval_count": len(prompt), "prompt_eval_duration": t_prompt - t_loaded,
                             "eval_count": len(produced), "eval_duration": t_end - t_prompt}
                    if standin.report_cached and cached:
                        stats["prompt_eval_cached_count"] = cached
                    if not chat:
                        stats["context"] = list(range(len(prompt) + len(produced)))
                final = self._final(model, chat, reason, stats)
                standin.last_final = final
                if not stream:
                    if chat:
                        final["message"]["content"] = "".join(produced)
                    else:
                        final["response"] = "".join(produced)
                    return self._send_json(200, final)
                self._chunk(final)
                self._end_stream()

            def _piece(self, model: str, chat: bool, word: str) -> dict[str, Any]:
                out: dict[str, Any] = {"model": model, "created_at": now_iso()}
                if chat:
                    out["message"] = {"role": "assistant", "content": word}
                else:
                    out["response"] = word
                if standin.flavour == "hailo-ollama":
                    out.setdefault("response", None)
                    out.setdefault("message", None)
                out["done"] = False
                return out

            def _fail(self) -> None:
                if standin.fail == "error":
                    self._chunk({"error": "an error was encountered while running the model: out of memory"})
                    self._end_stream()
                elif standin.fail == "stall":
                    standin.stopping.wait(30)
                else:  # "cut": the server goes away mid-stream
                    self.wfile.flush()
                    self.connection.shutdown(2)
                self.close_connection = True

        return Handler
