"""Ollama, and Hailo's Ollama-compatible server (hailo-ollama, port 8000), over their REST API.

Rates come from the server's own statistics in the final chunk of a stream (nanoseconds):
prompt_eval_count / prompt_eval_duration for the prefill, eval_count / eval_duration for
the decode, load_duration for a load. They are passed on as the server gives them and
cross-checked against the chunks counted and the wall clock. Hailo-Ollama reports only
eval_count and total_duration: its rates are the wall clock's.

edgetui never pulls a model unless the profile says pull = true. A server that ignores
num_predict is read no further than gen_tokens chunks and a few messages more (StreamBudget in
engines/server.py says why the configuration then fails)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from edgetui.engines.base import Emit, EngineError, LoadInfo, RepResult
from edgetui.engines.httpclient import HttpServer, cut_line
from edgetui.engines.server import ServerEngine, StreamBudget, ns_to_ms, offsets_ms, request_timeout_s
from edgetui.profiles.plan import Configuration

HAILO_BANNER = "hailo-ollama"
UNLOAD_WAIT_S = 15.0
# A repetition whose request reports a longer load than this had the model (re)loaded by the server.
RELOAD_NOTICE_S = 0.5
# Options hailo-ollama understands (its ModelParameters); it has no num_ctx, num_thread, num_gpu.
HAILO_OPTIONS = ("temperature", "seed", "top_k", "top_p", "frequency_penalty", "num_predict")


def same_model(listed: str, wanted: str) -> bool:
    """Ollama names a model "name:tag"; a name given without a tag means ":latest"."""
    if ":" not in wanted:
        wanted += ":latest"
    if ":" not in listed:
        listed += ":latest"
    return listed == wanted


class OllamaEngine(ServerEngine):
    kind = "ollama"

    def __init__(self, config: Configuration, model_path: str | None, emit: Emit) -> None:
        super().__init__(config, model_path, emit)
        self.server = HttpServer(self.url, self.timeout_s, self.request_timeout_s)
        self.api = config.engine_api or "generate"
        if self.api not in ("generate", "chat"):
            raise EngineError(f'the ollama engine drives api = "generate" or "chat", not "{self.api}"')
        self.flavour = "ollama"

    # ------------------------------------------------------------ requests
    def options(self, config: Configuration, num_predict: int) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_predict": num_predict, "temperature": config.temperature,
                                "num_ctx": config.n_ctx}
        if config.n_threads > 0:  # 0: the profile left threads to the server
            opts["num_thread"] = config.n_threads
        if config.n_gpu_layers >= 0:  # -1: Ollama's own choice (as many layers as fit)
            opts["num_gpu"] = config.n_gpu_layers
        if self.flavour == "hailo-ollama":
            opts = {k: v for k, v in opts.items() if k in HAILO_OPTIONS}
        return opts

    def request_body(self, config: Configuration, text: str, num_predict: int, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_name, "stream": stream,
                                "options": self.options(config, num_predict)}
        system = self.system_text(config, text)
        if self.api == "chat":
            body["messages"] = ([{"role": "system", "content": system}] if system is not None else []) + [
                {"role": "user", "content": text}]
        else:
            body["prompt"] = text
            if system is not None:
                body["system"] = system
        return body

    def count_prompt_tokens(self, text: str) -> int | None:
        reply = self.server.json("POST", f"/api/{self.api}", self.request_body(self.config, text, 1, False))
        count = reply.get("prompt_eval_count") if isinstance(reply, dict) else None
        return int(count) if isinstance(count, int) else None

    # ------------------------------------------------------------ load
    def load(self) -> LoadInfo:
        banner = self.server.text("GET", "/").strip()
        self.flavour = "hailo-ollama" if HAILO_BANNER in banner.lower() else "ollama"
        if self.flavour == "hailo-ollama" and self.config.prompt_tokens is not None:
            raise EngineError("hailo-ollama reports no prompt token counts, so a prompt of exactly "
                              f"{self.config.prompt_tokens} tokens cannot be built: give [workload] prompt instead")
        version = self.server.json("GET", "/api/version").get("version", "?")
        engine_version = (f"hailo-ollama (reports Ollama API version {version})" if self.flavour == "hailo-ollama"
                          else f"ollama {version}")
        info: dict[str, Any] = {"server": self.flavour, "url": self.server.url, "api": f"/api/{self.api}",
                                "server_model": self.model_name}
        if not self.has_model():
            if not self.config.engine_pull:
                raise EngineError(
                    f'{self.server.url} does not have the model "{self.model_name}" '
                    f"(it has: {', '.join(self.model_names()) or 'none'}); pull it on the server "
                    f"(ollama pull {self.model_name}) or set pull = true in [engine]")
            info["pull_s"] = self.pull()
        info.update(self.model_details())
        info["options"] = self.options(self.config, self.config.gen_tokens)
        if self.flavour == "hailo-ollama":
            info["options_not_applicable"] = "num_ctx, num_thread, num_gpu (hailo-ollama has no such options)"
        info["was_loaded"] = self.unload_if_loaded()
        # A load request: the model and no prompt (both servers load on that). Its load-time options
        # must be those of the runs, or Ollama would load the model again on the first run.
        body = {"model": self.model_name, "options": self.options(self.config, self.config.gen_tokens)}
        t0 = time.monotonic()
        reply = self.server.json("POST", f"/api/{self.api}", body)
        t1 = time.monotonic()
        server_load_ms = ns_to_ms(reply.get("load_duration")) if isinstance(reply, dict) else None
        info["load_timing"] = ("server load_duration" if server_load_ms is not None
                               else "wall clock of the server's load request")
        load_s = server_load_ms / 1000.0 if server_load_ms is not None else t1 - t0
        return LoadInfo(load_s=load_s, engine_version=engine_version, t_start=t0, t_end=t1, info=info)

    def model_names(self) -> list[str]:
        tags = self.server.json("GET", "/api/tags")
        return [m.get("name") or m.get("model") or "?" for m in (tags.get("models") or [])]

    def has_model(self) -> bool:
        return any(same_model(n, self.model_name) for n in self.model_names())

    def pull(self) -> float:
        """Pull the model (asked for by the profile); the time it took, which is not load time."""
        t0 = time.monotonic()
        last: dict[str, Any] = {}
        # No whole-request deadline: a pull takes as long as the download; each read has timeout_s.
        with self.server.open("POST", "/api/pull", {"model": self.model_name, "stream": True},
                              whole_request=False) as stream:
            for line, _ in stream.lines():
                if not line.strip():
                    continue
                try:
                    last = json.loads(line)
                except ValueError:
                    continue
                if last.get("error"):
                    raise EngineError(f'pulling "{self.model_name}" failed: {last["error"]}')
        if last.get("status") != "success" or not self.has_model():
            raise EngineError(f'pulling "{self.model_name}" did not finish (last status: {last.get("status")})')
        return time.monotonic() - t0

    def model_details(self) -> dict[str, Any]:
        try:
            shown = self.server.json("POST", "/api/show", {"model": self.model_name})
        except EngineError:
            return {}
        details = shown.get("details") or {} if isinstance(shown, dict) else {}
        out = {f"model_{k}": details[k] for k in ("family", "parameter_size", "quantization_level", "format")
               if details.get(k)}
        return out

    def unload_if_loaded(self) -> bool:
        """Unload the model if the server holds it, so the load measured is a real one."""
        try:
            running = self.server.json("GET", "/api/ps").get("models") or []
        except EngineError:
            return False
        if not any(same_model(m.get("name") or m.get("model") or "", self.model_name) for m in running):
            return False
        body: dict[str, Any] = {"model": self.model_name, "keep_alive": 0}
        self.server.json("POST", f"/api/{self.api}", body)
        deadline = time.monotonic() + UNLOAD_WAIT_S
        while time.monotonic() < deadline:
            running = self.server.json("GET", "/api/ps").get("models") or []
            if not any(same_model(m.get("name") or m.get("model") or "", self.model_name) for m in running):
                break
            time.sleep(0.2)
        return True

    # ------------------------------------------------------------ one repetition
    def run_stream(self, config: Configuration, rep: int, warmup: bool, *,
                   prompt: tuple[str, dict[str, Any]] | None = None,
                   report: Callable[[int], None] | None = None) -> RepResult:
        text, extra = prompt or self.prompt_for(config)
        path = f"/api/{self.api}"
        body = self.request_body(config, text, config.gen_tokens, True)
        report = report or self.progress_reporter(config, rep, warmup)
        arrivals: list[float] = []  # each content chunk's arrival: the token times
        chunks = 0
        pieces: list[str] = []
        final: dict[str, Any] | None = None
        t_first = t_end = None
        self.progress(config, rep, warmup, "prefill", 0)
        t_start = time.monotonic()
        budget = StreamBudget(config.gen_tokens, "num_predict")
        with self.server.open("POST", path, body, deadline_s=request_timeout_s(config)) as stream:
            for line, t in stream.lines():
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise EngineError(cut_line(stream.where, line)) from None
                if not isinstance(obj, dict):
                    raise EngineError(f"{stream.where} sent a line that is not a JSON object: {line[:120]!r}")
                if obj.get("error"):
                    raise EngineError(f"{self.flavour} reported an error after {chunks} chunks: {obj['error']}")
                message = obj.get("message") or {}
                piece = (obj.get("response") or message.get("content") or "") + (
                    obj.get("thinking") or message.get("thinking") or "")
                if piece:
                    chunks += 1
                    arrivals.append(t)
                    if t_first is None:
                        t_first = t
                    if len(pieces) < 64:
                        pieces.append(piece)
                    report(chunks)
                if obj.get("done"):
                    final, t_end = obj, t
                    break
                budget.message(chunks)  # past the margin: the request is closed on the way out
            if final is not None:
                stream.drain()
        if final is None:
            raise EngineError(f"the stream from {self.server.url}{path} ended after {chunks} chunks "
                              "without its final statistics (server stopped or connection cut)")
        assert t_end is not None  # set with final
        if t_first is None:
            raise EngineError(f"{self.flavour} produced no tokens (done_reason: {final.get('done_reason')})")
        overrun = budget.overrun_note(chunks)
        if overrun:
            extra["server_overrun"] = overrun
        r = self.result(final, chunks, t_start, t_first, t_end, "".join(pieces), extra)
        r.token_ms = offsets_ms(arrivals, t_start)  # Ollama streams one token per chunk
        return r

    def result(self, final: dict[str, Any], chunks: int, t_start: float, t_first: float, t_end: float,
               text: str, extra: dict[str, Any]) -> RepResult:
        eval_count = final.get("eval_count")
        prompt_count = final.get("prompt_eval_count")
        cached = final.get("prompt_eval_cached_count")
        prefill_ms = ns_to_ms(final.get("prompt_eval_duration"))
        decode_ms = ns_to_ms(final.get("eval_duration"))
        extra = dict(extra, chunks=chunks, done_reason=final.get("done_reason"),
                     server_total_ms=ns_to_ms(final.get("total_duration")), wall_total_ms=(t_end - t_start) * 1000.0)
        load_ms = ns_to_ms(final.get("load_duration"))
        if load_ms is not None:
            extra["server_load_ms"] = load_ms
            if load_ms > RELOAD_NOTICE_S * 1000:
                extra["reloaded"] = f"the server spent {load_ms / 1000:.2f} s loading the model in this request"
        if isinstance(eval_count, int):
            gen_tokens = eval_count
            if eval_count != chunks:
                extra["eval_count_vs_chunks"] = f"server eval_count {eval_count}, chunks counted {chunks}"
        else:
            gen_tokens = chunks
            extra["gen_tokens_source"] = "chunks counted (the server sent no eval_count)"
        asked = extra.get("prompt_tokens_asked")
        if asked is not None and prompt_count != asked:
            extra["prompt_tokens_differ"] = f"asked {asked}, the server counted {prompt_count}"
        prefill_n = None
        if isinstance(prompt_count, int):
            prefill_n = prompt_count
            if isinstance(cached, int) and cached > 0:
                # prompt_eval_count includes the cached tokens; the duration covers only the others.
                prefill_n = prompt_count - cached
                extra["prompt_cached_tokens"] = cached
        engine_timed = decode_ms is not None and isinstance(eval_count, int)
        if engine_timed:
            source = "ollama server stats"
        elif self.flavour == "hailo-ollama":
            source = "wall clock (hailo-ollama reports only eval_count and total_duration)"
        else:
            source = "wall clock (the server sent no durations)"
        return RepResult(
            prompt_tokens=prompt_count if isinstance(prompt_count, int) else None,
            gen_tokens=gen_tokens, t_start=t_start, t_first_token=t_first, t_end=t_end,
            engine_prefill_ms=prefill_ms if prefill_ms and prefill_n else None,
            engine_prefill_n=prefill_n if prefill_ms and prefill_n else None,
            engine_decode_ms=decode_ms if engine_timed else None,
            engine_decode_n=eval_count if engine_timed else None,
            timing_source=source, text=text[:400], extra=extra,
        )
