"""A stand-in for an OpenAI-compatible server (llama-server, vLLM), on loopback, that serves one
model well and misbehaves for others on request (standins/misbehave.py).

It streams /v1/completions and /v1/chat/completions as server-sent events in chunked transfer
encoding, one word per event, then an event with finish_reason "length", a usage event
(stream_options.include_usage) and "data: [DONE]", as llama-server does."""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from standins.misbehave import MisbehavingHandler, Misbehaviour

WORDS = ("edge", " boards", " measure", " tokens", " per", " second", ".")


class StandinOpenAI(Misbehaviour):
    def __init__(self, models: tuple[str, ...] = ("m",)) -> None:
        super().__init__()
        self.models = list(models)
        self.misbehave: dict[str, str] = {}  # model -> one of MISBEHAVIOURS, for its completions
        self.token_s = 0.0  # pause before each streamed token (a decode rate to measure)
        self.most_in_flight = 0  # the most streams served at once
        self._in_flight = 0
        self._flight_lock = threading.Lock()
        standin = self

        class Handler(MisbehavingHandler):
            knobs = standin
            stream_content_type = "text/event-stream"

            def piece_line(self, i: int) -> bytes:
                return event({"object": "text_completion", "choices": [
                    {"index": 0, "text": WORDS[i % len(WORDS)], "finish_reason": None}]})

            def flood_head(self) -> bytes:
                return b'data: {"object": "text_completion", "choices": [{"index": 0, "text": "'

            def _json(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    return self._json(200, {"object": "list", "data": [{"id": m, "object": "model"}
                                                                       for m in standin.models]})
                self._json(404, {"error": {"message": "File Not Found", "code": 404}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path not in ("/v1/completions", "/v1/chat/completions"):
                    return self._json(404, {"error": {"message": "File Not Found", "code": 404}})
                model = body.get("model")
                if model not in standin.models:
                    return self._json(404, {"error": {"message": f"model {model} not found", "code": 404}})
                if model in standin.misbehave:
                    return self.misbehave(standin.misbehave[model])
                n = int(body.get("max_tokens") or 16)
                prompt = body.get("prompt") or " ".join(m["content"] for m in body.get("messages") or [])
                usage = {"prompt_tokens": len(prompt.split()) + 1, "completion_tokens": n,
                         "total_tokens": len(prompt.split()) + 1 + n}
                if not body.get("stream"):
                    text = "".join(WORDS[i % len(WORDS)] for i in range(n))
                    return self._json(200, {"object": "text_completion", "usage": usage,
                                            "choices": [{"index": 0, "text": text, "finish_reason": "length"}]})
                self._start_stream()
                with standin._flight_lock:
                    standin._in_flight += 1
                    standin.most_in_flight = max(standin.most_in_flight, standin._in_flight)
                for i in range(n):
                    if standin.token_s:
                        time.sleep(standin.token_s)
                    self._chunk_bytes(self.piece_line(i))
                with standin._flight_lock:
                    standin._in_flight -= 1
                self._chunk_bytes(event({"object": "text_completion",
                                         "choices": [{"index": 0, "text": "", "finish_reason": "length"}]}))
                self._chunk_bytes(event({"object": "text_completion", "choices": [], "usage": usage}))
                self._chunk_bytes(b"data: [DONE]\n\n")
                self._end_stream()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> StandinOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


def event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"
