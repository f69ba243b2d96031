"""How long each configuration will take and how much memory it needs, before it runs.

One estimate for `edgetui plan`, the queue screen, the profile builder and the live screen's ETA
(until the run's own figures replace it). The rates come, in this order, from:

1. this board's earlier runs of the same configuration id;
2. its earlier runs of the same model file (at the same thread count where there are any);
3. another model this board measured, scaled by the size of the weights: decode is close to
   memory-bound (every token reads every weight once), so tokens/s goes as 1 / bytes of weights;
   prefill is taken to scale the same way (it is compute-bound, and compute goes with the
   parameters, which go with the bytes at one quantisation);
4. fixed defaults (60 tokens/s decode, 600 prefill, 1.5 s a load).

Each estimate says which basis it has. Memory is the model file, its KV cache at n_ctx and a
margin for llama.cpp's compute buffers, against the memory available now."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgetui.errors import UserError
from edgetui.models import BUNDLED, bundled_path, gguf
from edgetui.models.discover import size_text
from edgetui.profiles.plan import Configuration

DEFAULT_DECODE_TPS = 60.0
DEFAULT_PREFILL_TPS = 600.0
DEFAULT_LOAD_S = 1.5
TEXT_PROMPT_TOKENS = 64  # a prompt text's length before it is tokenised
MARGIN_BYTES = 256 * 2**20  # compute buffers, the runtime, the console: beside the weights and the KV cache
MARGIN_SHARE = 0.10  # and a tenth of the weights (the compute buffers grow with the model)
# bytes per KV cache element by cache type (ggml's block sizes: 34 bytes per 32 for q8_0...)
KV_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
            "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32}
# bits per weight of the main tensor type of a quantisation (ggml's block sizes), for the size of a
# variant not made yet
BITS_PER_WEIGHT = {"F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.5625, "Q5_1": 6.0,
                   "Q5_0": 5.5, "Q5_K_M": 5.5, "Q5_K_S": 5.5, "Q4_1": 5.0, "Q4_0": 4.5, "Q4_K_M": 4.5,
                   "Q4_K_S": 4.5, "IQ4_NL": 4.5, "IQ4_XS": 4.25, "Q3_K_L": 3.4375, "Q3_K_M": 3.4375,
                   "Q3_K_S": 3.4375, "Q2_K": 2.625, "Q2_K_S": 2.625}

SAME_CONFIG = "this configuration"
SAME_MODEL = "this model file"
SCALED = "scaled from"
DEFAULTS = "defaults"
IN_RUN = "this run"


@dataclass(frozen=True)
class Measured:
    """One configuration this board ran to the end: its rates and the model it ran."""

    config_id: str
    model_key: str  # the model file's path (a server's engine:url:model)
    model: str  # its label
    n_threads: int
    decode_tps: float
    prefill_tps: float | None = None
    load_s: float | None = None
    model_bytes: int | None = None


@dataclass
class History:
    """What this board measured before (rundir.history reads it from the run folders)."""

    records: list[Measured] = field(default_factory=list)

    def of_config(self, config_id: str) -> list[Measured]:
        return [r for r in self.records if r.config_id == config_id]

    def of_model(self, key: str, n_threads: int) -> list[Measured]:
        mine = [r for r in self.records if r.model_key == key]
        same_threads = [r for r in mine if r.n_threads == n_threads]
        return same_threads or mine


@dataclass(frozen=True)
class Rates:
    decode_tps: float
    prefill_tps: float
    load_s: float
    basis: str  # which of the four (or this run) they come from, in words


@dataclass(frozen=True)
class ModelFile:
    """What the header says, for the scaling and the memory: None where the file is not here."""

    key: str
    path: Path | None
    size: int | None
    info: gguf.GGUFInfo | None


@dataclass(frozen=True)
class Estimate:
    config: Configuration
    seconds: float
    basis: str
    memory_bytes: int | None = None  # None: not known here (a server's model, a file not fetched)
    available_bytes: int | None = None

    @property
    def fits(self) -> bool:
        return self.memory_bytes is None or self.available_bytes is None or self.memory_bytes <= self.available_bytes

    def memory_note(self) -> str | None:
        """'needs ~5.1 GB, 3.2 GB available' for a configuration that will not fit."""
        if self.fits or self.memory_bytes is None or self.available_bytes is None:
            return None
        return f"needs ~{size_text(self.memory_bytes)}, {size_text(self.available_bytes)} available"


def model_key(c: Configuration) -> str:
    """The identity of a configuration's model file, as results rows record it (model_path)."""
    if not c.in_process:
        return f"{c.engine}:{c.engine_url}:{c.model_name or c.model}"
    if c.model_path:
        return c.model_path
    if c.model_name in BUNDLED:
        return str(bundled_path(c.model_name))
    return c.model


