"""What an engine is: it loads a configuration's model once, then runs repetitions that
prefill a prompt and decode a fixed number of tokens, reporting times and token counts."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from edgetui.profiles.plan import Configuration

Emit = Callable[[dict[str, Any]], None]

# How often a running repetition reports its token count (for the live tokens/s pane).
PROGRESS_PERIOD_S = 0.25


class EngineError(Exception):
    """A failure of one configuration (bad model, server refused, stream cut): the queue goes on."""


@dataclass
class LoadInfo:
    load_s: float
    engine_version: str
    t_start: float  # monotonic
    t_end: float
    info: dict[str, Any] = field(default_factory=dict)  # settings actually in force, model facts


@dataclass
class RepResult:
    """One repetition, as timed by the engine and by the wall clock (monotonic seconds)."""

    prompt_tokens: int | None  # tokens actually prefilled (None: the server does not say)
    gen_tokens: int  # tokens actually produced
    t_start: float  # request issued / prefill began
    t_first_token: float  # first generated token available
    t_end: float  # last token available
    # The engine's own timers where it has them (llama.cpp perf counters, Ollama's durations)
    engine_prefill_ms: float | None = None
    engine_prefill_n: int | None = None
    engine_decode_ms: float | None = None
    engine_decode_n: int | None = None
    timing_source: str = "wall clock"
    text: str = ""  # the start of what was generated, for a look at quality
    extra: dict[str, Any] = field(default_factory=dict)
    # Tokens that arrived together at t_first_token (StackFlow streams text 3 tokens at a time)
    first_token_count: int = 1
    # When output arrived, ms after t_start: one entry per token (llama.cpp) or per streamed chunk
    # (servers); the first is the first token. Kept in repetitions.jsonl for the latency
    # distribution (inter-token latency percentiles), never in results.csv.
    token_ms: list[float] | None = None
    # How many tokens each entry of token_ms carried (None: one each)
    token_counts: list[int] | None = None
    # Several requests in flight at once ([sweep] concurrency): each stream's own record; the
    # fields above are then their union (first start, first token, last end, all tokens).
    streams: list[dict[str, Any]] | None = None
    # Time spent choosing the tokens from the logits, all of them together, ms: outside the engine's
    # decode timer, inside the wall clock's (None: the server samples, out of sight)
    sample_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metrics(r: RepResult) -> dict[str, float | None]:
    """The figures of one repetition. Engine-timer rates are the benchmark result; wall-clock
    rates are what an application sees; both are kept and compared. With several streams, the
    rates and TTFT are what one stream saw (means over the streams), e2e_tps and
    decode_tps_aggregate what they did together."""
    if r.streams:
        return streams_metrics(r)
    out: dict[str, float | None] = {}
    out["ttft_ms"] = (r.t_first_token - r.t_start) * 1000.0
    total = r.t_end - r.t_start
    out["e2e_tps"] = r.gen_tokens / total if total > 0 else None
    prefill_wall = r.t_first_token - r.t_start
    out["prefill_tps_wall"] = r.prompt_tokens / prefill_wall if r.prompt_tokens and prefill_wall > 0 else None
    decode_wall = r.t_end - r.t_first_token
    # The first token comes out of the prefill; the decode phase produces the rest.
    after_first = r.gen_tokens - r.first_token_count
    out["decode_tps_wall"] = after_first / decode_wall if decode_wall > 0 and after_first > 0 else None
    if r.engine_prefill_ms and r.engine_prefill_n:
        out["prefill_tps_engine"] = r.engine_prefill_n / (r.engine_prefill_ms / 1000.0)
    else:
        out["prefill_tps_engine"] = None
    if r.engine_decode_ms and r.engine_decode_n:
        out["decode_tps_engine"] = r.engine_decode_n / (r.engine_decode_ms / 1000.0)
    else:
        out["decode_tps_engine"] = None
    out["prefill_tps"] = out["prefill_tps_engine"] or out["prefill_tps_wall"]
    out["decode_tps"] = out["decode_tps_engine"] or out["decode_tps_wall"]
    out["decode_tps_aggregate"] = out["decode_tps_wall"]  # one stream: its own decode
    return out


def streams_metrics(r: RepResult) -> dict[str, float | None]:
    """Several streams: each one's figures averaged, and the aggregate decode rate, all streams'
    tokens after their first over the time from the first stream's first token to the last end."""
    assert r.streams
    per = [metrics(RepResult(**s)) for s in r.streams]
    out = {k: _mean_of([p[k] for p in per]) for k in per[0]}
    total = r.t_end - r.t_start
    out["e2e_tps"] = r.gen_tokens / total if total > 0 else None
    decoded = sum(s["gen_tokens"] - s.get("first_token_count", 1) for s in r.streams)
    window = r.t_end - r.t_first_token
    out["decode_tps_aggregate"] = decoded / window if window > 0 and decoded > 0 else None
    return out


def _mean_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


DISAGREE_LIMIT = 0.05


def disagreements(m: dict[str, float | None]) -> list[str]:
    """Which rates differ between engine timers and the wall clock by more than 5%."""
    flags = []
    for phase in ("prefill", "decode"):
        e, w = m.get(f"{phase}_tps_engine"), m.get(f"{phase}_tps_wall")
        if e and w and abs(e - w) / e > DISAGREE_LIMIT:
            flags.append(f"{phase}: engine {e:.1f} vs wall {w:.1f} tok/s")
    return flags


class Engine(ABC):
    kind: str = "?"

    def __init__(self, config: Configuration, model_path: str | None, emit: Emit) -> None:
        self.config = config
        self.model_path = model_path
        self.emit = emit

    @abstractmethod
    def load(self) -> LoadInfo:
        """Load the model with the configuration's load parameters (once per load key)."""

    @abstractmethod
    def run_once(self, config: Configuration, rep: int, warmup: bool) -> RepResult:
        """One repetition from a clean state: caches reset, exact prompt, exact tokens."""

    @classmethod
    def crash_hint(cls, reason: str, system_info: str) -> str | None:
        """A known cause of this engine's child dying as `reason` says, from the features the engine
        reported at load (None: none known)."""
        return None

    def quality(self, spec: dict[str, Any], make_reference: bool) -> dict[str, Any]:
        """The quality pass (edgetui.quality) on the loaded model; only in-process engines have the logits."""
        raise EngineError(f'the "{self.kind}" engine gives no logits: the quality pass needs llama_cpp')

    def close(self) -> None:
        pass

    def progress(self, config: Configuration, rep: int, warmup: bool, phase: str, tokens: int) -> None:
        self.emit({"ev": "progress", "config_id": config.config_id, "rep": rep, "warmup": warmup,
                   "phase": phase, "tokens": tokens, "t": time.monotonic()})

