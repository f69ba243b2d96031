"""llama.cpp in-process, through llama-cpp-python's low-level API.

The low-level path is deliberate (see MEASUREMENT.md): it lets flash attention stay
at llama.cpp's own default ("auto"), which `llama_cpp.Llama` cannot express, and it
picks each token greedily by an argmax over llama.cpp's own logits buffer, no copy of
them, so that decode runs as close as it can to what llama-bench reports for the same
build (which does not sample); the time spent choosing tokens is kept apart (sample_ms)."""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edgetui.engines.base import PROGRESS_PERIOD_S, Engine, EngineError, LoadInfo, RepResult
from edgetui.engines.prompt import PROMPT_TEXT
from edgetui.profiles.plan import Configuration

KV_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30}
FLASH = {"auto": -1, False: 0, True: 1}


_LAST_LEVEL = [1]
_FLASH_SEEN: dict[str, str] = {}


def _log_to_stderr(level: int, text: bytes, user_data: int | None) -> None:
    """llama.cpp's log, minus debug lines (ggml: 1 debug, 2 info, 3 warn, 4 error, 5 continues
    the previous line). llama-cpp-python's own callback prints debug too: a thousand lines of
    graph details per load that would bury the lines a failure report needs."""
    level = _LAST_LEVEL[0] if level == 5 else level
    _LAST_LEVEL[0] = level
    if level == 1:
        return
    s = text.decode("utf-8", errors="replace")
    if "Flash Attention" in s:  # what "auto" resolved to
        _FLASH_SEEN["state"] = "on" if "enabled" in s else "off" if "disabled" in s else "?"
    sys.stderr.write(s)


_CALLBACK = None


def _lib() -> ModuleType:
    global _CALLBACK
    import llama_cpp

    if _CALLBACK is None:
        _CALLBACK = llama_cpp.llama_log_callback(_log_to_stderr)  # kept referenced: C holds the pointer
        llama_cpp.llama_log_set(_CALLBACK, ctypes.c_void_p(0))
    return llama_cpp


AMX_FAULT_HINT = ("this llama.cpp was built with AMX, whose matrix multiply faults on some CPUs "
                  "(ggml-org/llama.cpp#20824): rebuild llama-cpp-python without it, as `make setup` "
                  "does (scripts/llama-wheel.sh)")


def crash_hint(reason: str, system_info: str) -> str | None:
    """A known cause of a child killed by a fault, from the features llama.cpp said it was built
    with (its system_info line, recorded at load)."""
    faulted = "SIGSEGV" in reason or "SIGILL" in reason
    return AMX_FAULT_HINT if faulted and "AMX_INT8 = 1" in system_info else None


def greedy_picker(n_vocab: int) -> Callable[[Any], tuple[int, int]]:
    """Greedy sampling as llama.cpp's greedy sampler does it (the first of the largest logits),
    by numpy's argmax over llama.cpp's own logits buffer, in place: llama_sampler_sample would
    copy the whole vocabulary into a fresh array of candidates per token (600 KB for SmolLM2,
    3 MB for Gemma 3), time the wall clock counts and llama-bench, which does not sample, never
    spends. pick(ctx) gives the token and the perf_counter_ns read just after the logits were in
    (reading them waits for the decode, and stops llama.cpp's decode timer)."""
    import llama_cpp

    # a prototype of our own that returns the address (the package's returns a float pointer)
    logits_at = llama_cpp.llama_cpp._lib["llama_get_logits_ith"]
    logits_at.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    logits_at.restype = ctypes.c_void_p
    ns = time.perf_counter_ns
    cached: list[Any] = [None, None]  # the buffer's address and a numpy view of it

    def pick(ctx: Any) -> tuple[int, int]:
        addr = logits_at(ctx, -1)
        t = ns()
        if addr != cached[0]:  # the buffer moved (or the first call): view it afresh
            if not addr:
                raise EngineError("llama.cpp gave no logits for the last token")
            cached[:] = [addr, np.ctypeslib.as_array((ctypes.c_float * n_vocab).from_address(addr))]
        return int(cached[1].argmax()), t

    return pick