class ModelFiles:
    """Model files' headers, read once each (a plan repeats a model in every configuration)."""

    def __init__(self) -> None:
        self._seen: dict[str, ModelFile] = {}

    def of(self, c: Configuration) -> ModelFile:
        key = model_key(c)
        if key not in self._seen:
            self._seen[key] = self._read(key, c)
        return self._seen[key]

    @staticmethod
    def _read(key: str, c: Configuration) -> ModelFile:
        if not c.in_process:
            return ModelFile(key, None, None, None)
        path = Path(key)
        try:
            return ModelFile(key, path, path.stat().st_size, gguf.read_info(path))
        except (UserError, OSError, ValueError, OverflowError, struct.error, MemoryError):
            # a missing or bad file is refused when its configuration loads; here it is only not known
            return ModelFile(key, None, None, None)


def weight_bytes(c: Configuration, f: ModelFile) -> int | None:
    """Bytes of weights the configuration loads: the file, or for a variant not made yet, its
    parameters at the variant's bits per weight."""
    if f.size is None:
        return None
    if c.quant != "source" and f.info is not None and f.info.n_params and c.quant in BITS_PER_WEIGHT:
        return int(f.info.n_params * BITS_PER_WEIGHT[c.quant] / 8)
    return f.size


def memory_bytes(c: Configuration, f: ModelFile) -> int | None:
    """Weights + KV cache at n_ctx (+ n_depth fits in n_ctx) + margin; None where unknown."""
    weights = weight_bytes(c, f)
    if weights is None or f.info is None:
        return None
    kv = f.info.kv_cache_bytes(c.n_ctx, KV_BYTES.get(c.kv_cache_type, 2.0)) or 0
    return int(weights + kv + MARGIN_BYTES + MARGIN_SHARE * weights)


def _mean(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None and math.isfinite(x) and x > 0]
    return sum(vals) / len(vals) if vals else None


def rates_for(c: Configuration, history: History | None, f: ModelFile | None = None) -> Rates:
    """The rates to expect, from the first basis (module docstring) that has figures."""
    history = history or History()
    for basis, records in ((SAME_CONFIG, history.of_config(c.config_id)),
                           (SAME_MODEL, history.of_model(model_key(c), c.n_threads))):
        decode = _mean(r.decode_tps for r in records)
        if decode:
            return Rates(decode, _mean(r.prefill_tps for r in records) or DEFAULT_PREFILL_TPS,
                         _mean(r.load_s for r in records) or DEFAULT_LOAD_S, basis)
    mine = weight_bytes(c, f) if f is not None else None
    if mine and c.in_process:
        others = [r for r in history.records if r.model_bytes and r.model_key != model_key(c)]
        same_threads = [r for r in others if r.n_threads == c.n_threads]
        pool = same_threads or others
        if pool:  # the model nearest in size: the least scaling
            ref = min(pool, key=lambda r: abs(math.log((r.model_bytes or 1) / mine)))
            ratio = (ref.model_bytes or mine) / mine
            return Rates(ref.decode_tps * ratio, (ref.prefill_tps or DEFAULT_PREFILL_TPS) * ratio,
                         (ref.load_s or DEFAULT_LOAD_S) / ratio, f"{SCALED} {ref.model} by weight size")
    return Rates(DEFAULT_DECODE_TPS, DEFAULT_PREFILL_TPS, DEFAULT_LOAD_S, DEFAULTS)


