"""What each inference engine can measure, declared once: the registry of engine kinds.

A profile is checked against these declarations (profiles/schema.py) and the runner asks them how
to treat a configuration (a model file in its own child, or a server's process to follow). The
engine classes themselves live in edgetui.engines, a layer above profiles, so each is named here
by module and class and imported only when a run needs it (engines/registry.py). A new engine is
its module and one entry in KINDS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """What an engine supports. Each `no_*` text says why not, as the end of a sentence that starts
    with the engine's kind (None: supported); the schema words its refusals from them."""

    #: runs a GGUF file in edgetui's own inference child: threads, GPU layers, batch, flash attention
    #: and KV type are edgetui's to set, the model file is read here and its memory is the child's
    in_process: bool
    #: how its rates are timed (the README's engine table)
    rates_source: str
    #: the server endpoints it can drive, the first the default (empty: none to choose)
    apis: tuple[str, ...] = ()
    #: fills the context before the timed prompt, untimed (llama-bench -d)
    no_depth: str | None = None
    #: several requests in flight at once
    no_concurrency: str | None = None
    #: gives the logits a quality pass needs (perplexity, KL divergence)
    no_quality: str | None = None
    #: a system prompt; where only some APIs have one, those APIs
    no_system_prompt: str | None = None
    system_prompt_apis: tuple[str, ...] | None = None
    #: quantised variants made by llama.cpp's quantizer ([sweep] quant)
    no_quantisation: str | None = None
    #: layers offloaded to a GPU as the profile's n_gpu_layers asks (most servers offload as they were started)
    gpu_offload: bool = False
    #: reports token counts, so a prompt of an exact token length can be built and checked
    no_exact_prompt_length: str | None = None
    #: the server lists the models it has (Ollama's /api/tags), for model discovery and the builder
    lists_models: bool = False

    @property
    def needs_url(self) -> bool:
        return not self.in_process

    @property
    def default_api(self) -> str | None:
        return self.apis[0] if self.apis else None


@dataclass(frozen=True)
class EngineKind:
    kind: str
    module: str
    class_name: str
    capabilities: Capabilities

    def system_prompt_refusal(self, api: str | None) -> str | None:
        """Why a system prompt cannot be sent through this engine and `api` (None: it can)."""
        caps = self.capabilities
        if caps.no_system_prompt is not None:
            return f'the "{self.kind}" engine {caps.no_system_prompt}'
        used = api or caps.default_api
        if caps.system_prompt_apis is not None and used not in caps.system_prompt_apis:
            return f'the {self.kind} {used} API has no system prompt: set [engine] api = "{caps.system_prompt_apis[0]}"'
        return None


_SERVER_KV = ("cannot fill a server's context before the timed prompt (the server keeps its KV cache to itself: "
              "edgetui can neither fill it untimed nor check it was kept)")
_NO_LOGITS = "server gives no logits to compare"
_OWN_FILES = "server loads its own files"

KINDS: dict[str, EngineKind] = {k.kind: k for k in (
    EngineKind("llama_cpp", "edgetui.engines.llama_cpp", "LlamaCppEngine", Capabilities(
        in_process=True, gpu_offload=True,
        rates_source="llama.cpp's perf counters, checked against the wall clock",
        no_concurrency="runs one sequence in one process, one request at a time",
        no_system_prompt="prefills the prompt as raw text, with no chat template to hold a system prompt: write it "
                         "into prompt instead",
    )),
    EngineKind("ollama", "edgetui.engines.ollama", "OllamaEngine", Capabilities(
        in_process=False, apis=("generate", "chat"), gpu_offload=True, lists_models=True,
        rates_source="the server's `prompt_eval_count/prompt_eval_duration` and `eval_count/eval_duration`, load "
                     "time from `load_duration`; TTFT and a chunk count from the wall clock as cross-checks",
        no_depth=_SERVER_KV, no_quality=_NO_LOGITS, no_quantisation=_OWN_FILES,
    )),
    EngineKind("openai", "edgetui.engines.openai_compat", "OpenAIEngine", Capabilities(
        in_process=False,
        rates_source="usage (or llama-server's timings), else counted chunks; TTFT from the first content chunk",
        apis=("completions", "chat"), system_prompt_apis=("chat",),
        no_depth=_SERVER_KV, no_quality=_NO_LOGITS, no_quantisation=_OWN_FILES,
    )),
    EngineKind("stackflow", "edgetui.engines.stackflow", "StackFlowEngine", Capabilities(
        in_process=False,
        rates_source="the wall clock only, tokens estimated from the stream (3 per chunk), and every row says so",
        no_depth=_SERVER_KV, no_quality=_NO_LOGITS, no_quantisation=_OWN_FILES,
        no_concurrency="drives one LLM unit, which serves one inference at a time",
        no_exact_prompt_length='needs a prompt text: give prompt = "..." instead of prompt_tokens',
    )),
)}


def engine_kind(kind: str) -> EngineKind:
    """The declaration of an engine kind (KeyError for an unknown one: the schema's choices refuse it
    first, with their own message)."""
    return KINDS[kind]


def capabilities(kind: str) -> Capabilities:
    return KINDS[kind].capabilities


def declared(kind: object) -> Capabilities | None:
    """The capabilities of a kind read from outside (a results row, a field being typed): None for
    anything that is not a declared kind."""
    return KINDS[kind].capabilities if isinstance(kind, str) and kind in KINDS else None


def in_process(kind: object) -> bool:
    caps = declared(kind)
    return caps is not None and caps.in_process


def lists_models(kind: object) -> bool:
    caps = declared(kind)
    return caps is not None and caps.lists_models


def engines_with(what: Callable[[Capabilities], bool], *, quoted: bool = False) -> str:
    """The engine kinds that have a capability, for refusals that say where to go instead:
    'the ollama and openai engines', or quoted 'the "llama_cpp" engine'."""
    names = [f'"{k}"' if quoted else k for k, d in KINDS.items() if what(d.capabilities)]
    listed = " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"the {listed} engine{'s' if len(names) > 1 else ''}"


def capabilities_markdown() -> str:
    """The README's table of what each engine can measure, made from the declarations."""
    def yes(refusal: str | None) -> str:
        return "yes" if refusal is None else "no"

    rows = ["| `kind` | in edgetui's own process | `n_depth` | `concurrency` | `[quality]` | `system_prompt` "
            "| `[sweep] quant` | GPU offload set by the profile | exact `prompt_tokens` | rates from |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for k in KINDS.values():
        c = k.capabilities
        system = yes(c.no_system_prompt)
        if c.no_system_prompt is None and c.system_prompt_apis is not None:
            system = "with api = " + " or ".join(f'"{a}"' for a in c.system_prompt_apis)
        rows.append(f"| `{k.kind}` | {'yes' if c.in_process else 'no'} | {yes(c.no_depth)} | {yes(c.no_concurrency)} "
                    f"| {yes(c.no_quality)} | {system} | {yes(c.no_quantisation)} | {'yes' if c.gpu_offload else 'no'} "
                    f"| {yes(c.no_exact_prompt_length)} | {c.rates_source} |")
    return "\n".join(rows)
