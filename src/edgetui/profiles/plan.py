"""Expand profiles into configurations: the Cartesian product of their sweep axes."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from edgetui.profiles.engines import capabilities
from edgetui.profiles.schema import Profile, check_configuration_count, check_total_configurations

# Parameters that change what is measured; they, and nothing else, make the id.
ID_FIELDS = (
    "engine", "engine_url", "model", "n_threads", "n_gpu_layers", "n_ctx", "n_batch",
    "flash_attn", "kv_cache_type", "prompt_tokens", "prompt_sha", "gen_tokens",
)
# Parameters that need a fresh model load when they change.
LOAD_FIELDS = ("model", "model_path", "quant", "n_threads", "n_gpu_layers", "n_ctx", "n_batch", "flash_attn",
               "kv_cache_type", "system_prompt")  # StackFlow takes its system prompt when it sets its unit up
# Parameters added later: in the id only when they differ from the value every earlier
# configuration had, so that the ids of existing profiles stay what they were.
LATER_ID_FIELDS = {"n_depth": 0, "concurrency": 1, "system_prompt": None, "quant": "source", "soak_s": None}


@dataclass(frozen=True)
class Configuration:
    profile: str
    engine: str
    engine_url: str | None
    model: str  # the model's label
    model_name: str | None
    model_path: str | None
    n_threads: int
    n_gpu_layers: int
    n_ctx: int
    n_batch: int
    flash_attn: str | bool
    kv_cache_type: str
    prompt_tokens: int | None  # None when a prompt text is given
    prompt: str | None
    gen_tokens: int
    repetitions: int
    warmup: int
    # Server engines only (ollama, openai, stackflow): how to talk to the server.
    engine_api: str | None = None
    engine_timeout_s: float = 300.0
    engine_request_timeout_s: float | None = None  # None: derived (engines/server.py request_timeout_s)
    engine_pull: bool = False
    temperature: float = 0.0
    n_depth: int = 0  # tokens in the context before the timed prompt (llama_cpp)
    concurrency: int = 1  # requests in flight at once (ollama, openai)
    system_prompt: str | None = None
    # "source" (the model file as given) or the llama.cpp type of a variant made from it
    quant: str = "source"
    # a soak: counted repetitions back to back for this many seconds after the warm-up (run.schedule)
    soak_s: float | None = None
    # repetitions = "auto" ([stats]): `repetitions` is then the most it runs (max_repetitions) and
    # min_repetitions the fewest; it stops once the decode rate's 95% half-width is under
    # target_ci_pct percent of its mean. None: a fixed count of `repetitions`.
    target_ci_pct: float | None = None
    min_repetitions: int | None = None

    @property
    def in_process(self) -> bool:
        """Whether the engine runs the model file in edgetui's own child (its declared capabilities)."""
        return capabilities(self.engine).in_process

    @property
    def prompt_sha(self) -> str | None:
        return hashlib.sha256(self.prompt.encode()).hexdigest()[:12] if self.prompt else None

    @property
    def config_id(self) -> str:
        """Stable across runs and boards: same parameters, same id (for resume and merge)."""
        key = {f: getattr(self, f) for f in ID_FIELDS}
        if not self.in_process:  # what a server is asked changes its measurement
            key.update(engine_api=self.engine_api, temperature=self.temperature)
        key.update({f: getattr(self, f) for f, before in LATER_ID_FIELDS.items() if getattr(self, f) != before})
        blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def load_key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in LOAD_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["config_id"] = self.config_id
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Configuration:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def describe(self) -> str:
        fa = {True: "on", False: "off"}[self.flash_attn] if isinstance(self.flash_attn, bool) else self.flash_attn
        prompt = f"pp{self.prompt_tokens}" if self.prompt_tokens is not None else "prompt"
        if self.n_depth:
            prompt += f" d{self.n_depth}"
        if self.concurrency > 1:
            prompt += f" c{self.concurrency}"
        soak = f" soak{self.soak_s:g}s" if self.soak_s is not None else ""
        if not self.in_process:  # batch, flash attention and KV type are the server's business
            threads = f"t{self.n_threads}" if self.n_threads > 0 else "t:server"
            ngl = f"ngl{self.n_gpu_layers}" if self.n_gpu_layers >= 0 else "ngl:server"
            return f"{self.model} via {self.engine} {threads} {ngl} ctx{self.n_ctx} " \
                   f"{prompt} tg{self.gen_tokens}{soak}"
        quant = f" q:{self.quant}" if self.quant != "source" else ""
        return (
            f"{self.model}{quant} t{self.n_threads} ngl{self.n_gpu_layers} ctx{self.n_ctx} "
            f"b{self.n_batch} fa:{fa} kv:{self.kv_cache_type} {prompt} tg{self.gen_tokens}{soak}"
        )


def expand(profile: Profile) -> list[Configuration]:
    """Every combination of model x sweep axes x workload, in a stable order.

    Models vary slowest (then their quantised variants) and workload fastest, so that
    configurations sharing a model load are neighbours and the runner loads each model once
    per load key.
    """
    check_configuration_count(profile)  # counted before anything is built: never a billion objects
    out = []
    for model, quant, threads, ngl, ctx, batch, fa, kv, depth, conc, (ptok, ptext), gen, soak in itertools.product(
        *(values for _, values in profile.axes())
    ):
        out.append(
            Configuration(
                profile=profile.name, engine=profile.engine.kind, engine_url=profile.engine.url,
                model=model.label, model_name=model.name, model_path=model.path,
                n_threads=threads, n_gpu_layers=ngl, n_ctx=ctx, n_batch=batch, flash_attn=fa,
                kv_cache_type=kv, prompt_tokens=ptok, prompt=ptext, gen_tokens=gen,
                repetitions=profile.repetitions, warmup=profile.warmup,
                engine_api=profile.engine.api, engine_timeout_s=profile.engine.timeout_s,
                engine_request_timeout_s=profile.engine.request_timeout_s,
                engine_pull=profile.engine.pull, temperature=profile.engine.temperature,
                n_depth=depth, concurrency=conc, system_prompt=profile.system_prompt, quant=quant,
                soak_s=soak,
                target_ci_pct=profile.stats.target_ci_pct if profile.stats else None,
                min_repetitions=profile.stats.min_repetitions if profile.stats else None,
            )
        )
    # Duplicate axis values would give duplicate ids: keep the first of each.
    seen: set[str] = set()
    unique = []
    for c in out:
        if c.config_id not in seen:
            seen.add(c.config_id)
            unique.append(c)
    return unique


def expand_all(profiles: list[Profile]) -> list[Configuration]:
    """The configurations of one run's profiles, in queue order; the cap holds over all of them."""
    check_total_configurations(profiles)
    return [c for p in profiles for c in expand(p)]
