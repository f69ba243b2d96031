"""A stand-in for M5Stack's StackFlow (llm_sys + llm_llm on an AX630C module), on loopback.

Written from M5Stack's StackFlow sources and docs (projects/llm_framework/main_sys event_loop.cpp,
main_llm main.cpp and runner/LLM.hpp, doc/projects_llm_framework_doc/llm_llm_en.md):
- requests are JSON objects, framed by counting braces, with or without a newline;
- replies are one JSON object per line, keys sorted as nlohmann::json dumps them:
  {"created", "data", "error": {"code", "message"}, "object", "request_id", "work_id"};
- sys.version answers "v1.6" as a "sys.utf-8" object; sys.lsmode answers the models' JSON
  descriptions ({"mode", "type", ...}); an unknown model fails setup with code -5
  "Model loading failed."; setup answers the unit's work_id ("llm.1002");
- inference streams {"delta", "finish", "index"} under "llm.utf-8.stream", decoded text every
  3 tokens; at an end of sequence the rest is flushed; the stream ends with an empty delta and
  finish true; generation stops at max_token_len positions (prompt included);
- pause stops a running inference, exit frees the unit (-6 "Unit Does Not Exist" otherwise).

It can also misbehave for one model's inference (`misbehave[model] = "endless"`): endless
(ignores pause, streams until exit), trickle (a byte every trickle_period_s), flood (one line of
flood_bytes, written in 64 kB pieces) or silent (no byte at all)."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from typing import Any

from standins.misbehave import PIECE, Misbehaviour

LLM_MODELS = ("llama3.2-1B-prefill-ax630c", "deepseek-r1-1.5B-ax630c")
WORDS = ("Edge", " boards", " count", " tokens", " and", " watts", ",", " then", " rank", " them", ".")
SYSTEM_TOKENS = 20  # the chat template and system prompt, in tokens


def message_line(request_id: str, work_id: str, obj: str, data: Any, code: int = 0, message: str = "") -> bytes:
    out = {"created": int(time.time()), "data": data, "error": {"code": code, "message": message},
           "object": obj, "request_id": request_id, "work_id": work_id}
    return (json.dumps(out, sort_keys=True, separators=(",", ":")) + "\n").encode()


def mode(name: str, kind: str) -> dict[str, Any]:
    return {"mode": name, "type": kind, "capabilities": ["text_generation", "chat"],
            "input_type": ["llm.utf-8", "llm.utf-8.stream"], "output_type": ["llm.utf-8", "llm.utf-8.stream"],
            "mode_param": {"tokenizer_type": 2, "axmodel_num": 16, "b_bos": False, "b_eos": False}}


class StandinStackFlow(Misbehaviour):
    def __init__(self, *, models: tuple[str, ...] = LLM_MODELS, prefill_s: float = 0.05,
                 token_s: float = 0.004, load_s: float = 0.05) -> None:
        super().__init__()
        self.models = [mode(m, "llm") for m in models] + [mode("melotts-en-us", "tts")]
        self.prefill_s = prefill_s
        self.token_s = token_s
        self.load_s = load_s
        self.eos_after: int | None = None  # the model ends its answer after this many tokens
        self.fail: str | None = None  # "cut" or "stall" mid-stream
        self.fail_after = 2  # chunks sent before the failure
        self.received: list[dict[str, Any]] = []
        self.units: dict[str, dict[str, Any]] = {}
        self.next_unit = 1002
        self.misbehave: dict[str, str] = {}  # model -> "endless", "trickle", "flood" or "silent"
        standin = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                standin.serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandinStackFlow:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ the connection
    def serve(self, conn: socket.socket) -> None:
        lock = threading.Lock()

        def send(request_id: str, work_id: str, obj: str, data: Any, code: int = 0, message: str = "") -> None:
            with lock:
                conn.sendall(message_line(request_id, work_id, obj, data, code, message))

        def send_raw(*pieces: bytes) -> None:
            with lock:  # a flood's pieces make one line: nothing else between them
                for piece in pieces:
                    conn.sendall(piece)

        send.raw = send_raw  # type: ignore[attr-defined]

        depth, buf = 0, bytearray()
        while not self.stopping.is_set():
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            for byte in data:  # llm_sys frames requests by counting braces
                if byte == ord("{"):
                    depth += 1
                if depth:
                    buf.append(byte)
                if byte == ord("}"):
                    depth -= 1
                    if depth == 0:
                        self.handle(json.loads(buf), send, conn)
                        buf.clear()

    def handle(self, msg: dict[str, Any], send, conn: socket.socket) -> None:
        self.received.append(msg)
        rid, wid, action = msg.get("request_id", "0"), msg.get("work_id", "sys"), msg.get("action")
        if wid == "sys":
            if action == "version":
                return send(rid, wid, "sys.utf-8", "v1.6")
            if action == "lsmode":
                return send(rid, wid, "sys.lsmode", self.models)
            if action == "ping":
                return send(rid, wid, "None", "None")
            return send(rid, wid, "None", "None", -3, "action match false")
        if wid == "llm" and action == "setup":
            data = msg.get("data") or {}
            llm = [m["mode"] for m in self.models if m["type"] == "llm"]
            if data.get("model") not in llm or not {"response_format", "enoutput", "prompt"} <= set(data):
                return send(rid, "llm", "None", "None", -5, "Model loading failed.")
            time.sleep(self.load_s)
            unit = f"llm.{self.next_unit}"
            self.next_unit += 1
            self.units[unit] = {"max_token_len": int(data.get("max_token_len", 127)), "stop": threading.Event(),
                                "format": data["response_format"], "misbehave": self.misbehave.get(data["model"])}
            return send(rid, unit, "None", "None")
        unit = self.units.get(wid)
        if unit is None:
            if action == "inference":
                return send(rid, wid, "None", "None", -4, "inference data push false")
            return send(rid, wid, "None", "None", -6, "Unit Does Not Exist")
        if action == "inference":
            text = (msg.get("data") or {}).get("delta", "") if isinstance(msg.get("data"), dict) else msg.get("data")
            unit["stop"].clear()
            threading.Thread(target=self.infer, args=(rid, wid, unit, str(text), send, conn), daemon=True).start()
        elif action == "pause":
            unit["stop"].set()
            send(rid, wid, "None", "None")
        elif action == "exit":
            unit["stop"].set()
            del self.units[wid]
            send(rid, wid, "None", "None")
        else:
            send(rid, wid, "None", "None", -3, "action match false")

    def infer(self, rid: str, wid: str, unit: dict[str, Any], text: str, send, conn: socket.socket) -> None:
        if unit["misbehave"]:
            try:
                return self.misbehaving(unit["misbehave"], rid, wid, unit, send)
            except OSError:
                return  # the client hung up
        prompt_len = SYSTEM_TOKENS + len(text.split())
        time.sleep(self.prefill_s)
        index, cached, produced = 0, [], 0
        for _position in range(prompt_len, unit["max_token_len"]):
            if unit["stop"].is_set():
                break  # tokens still cached are never sent, as in LLM.hpp
            time.sleep(self.token_s)
            if self.eos_after is not None and produced >= self.eos_after:
                if cached:
                    send(rid, wid, unit["format"], {"delta": "".join(cached), "finish": False, "index": index})
                    index += 1
                break
            cached.append(WORDS[produced % len(WORDS)])
            produced += 1
            if len(cached) >= 3:
                if self.fail and index == self.fail_after:
                    if self.fail == "cut":
                        conn.shutdown(socket.SHUT_RDWR)
                        conn.close()
                    else:
                        self.stopping.wait(30)
                    return
                send(rid, wid, unit["format"], {"delta": "".join(cached), "finish": False, "index": index})
                index += 1
                cached = []
        send(rid, wid, unit["format"], {"delta": "", "finish": True, "index": index})

    def misbehaving(self, mode: str, rid: str, wid: str, unit: dict[str, Any], send) -> None:
        def chunk(i: int) -> bytes:
            return message_line(rid, wid, unit["format"], {"delta": WORDS[i % len(WORDS)] * 3, "finish": False,
                                                           "index": i})

        if mode == "endless":  # pause answered, and ignored; exit ends it
            i = 0
            while wid in self.units and not self.stopping.is_set():
                time.sleep(self.token_s)
                send.raw(chunk(i))
                i += 1
        elif mode == "trickle":
            line, i = chunk(0), 0
            while wid in self.units and not self.stopping.wait(self.trickle_period_s):
                send.raw(line[i % len(line):][:1])
                i += 1
        elif mode == "flood":
            head = b'{"object": "llm.utf-8.stream", "data": {"delta": "'
            self.flood_sent = len(head)
            pieces = [head]
            while self.flood_sent < self.flood_bytes and not self.stopping.is_set():
                send.raw(*pieces, PIECE)
                pieces = []
                self.flood_sent += len(PIECE)
            send.raw(b'"}\n')
        # "silent": no byte at all