class LlamaCppEngine(Engine):
    kind = "llama_cpp"

    @classmethod
    def crash_hint(cls, reason: str, system_info: str) -> str | None:
        return crash_hint(reason, system_info)

    def load(self) -> LoadInfo:
        L = _lib()
        c = self.config
        if not self.model_path or not Path(self.model_path).is_file():
            raise EngineError(f"model file not found: {self.model_path}")
        t0 = time.monotonic()
        L.llama_backend_init()
        mparams = L.llama_model_default_params()
        mparams.n_gpu_layers = c.n_gpu_layers if c.n_gpu_layers >= 0 else 0x7FFFFFFF
        self.model = L.llama_model_load_from_file(self.model_path.encode(), mparams)
        if not self.model:
            raise EngineError(f"llama.cpp could not load {self.model_path} (see the log)")
        cparams = L.llama_context_default_params()
        cparams.n_ctx = c.n_ctx
        cparams.n_batch = c.n_batch
        cparams.n_ubatch = min(c.n_batch, 512)
        cparams.n_seq_max = 1
        cparams.n_threads = c.n_threads
        cparams.n_threads_batch = c.n_threads
        cparams.flash_attn_type = FLASH[c.flash_attn]
        cparams.type_k = cparams.type_v = KV_TYPES[c.kv_cache_type]
        cparams.no_perf = False  # the perf counters are the benchmark's timers
        self.ctx = L.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise EngineError("llama.cpp could not create a context with these parameters (see the log)")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self._greedy = greedy_picker(self.n_vocab)
        self.n_batch = c.n_batch
        t1 = time.monotonic()
        info = {
            "flash_attn_in_force": self._flash_in_force(),
            "n_ctx": L.llama_n_ctx(self.ctx),
            "n_vocab": self.n_vocab,
            "system_info": L.llama_print_system_info().decode(errors="replace").strip(),
            # as llama-bench names the model: llama.cpp's own description and parameter count
            "model_type": self._model_desc(),
            "model_n_params": int(L.llama_model_n_params(self.model)),
        }
        return LoadInfo(load_s=t1 - t0, engine_version=f"llama-cpp-python {L.__version__}",
                        t_start=t0, t_end=t1, info=info)

    def _model_desc(self) -> str:
        L = _lib()
        buf = ctypes.create_string_buffer(128)
        L.llama_model_desc(self.model, buf, len(buf))
        return buf.value.decode(errors="replace")

    def _flash_in_force(self) -> str:
        """What "auto" resolved to, where llama.cpp says; else the setting asked for."""
        asked = {"auto": "auto", True: "on", False: "off"}[self.config.flash_attn]
        seen = _FLASH_SEEN.get("state")
        return seen if seen else asked

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        L = _lib()
        raw = text.encode()
        cap = len(raw) + 16
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self.vocab, raw, len(raw), buf, cap, add_special, False)
        if n < 0:
            raise EngineError("prompt did not tokenize")
        return list(buf[:n])

    def prompt_ids(self, config: Configuration) -> list[int]:
        # after a depth fill the prompt continues a sequence: no beginning-of-sequence token
        starts = not config.n_depth
        if config.prompt is not None:
            return self.tokenize(config.prompt, starts)
        return self.fixed_text_ids(config.prompt_tokens or 1, starts)

    def fixed_text_ids(self, n: int, starts: bool) -> list[int]:
        """Exactly n tokens of the fixed text, repeated as needed."""
        ids = self.tokenize(PROMPT_TEXT, starts)
        body = self.tokenize(PROMPT_TEXT, False)
        while len(ids) < n:
            ids += body
        return ids[:n]

    def fill_depth(self, n: int) -> str:
        """Put n tokens in the context before the timed prompt (llama-bench -d): decoded once per
        load, then restored from a copy of the sequence's state, as llama-bench does. Not timed."""
        L = _lib()
        cached = getattr(self, "_depth_state", None)
        if cached is not None and cached[0] == n:
            buf = cached[1]
            if L.llama_state_seq_set_data(self.ctx, buf, len(buf), 0) != 0:
                return "restored"
            L.llama_memory_clear(L.llama_get_memory(self.ctx), True)  # incompatible: fill it again
        t0 = time.monotonic()
        ids = self.fixed_text_ids(n, True)
        for a, b in self._chunks(len(ids)):
            self._decode(ids[a:b])
        size = L.llama_state_seq_get_size(self.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        L.llama_state_seq_get_data(self.ctx, buf, size, 0)
        self._depth_state = (n, buf)
        return f"filled in {time.monotonic() - t0:.3f} s"

    def _decode(self, ids: list[int]) -> None:
        L = _lib()
        arr = (L.llama_token * len(ids))(*ids)
        rc = L.llama_decode(self.ctx, L.llama_batch_get_one(arr, len(ids)))
        if rc != 0:
            raise EngineError(f"llama_decode returned {rc} (context full or out of memory?)")

    def _chunks(self, n: int) -> list[tuple[int, int]]:
        """Prompt chunks of at most n_batch; never a last chunk of one token, which llama.cpp
        would count as a decode step rather than prompt processing."""
        bounds = [(i, min(i + self.n_batch, n)) for i in range(0, n, self.n_batch)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            (a, _), (_, e) = bounds[-2], bounds[-1]
            mid = (a + e) // 2
            bounds[-2:] = [(a, mid), (mid, e)]
        return bounds

    def run_once(self, config: Configuration, rep: int, warmup: bool) -> RepResult:
        L = _lib()
        ids = self.prompt_ids(config)
        depth = config.n_depth
        if depth + len(ids) + config.gen_tokens > L.llama_n_ctx(self.ctx):
            held = f"{depth} depth + " if depth else ""
            raise EngineError(f"n_ctx {config.n_ctx} cannot hold {held}{len(ids)} prompt + {config.gen_tokens} "
                              "generated tokens")
        # A clean state: no KV cache or prefix left from the previous repetition, counters at zero
        # (after the depth fill, so that they count the timed prompt and decode only).
        memory = L.llama_get_memory(self.ctx)
        L.llama_memory_clear(memory, True)
        extra = {"n_depth": depth, "depth_fill": self.fill_depth(depth)} if depth else {}
        L.llama_perf_context_reset(self.ctx)
        n_gen = config.gen_tokens
        one = (L.llama_token * 1)()
        batch = L.llama_batch_get_one(ctypes.cast(one, ctypes.POINTER(L.llama_token)), 1)  # reused: `one` changes
        decode, ctx, pick = L.llama_decode, self.ctx, self._greedy
        monotonic = time.monotonic
        # Per decode step: one clock read when its logits are in (llama.cpp's decode timer stops
        # there) and one when the token is chosen, into lists allocated beforehand; the second is
        # also the token's time for the latency distribution, their difference the sampling time.
        ns = time.perf_counter_ns
        stamps = [0] * n_gen
        out = [0] * n_gen
        sample_ns = 0
        period_ns = int(PROGRESS_PERIOD_S * 1e9)

        self.progress(config, rep, warmup, "prefill", 0)
        t_start = monotonic()
        base_ns = ns()
        for a, b in self._chunks(len(ids)):
            self._decode(ids[a:b])
        tok, t_logits = pick(ctx)
        t_first = monotonic()
        stamps[0] = now = ns()
        sample_ns += now - t_logits
        out[0] = tok
        next_report = now + period_ns
        self.progress(config, rep, warmup, "decode", 1)
        for i in range(1, n_gen):
            one[0] = tok
            rc = decode(ctx, batch)
            if rc != 0:
                raise EngineError(f"llama_decode returned {rc} after {i} tokens")
            tok, t_logits = pick(ctx)
            out[i] = tok
            now = stamps[i] = ns()
            sample_ns += now - t_logits
            if now >= next_report:
                self.progress(config, rep, warmup, "decode", i + 1)
                next_report = now + period_ns
        t_end = monotonic()
        perf = L.llama_perf_context(ctx)
        if depth:  # the timed tokens went after the fill: positions held = depth + prompt + decoded
            extra["context_tokens"] = L.llama_memory_seq_pos_max(memory, 0) + 1
        counters_clean = len(ids) > 1  # a one-token prompt is counted by llama.cpp as a decode step
        return RepResult(
            prompt_tokens=len(ids), gen_tokens=len(out), t_start=t_start, t_first_token=t_first, t_end=t_end,
            engine_prefill_ms=perf.t_p_eval_ms if counters_clean else None,
            engine_prefill_n=perf.n_p_eval if counters_clean else None,
            engine_decode_ms=perf.t_eval_ms if counters_clean else None,
            engine_decode_n=perf.n_eval if counters_clean else None,
            timing_source="llama.cpp perf counters" if counters_clean else "wall clock",
            text=self.detokenize(out[:64]), sample_ms=sample_ns / 1e6,
            token_ms=[round((t - base_ns) / 1e6, 4) for t in stamps], extra=extra,
        )

    def quality(self, spec: dict, make_reference: bool) -> dict:
        """The quality pass on the loaded model (edgetui.quality), in a context of its own sized
        for the evaluation windows; progress goes out as phase "quality"."""
        from edgetui.quality.passes import QualitySpec, run_pass

        c = self.config
        next_report = [0.0]
        what = "quality pass, keeping the reference's log-probabilities" if make_reference else "quality pass"

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now >= next_report[0] or done == total:
                next_report[0] = now + PROGRESS_PERIOD_S
                self.emit({"ev": "progress", "config_id": c.config_id, "phase": "quality", "tokens": done,
                           "total": total, "unit": "tokens", "what": what, "t": now})

        progress(0, QualitySpec.from_dict(spec).n_windows * spec["n_ctx"])
        return run_pass(self.model, QualitySpec.from_dict(spec), c.n_threads, make_reference=make_reference,
                        progress=progress)

    def detokenize(self, ids: list[int]) -> str:
        L = _lib()
        pieces = []
        buf = ctypes.create_string_buffer(256)
        for t in ids:
            n = L.llama_token_to_piece(self.vocab, t, buf, len(buf), 0, False)
            if n > 0:
                pieces.append(buf.raw[:n])
        return b"".join(pieces).decode(errors="replace")

    def close(self) -> None:
        L = _lib()
        if getattr(self, "ctx", None):
            L.llama_free(self.ctx)
        if getattr(self, "model", None):
            L.llama_model_free(self.model)