def config_seconds(c: Configuration, rates: Rates, *, load: bool = True) -> float:
    """Warm-up and counted repetitions at these rates, and a model load; a soak's counted
    repetitions fill its window whatever their pace."""
    ptok = c.prompt_tokens if c.prompt_tokens is not None else TEXT_PROMPT_TOKENS
    per_rep = (c.n_depth + ptok) / rates.prefill_tps + c.gen_tokens / rates.decode_tps
    counted = c.repetitions * per_rep if c.soak_s is None else c.soak_s + per_rep  # the last one ends past it
    return (rates.load_s if load else 0.0) + c.warmup * per_rep + counted


def estimate_plan(configs: Sequence[Configuration], history: History | None = None, *,
                  available_bytes: int | None = None,
                  files: ModelFiles | None = None) -> list[Estimate]:
    """Each configuration's duration (with its basis) and memory against available_bytes
    (None: psutil's available memory now)."""
    if available_bytes is None:
        import psutil

        available_bytes = int(psutil.virtual_memory().available)
    files = files or ModelFiles()
    out = []
    for c in configs:
        f = files.of(c)
        rates = rates_for(c, history, f)
        out.append(Estimate(c, config_seconds(c, rates), rates.basis, memory_bytes(c, f), available_bytes))
    return out


def estimate_seconds(configs: Sequence[Configuration], history: History | None = None, *,
                     decode_tps: float | None = None, prefill_tps: float | None = None,
                     load_s: float | None = None, files: ModelFiles | None = None) -> float:
    """The total of estimate_plan's durations; rates given (measured in the run under way) replace
    those of the history for every configuration."""
    files = files or ModelFiles()
    total = 0.0
    for c in configs:
        if decode_tps is not None:
            rates = Rates(decode_tps, prefill_tps or DEFAULT_PREFILL_TPS,
                          DEFAULT_LOAD_S if load_s is None else load_s, IN_RUN)
        else:
            rates = rates_for(c, history, files.of(c))
            if load_s is not None:
                rates = Rates(rates.decode_tps, prefill_tps or rates.prefill_tps, load_s, rates.basis)
        total += config_seconds(c, rates)
    return total


def bases_text(estimates: Sequence[Estimate]) -> str:
    """'2 from this configuration, 4 from defaults': how the figures were got."""
    counts: dict[str, int] = {}
    for e in estimates:
        counts[e.basis] = counts.get(e.basis, 0) + 1
    return ", ".join(f"{n} from {b}" for b, n in counts.items())



LARGE_PLAN = 500  # configurations: past this, a run is started only when confirmed (--yes, or the console asks)
# the parameters a sweep may vary, in the plan's order, each with its short form (as describe() writes it)
SWEPT_FIELDS = {"model": "{}", "quant": "q:{}", "n_threads": "t{}", "n_gpu_layers": "ngl{}", "n_ctx": "ctx{}",
                "n_batch": "b{}", "flash_attn": "fa:{}", "kv_cache_type": "kv:{}", "n_depth": "d{}",
                "concurrency": "c{}", "prompt_tokens": "pp{}", "gen_tokens": "tg{}", "soak_s": "soak{}s"}


def swept(configs: Sequence[Configuration]) -> list[str]:
    """The parameters whose value differs between these configurations, in the plan's order."""
    return [f for f in SWEPT_FIELDS if len({getattr(c, f) for c in configs}) > 1]


def swept_values(c: Configuration, fields: Sequence[str]) -> str:
    """'gemma3-270m t2 ctx512': a configuration by what sets it apart; describe() when nothing does."""
    if not fields:
        return c.describe()
    return " ".join(SWEPT_FIELDS[f].format(str(getattr(c, f)).lower() if f == "flash_attn" else getattr(c, f))
                    for f in fields)
