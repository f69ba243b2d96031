"""OpenAI-compatible servers: llama-server (llama.cpp), llama-cpp-python's server, vLLM.

Streams /v1/completions (api = "completions", the default) or /v1/chat/completions
(api = "chat") and asks for exactly gen_tokens: max_tokens, plus the extensions that stop a
server from ending early (ignore_eos: llama-server, vLLM; min_tokens: vLLM, llama-cpp-python)
and from reusing a cached prompt (cache_prompt: llama-server). Servers ignore the ones they
do not know.

Token counts come from the server where it gives them (usage with stream_options.include_usage,
llama-server's timings), else from the chunks counted; the prompt's count then comes from a
one-token request of the same prompt after the run. llama-server's timings are its engine
timers; other servers are timed by the wall clock (TTFT at the first content chunk).

A server that ignores max_tokens is read no further than gen_tokens chunks and a few events more
(StreamBudget in engines/server.py says why the configuration then fails)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from edgetui.engines.base import Emit, EngineError, LoadInfo, RepResult
from edgetui.engines.httpclient import HttpServer, cut_line
from edgetui.engines.server import ServerEngine, StreamBudget, offsets_ms, request_timeout_s
from edgetui.profiles.plan import Configuration


def model_matches(server_id: str, wanted: str) -> bool:
    """A model id as the server lists it: an alias, or a file path (llama-server lists its GGUF)."""
    if server_id == wanted:
        return True
    base = os.path.basename(server_id.rstrip("/"))
    return wanted in (base, os.path.splitext(base)[0])


class OpenAIEngine(ServerEngine):
    kind = "openai"

    def __init__(self, config: Configuration, model_path: str | None, emit: Emit) -> None:
        super().__init__(config, model_path, emit)
        self.server = HttpServer(self.url, self.timeout_s, self.request_timeout_s)
        if self.server.prefix.endswith("/v1"):  # "http://host:port/v1", as OpenAI clients take it
            self.server.prefix = self.server.prefix[: -len("/v1")]
            self.server.url = self.server.url[: -len("/v1")]  # messages name ".../v1/completions" once
        self.api = config.engine_api or "completions"
        if self.api not in ("completions", "chat"):
            raise EngineError(f'the openai engine drives api = "completions" or "chat", not "{self.api}"')
        self.path = "/v1/completions" if self.api == "completions" else "/v1/chat/completions"
        self.server_model_id = self.model_name

    # ------------------------------------------------------------ requests
    def request_body(self, config: Configuration, text: str, max_tokens: int, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.server_model_id, "max_tokens": max_tokens,
                                "temperature": config.temperature, "stream": stream,
                                # extensions: exactly max_tokens, no cached prompt prefix
                                "ignore_eos": True, "min_tokens": max_tokens, "cache_prompt": False}
        if stream:
            body["stream_options"] = {"include_usage": True}
        system = self.system_text(config, text)
        if self.api == "chat":
            body["messages"] = ([{"role": "system", "content": system}] if system is not None else []) + [
                {"role": "user", "content": text}]
        else:
            body["prompt"] = text
        return body

    def count_prompt_tokens(self, text: str) -> int | None:
        reply = self.server.json("POST", self.path, self.request_body(self.config, text, 1, False))
        usage = reply.get("usage") if isinstance(reply, dict) else None
        count = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return count if isinstance(count, int) else None

    # ------------------------------------------------------------ load
    def load(self) -> LoadInfo:
        t0 = time.monotonic()
        listed = self.server.json("GET", "/v1/models")
        ids = [m.get("id", "?") for m in (listed.get("data") or [])] if isinstance(listed, dict) else []
        match = next((i for i in ids if model_matches(i, self.model_name)), None)
        if match is None:
            raise EngineError(f'{self.server.url} does not serve the model "{self.model_name}" '
                              f"(it serves: {', '.join(ids) or 'none'})")
        self.server_model_id = match
        t1 = time.monotonic()
        info = {"server": "openai-compatible", "url": self.server.url, "api": self.path, "server_model": match,
                "load_timing": "the server loaded its model before edgetui started: no load time measured",
                "requested_extensions": "ignore_eos, min_tokens, cache_prompt=false, stream_options.include_usage"}
        # The server loaded its model when it started: load_s is the time to find it there.
        return LoadInfo(load_s=t1 - t0, engine_version=self.server_version(), t_start=t0, t_end=t1, info=info)

    def server_version(self) -> str:
        """From the server's version endpoint where it has one (vLLM /version, llama-server /props,
        llama-cpp-python's OpenAPI description)."""
        for path, pick in (
            ("/version", lambda o: f"vLLM-compatible server {o['version']}" if o.get("version") else None),
            ("/props", lambda o: f"llama-server {o['build_info']}" if o.get("build_info") else None),
            ("/openapi.json", lambda o: (f"llama-cpp-python {o['info']['version']}"
                                         if "llama.cpp python" in str(o.get("info", {}).get("title", "")).lower()
                                         else None)),
        ):
            try:
                found = pick(self.server.json("GET", path))
            except (EngineError, KeyError, TypeError, AttributeError):
                continue
            if found:
                return found
        return "openai-compatible server (no version endpoint)"

    # ------------------------------------------------------------ one repetition
    def run_stream(self, config: Configuration, rep: int, warmup: bool, *,
                   prompt: tuple[str, dict[str, Any]] | None = None,
                   report: Callable[[int], None] | None = None) -> RepResult:
        text, extra = prompt or self.prompt_for(config)
        body = self.request_body(config, text, config.gen_tokens, True)
        report = report or self.progress_reporter(config, rep, warmup)
        arrivals: list[float] = []  # each content chunk's arrival: the token times
        chunks = 0
        pieces: list[str] = []
        usage: dict[str, Any] | None = None
        timings: dict[str, Any] | None = None
        finish: str | None = None
        done = False
        t_first = t_last = None
        self.progress(config, rep, warmup, "prefill", 0)
        t_start = time.monotonic()
        budget = StreamBudget(config.gen_tokens, "max_tokens")
        with self.server.open("POST", self.path, body, deadline_s=request_timeout_s(config)) as stream:
            for raw, t in stream.lines():
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue  # blank separators, ": ping" comments, event names
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    break
                try:
                    obj = json.loads(payload)
                except ValueError:
                    raise EngineError(cut_line(stream.where, raw, "an event")) from None
                if not isinstance(obj, dict):
                    raise EngineError(f"{stream.where} sent an event that is not a JSON object: {payload[:120]!r}")
                if obj.get("error"):
                    err = obj["error"]
                    raise EngineError(f"the server reported an error after {chunks} chunks: "
                                      f"{err.get('message', err) if isinstance(err, dict) else err}")
                usage = obj.get("usage") or usage
                timings = obj.get("timings") or timings
                for choice in obj.get("choices") or []:
                    delta = choice.get("delta") or {}
                    piece = choice.get("text") or delta.get("content") or delta.get("reasoning_content") or ""
                    if piece:
                        chunks += 1
                        arrivals.append(t)
                        t_first = t_first or t
                        t_last = t
                        if len(pieces) < 64:
                            pieces.append(piece)
                        report(chunks)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                        t_last = t
                budget.message(chunks)  # past the margin: the request is closed on the way out
            if done or finish is not None:
                stream.drain()
        if not done and finish is None:
            raise EngineError(f"the stream from {self.server.url}{self.path} ended after {chunks} chunks "
                              "without finishing (server stopped or connection cut)")
        if t_first is None or t_last is None:
            raise EngineError(f"the server produced no tokens (finish_reason: {finish})")
        overrun = budget.overrun_note(chunks)
        if overrun:
            extra["server_overrun"] = overrun
        r = self.result(config, text, chunks, usage, timings, finish, t_start, t_first, t_last,
                           "".join(pieces), extra)
        r.token_ms = offsets_ms(arrivals, t_start)  # these servers stream a token per chunk
        return r

    def result(self, config: Configuration, text: str, chunks: int, usage: dict[str, Any] | None,
               timings: dict[str, Any] | None, finish: str | None, t_start: float, t_first: float,
               t_end: float, generated: str, extra: dict[str, Any]) -> RepResult:
        extra = dict(extra, chunks=chunks, finish_reason=finish)
        timings = timings or {}
        if usage and isinstance(usage.get("completion_tokens"), int):
            gen_tokens, extra["gen_tokens_source"] = usage["completion_tokens"], "server usage"
        elif isinstance(timings.get("predicted_n"), int):
            gen_tokens, extra["gen_tokens_source"] = timings["predicted_n"], "llama-server timings"
        else:
            gen_tokens, extra["gen_tokens_source"] = chunks, "chunks counted (the server sent no usage)"
        if gen_tokens != chunks:
            extra["tokens_vs_chunks"] = f"server counted {gen_tokens} tokens in {chunks} chunks"
        if finish == "length" and gen_tokens != config.gen_tokens:
            extra["length_vs_count"] = (f"the server stopped at its length limit ({config.gen_tokens}) "
                                        f"but {gen_tokens} tokens were counted")
        if usage and isinstance(usage.get("prompt_tokens"), int):
            prompt_tokens, extra["prompt_tokens_source"] = usage["prompt_tokens"], "server usage"
        else:
            # Asked after the run, so the question cannot warm a cache for it.
            prompt_tokens = self.count_prompt_tokens(text)
            extra["prompt_tokens_source"] = "usage of a one-token request of the same prompt, after the run"
        asked = extra.get("prompt_tokens_asked")
        if asked is not None and prompt_tokens != asked:
            extra["prompt_tokens_differ"] = f"asked {asked}, the server counted {prompt_tokens}"
        has_timers = all(isinstance(timings.get(k), (int, float)) for k in
                         ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms"))
        if has_timers and timings.get("cache_n"):
            extra["prompt_cached_tokens"] = timings["cache_n"]
        return RepResult(
            prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, t_start=t_start, t_first_token=t_first,
            t_end=t_end,
            engine_prefill_ms=float(timings["prompt_ms"]) if has_timers and timings["prompt_n"] else None,
            engine_prefill_n=int(timings["prompt_n"]) if has_timers and timings["prompt_n"] else None,
            engine_decode_ms=float(timings["predicted_ms"]) if has_timers and timings["predicted_n"] else None,
            engine_decode_n=int(timings["predicted_n"]) if has_timers and timings["predicted_n"] else None,
            timing_source="llama-server timings" if has_timers else "wall clock",
            text=generated[:400], extra=extra,
        )
