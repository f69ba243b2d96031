"""Benchmark profiles: TOML files parsed and validated before anything runs.

Every key a profile may hold is declared once in SCHEMA below; the parser,
the unknown-key suggestions and the README's key reference all come from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui.errors import UserError, close_match_hint
from edgetui.models import gguf, quantize
from edgetui.profiles.engines import KINDS, engine_kind, engines_with
from edgetui.quality.corpus import BUNDLED, check_corpus
from edgetui.tomlread import loads as toml_loads
from edgetui.tomlread import tomllib

ENGINE_KINDS = tuple(KINDS)
FLASH_ATTN_CHOICES = ("auto", True, False)
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl")
# The decode rate a server request's default deadline allows for: slower than any board worth
# measuring (a 7B model on a Raspberry Pi 4 does about 1 token/s), so only a server that never
# finishes reaches it.
REQUEST_FLOOR_TPS = 0.5

# ---------------------------------------------------------------- key checks


Check = Callable[[Any], Any]  # returns the parsed value or raises ValueError(expected)


def _int(lo: int, hi: int) -> Check:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"an integer from {lo} to {hi}")
        if not lo <= v <= hi:
            raise ValueError(f"an integer from {lo} to {hi}, got {v}")
        return v

    return check


def _num(lo: float, hi: float, *, lo_open: bool = False) -> Check:
    bound = f"above {lo:g}" if lo_open else f"from {lo:g}"

    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"a number {bound} to {hi:g}")
        if (v <= lo if lo_open else v < lo) or v > hi:
            raise ValueError(f"a number {bound} to {hi:g}, got {v}")
        return float(v)

    return check


def _str(*, choices: tuple[Any, ...] | None = None, nonempty: bool = True) -> Check:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError(f"one of {_fmt_choices(choices)}" if choices else "a string")
        if choices is not None and v not in choices:
            raise ValueError(f"one of {_fmt_choices(choices)}, got {v!r}")
        if nonempty and not v.strip():
            raise ValueError("a non-empty string")
        return v

    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def _flash(v: Any) -> str | bool:
    if v not in FLASH_ATTN_CHOICES or (not isinstance(v, bool) and not isinstance(v, str)):
        raise ValueError('"auto", true or false')
    return v


def _quant(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"one of {quantize.valid_types_text()}")
    return quantize.check_type(v)


def _dims(v: Any) -> tuple[float, float, float]:
    if not isinstance(v, list) or len(v) != 3:
        raise ValueError("three numbers in mm, [length, width, height]")
    length, width, height = (_num(0, 10_000, lo_open=True)(x) for x in v)
    return length, width, height


def _repetitions(v: Any) -> int | str:
    if v == "auto":
        return "auto"
    try:
        return _int(1, 1000)(v)
    except ValueError:
        got = "" if isinstance(v, bool) or not isinstance(v, (int, str)) else f", got {v!r}"
        raise ValueError(f'an integer from 1 to 1000 or "auto"{got}') from None


def _fmt_choices(choices: tuple[Any, ...] | None) -> str:
    def one(c: Any) -> str:
        return str(c).lower() if isinstance(c, bool) else f'"{c}"'

    return ", ".join(one(c) for c in choices or ())


@dataclass(frozen=True)
class Key:
    check: Check
    doc: str
    default: Any = None
    required: bool = False
    axis: bool = False  # accepts one value or a non-empty list of values (a sweep axis)


TOP = {
    "name": Key(_str(), "profile name, unique among queued profiles", required=True),
    "description": Key(_str(nonempty=False), "free text shown in the queue"),
    "repetitions": Key(_repetitions, 'counted runs per configuration, or "auto" (until precise enough: [stats])', 3),
    "warmup": Key(_int(0, 100), "uncounted runs before the counted ones", 1),
    "cooldown_s": Key(_num(0, 3600), "pause after each configuration, seconds", 0.0),
    "idle_baseline_s": Key(_num(0, 3600), "idle power measured before the queue, seconds (0 = none)", 2.0),
    "sample_hz": Key(_num(0, 100, lo_open=True), "sensor sampling rate", 10.0),
    "cool_below_c": Key(_num(0, 150, lo_open=True), "before each configuration, wait until the hottest zone is below this"),
    "cool_max_s": Key(_num(0, 3600), "longest wait for cool_below_c, seconds", 120.0),
}
BOARD = {
    "name": Key(_str(), "board name, shown and exported"),
    "dimensions_mm": Key(_dims, "[length, width, height] in mm; gives volume_cm3"),
    "volume_cm3": Key(_num(0, 1e7, lo_open=True), "device volume, cm^3 (instead of dimensions_mm)"),
    "price_usd": Key(_num(0, 1e6, lo_open=True), "price in USD, for tokens/s per dollar"),
    "power_mode": Key(_str(), "power mode to record, e.g. nvpmodel MAXN_SUPER (read from the board when absent)"),
}
POWER = {
    "source": Key(_str(), 'power backend to use ("auto" = best detected)', "auto"),
    "meter_csv": Key(_str(), "external meter log: CSV of timestamp,watts or timestamp,volts,amps"),
    "meter_offset_s": Key(_num(-86400, 86400), "seconds added to the meter's timestamps to align them", 0.0),
    "meter_watts": Key(_num(0, 10_000, lo_open=True), "a fixed wattage typed in (external, not measured)"),
    "calibration_scale": Key(_num(0, 100, lo_open=True), "board_W = scale * reading_W + offset (estimated board power)"),
    "calibration_offset_w": Key(_num(-1000, 1000), "offset of that calibration line, W", 0.0),
}
ENGINE = {
    "kind": Key(_str(choices=ENGINE_KINDS), "inference engine", "llama_cpp"),
    "url": Key(_str(), "server base URL for ollama, openai and stackflow engines"),
    "api": Key(_str(choices=("generate", "chat", "completions")), "which endpoint of the server to drive"),
    "timeout_s": Key(_num(0, 86400, lo_open=True), "longest wait for a server answer, seconds", 300.0),
    "request_timeout_s": Key(_num(0, 864000, lo_open=True), "longest a whole server request may take, seconds, "
                             f"past which the configuration fails (default: timeout_s + gen_tokens / "
                             f"{REQUEST_FLOOR_TPS:g} tokens/s)"),
    "pull": Key(_bool, "let the engine pull a model the server lacks (ollama)", False),
    "temperature": Key(_num(0, 10), "sampling temperature sent to servers (llama_cpp is always greedy)", 0.0),
    "server_pid": Key(_int(1, 2**31), "pid of the inference server, to follow its memory"),
    "server_process": Key(_str(), "process name of the inference server, to follow its memory"),
    "server_port": Key(_int(1, 65535), "port the inference server listens on, to follow its memory"),
}
MODEL = {
    "name": Key(_str(), "a bundled model name (see `edgetui models`), or the server's model name"),
    "path": Key(_str(), "path to any GGUF file (relative to the profile)"),
    "label": Key(_str(), "name shown in results (default: name, or the file's stem)"),
}
SWEEP = {
    "n_threads": Key(_int(1, 1024), "CPU threads for generation and prompt processing (default: all physical "
                     "cores; for a server engine, the server's own choice)", axis=True),
    "n_gpu_layers": Key(_int(-1, 10_000), "layers offloaded to the GPU (-1 = all; for a server engine, the "
                        "default -1 lets the server choose)", [0], axis=True),
    "n_ctx": Key(_int(16, 1_048_576), "context length", [2048], axis=True),
    "n_batch": Key(_int(1, 1_048_576), "logical batch size for prompt processing", [512], axis=True),
    "flash_attn": Key(_flash, 'flash attention: "auto" (llama.cpp\'s default), true, false', ["auto"], axis=True),
    "kv_cache_type": Key(_str(choices=KV_CACHE_TYPES), "KV cache type for K and V", ["f16"], axis=True),
    "n_depth": Key(_int(0, 1_048_576), "tokens already in the context when the timed prompt starts, as "
                   "llama-bench -d: filled first, neither timed nor counted (llama_cpp only)", [0], axis=True),
    "concurrency": Key(_int(1, 1024), "requests in flight at once, each its own stream (ollama and openai only)",
                       [1], axis=True),
    "quant": Key(_quant, '"source" (the model file as given) or a llama.cpp quantisation type (Q8_0, Q4_K_M, '
                 "Q4_0...) made once from it with llama.cpp's quantizer and cached (llama_cpp engine)",
                 ["source"], axis=True),
}
WORKLOAD = {
    "prompt_tokens": Key(_int(1, 1_048_576), "exact prompt length in tokens", axis=True),
    "prompt": Key(_str(), "a prompt text instead of prompt_tokens (its own length)"),
    "system_prompt": Key(_str(), "a system prompt: StackFlow's setup prompt, Ollama's system, a system message "
                         "for openai api = \"chat\" (default: none; StackFlow's own otherwise)"),
    "gen_tokens": Key(_int(1, 1_000_000), "tokens to generate, exactly (no stop at end of sequence)", [128], axis=True),
    "soak_s": Key(_num(0, 7 * 86400, lo_open=True), "a soak: after the warm-up, counted repetitions back to back "
                  "for this many seconds, no cool-down between (repetitions is then how many fitted; "
                  "default: none)", axis=True),
}
QUALITY = {
    "corpus": Key(_str(), '"bundled" (Alice\'s Adventures in Wonderland, chapters I-IV) or a UTF-8 text file '
                  "(relative to the profile); the section present = a quality pass per model variant", BUNDLED),
    "tokens": Key(_int(16, 10_000_000), "corpus tokens evaluated, in windows of n_ctx (tokens // n_ctx windows)",
                  2048),
    "n_ctx": Key(_int(16, 1_048_576), "evaluation window; the second half of each is scored, as "
                 "llama-perplexity does", 512),
    "reference": Key(_str(), '"source" (each model\'s own file) or a GGUF of the same model to measure '
                     "divergence from (relative to the profile)", "source"),
}
STATS = {
    "target_ci_pct": Key(_num(0, 100, lo_open=True), 'repetitions = "auto": stop once the decode rate\'s 95% '
                         "half-width is under this percent of its mean", 2.0),
    "min_repetitions": Key(_int(2, 1000), 'repetitions = "auto": the fewest counted runs', 3),
    "max_repetitions": Key(_int(2, 1000), 'repetitions = "auto": the most counted runs', 20),
}
SECTIONS: dict[str, dict[str, Key]] = {
    "board": BOARD,
    "power": POWER,
    "engine": ENGINE,
    "sweep": SWEEP,
    "workload": WORKLOAD,
    "quality": QUALITY,
    "stats": STATS,
}
ARRAY_SECTIONS: dict[str, dict[str, Key]] = {"models": MODEL}
SCHEMA: dict[str, dict[str, Key]] = {"": TOP, **SECTIONS, "[models]": MODEL}

# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class BoardSpec:
    name: str | None = None
    volume_cm3: float | None = None
    price_usd: float | None = None
    power_mode: str | None = None
    dimensions_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class PowerSpec:
    source: str = "auto"
    meter_csv: str | None = None
    meter_offset_s: float = 0.0
    meter_watts: float | None = None
    calibration_scale: float | None = None
    calibration_offset_w: float = 0.0


@dataclass(frozen=True)
class EngineSpec:
    kind: str = "llama_cpp"
    url: str | None = None
    api: str | None = None
    timeout_s: float = 300.0
    request_timeout_s: float | None = None
    pull: bool = False
    temperature: float = 0.0
    server_pid: int | None = None
    server_process: str | None = None
    server_port: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    label: str
    name: str | None = None
    path: str | None = None  # absolute, resolved against the profile's folder


@dataclass(frozen=True)
class QualitySettings:
    corpus: str = BUNDLED  # "bundled" or an absolute path
    tokens: int = 2048
    n_ctx: int = 512
    reference: str = "source"  # "source" or an absolute path


@dataclass(frozen=True)
class StatsSettings:
    """repetitions = "auto": when a configuration has run enough."""

    target_ci_pct: float = 2.0
    min_repetitions: int = 3
    max_repetitions: int = 20


@dataclass(frozen=True)
class Profile:
    path: Path
    name: str
    description: str = ""
    repetitions: int = 3
    warmup: int = 1
    cooldown_s: float = 0.0
    idle_baseline_s: float = 2.0
    sample_hz: float = 10.0
    cool_below_c: float | None = None
    cool_max_s: float = 120.0
    board: BoardSpec = field(default_factory=BoardSpec)
    power: PowerSpec = field(default_factory=PowerSpec)
    engine: EngineSpec = field(default_factory=EngineSpec)
    models: tuple[ModelSpec, ...] = ()
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    prompt_tokens: tuple[int, ...] | None = None
    prompt: str | None = None
    gen_tokens: tuple[int, ...] = (128,)
    system_prompt: str | None = None
    soak_s: tuple[float, ...] | None = None  # None: no soak
    quality: QualitySettings | None = None  # None: no [quality] section, no quality pass
    # repetitions = "auto": its [stats] (repetitions is then max_repetitions); None: a fixed count
    stats: StatsSettings | None = None

    def axes(self) -> list[tuple[str, list[Any]]]:
        """The axes whose Cartesian product is this profile's configurations, slowest first (the
        order plan.expand runs them in), each value once."""
        s = self.sweep
        prompts: list[tuple[int | None, str | None]] = (
            [(None, self.prompt)] if self.prompt is not None else [(n, None) for n in self.prompt_tokens or ()])
        axes = [("models", list(self.models)), ("quant", s.get("quant", ["source"])), ("n_threads", s["n_threads"]),
                ("n_gpu_layers", s["n_gpu_layers"]), ("n_ctx", s["n_ctx"]), ("n_batch", s["n_batch"]),
                ("flash_attn", s["flash_attn"]), ("kv_cache_type", s["kv_cache_type"]),
                ("n_depth", s.get("n_depth", [0])), ("concurrency", s.get("concurrency", [1])),
                ("prompt" if self.prompt is not None else "prompt_tokens", prompts),
                ("gen_tokens", list(self.gen_tokens)), ("soak_s", list(self.soak_s or (None,)))]
        return [(name, _distinct(values)) for name, values in axes]

    @property
    def n_configurations(self) -> int:
        """How many configurations the profile expands to, counted without expanding it."""
        return math.prod(len(values) for _, values in self.axes())

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-able copy (for the run manifest)."""
        from dataclasses import asdict

        d = asdict(self)
        d["path"] = str(self.path)
        return d


def _distinct(values: list[Any]) -> list[Any]:
    """Each value once, in the order given (a value twice would give the same configuration twice);
    True and 1 stay apart, as the ids keep them."""
    seen: set[tuple[type, Any]] = set()
    out = []
    for v in values:
        key = (type(v), v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


# A run holds at most this many configurations: more is a typo or a hostile profile (a 16 KB file can
# ask for a billion), and the queue, the plan and the results would grow until the machine gave out.
MAX_CONFIGURATIONS = 100_000


def check_configuration_count(profile: Profile) -> None:
    """Refuse, counting and never expanding, a profile of more than MAX_CONFIGURATIONS configurations,
    naming the count and the axes that make it."""
    n = profile.n_configurations
    if n > MAX_CONFIGURATIONS:
        raise UserError(f"{n:,} configurations, more than the {MAX_CONFIGURATIONS:,} a run takes: "
                        f"{_axes_text(profile)}; give those axes fewer values or split the profile",
                        where=str(profile.path))


def check_total_configurations(profiles: Sequence[Profile]) -> None:
    """The same cap over the profiles of one run together."""
    total = sum(p.n_configurations for p in profiles)
    if total > MAX_CONFIGURATIONS:
        each = ", ".join(f"{p.name} {p.n_configurations:,} ({_axes_text(p)})" for p in profiles)
        raise UserError(f"these profiles hold {total:,} configurations together, more than the "
                        f"{MAX_CONFIGURATIONS:,} a run takes: {each}; queue fewer at once")


def _axes_text(profile: Profile) -> str:
    """The axes of more than one value, largest first: 'n_ctx 1,000 x n_threads 100'."""
    many = sorted(((name, len(v)) for name, v in profile.axes() if len(v) > 1), key=lambda a: -a[1])
    return " x ".join(f"{name} {n:,}" for name, n in many) or "one of each"


# ---------------------------------------------------------------- parsing


class _Locator:
    """Finds the line of a key in the TOML text, for messages (tomllib gives lines only for syntax errors)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, section: str, key: str, index: int | None = None) -> int | None:
        current, seen = "", -1
        header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
        keyline = re.compile(rf"^\s*{re.escape(key)}\s*=") if key else None
        for n, line in enumerate(self.lines, 1):
            m = header.match(line)
            if m:
                current = m.group(2)
                if current == section and m.group(1) == "[[":
                    seen += 1
                if keyline is None and current == section and (index is None or seen == index):
                    return n
                continue
            if keyline and current == section and keyline.match(line) and (index is None or seen == index):
                return n
        return None


def load_profile(path: str | Path) -> Profile:
    """Read and validate one profile; raise UserError naming the file, key, line and expectation."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("no such profile file", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read profile: {exc}", where=str(path)) from None
    try:
        data = toml_loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"malformed TOML: {exc}", where=str(path)) from None
    return parse_profile(data, path, text)


def parse_profile(data: dict[str, Any], path: Path, text: str = "") -> Profile:
    loc = _Locator(text)

    def fail(section: str, key: str, msg: str, index: int | None = None) -> UserError:
        dotted = ".".join(p for p in (section + (f"[{index}]" if index is not None else ""), key) if p)
        line = loc.line_of(section, key, index)
        where = f"{path}:{line}" if line else str(path)
        return UserError(f"{dotted or 'profile'}: {msg}", where=where)

    def parse_table(table: Any, keys: dict[str, Key], section: str, index: int | None = None) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise fail(section, "", "expected a table", index)
        out: dict[str, Any] = {}
        for k, v in table.items():
            if k not in keys:
                allowed = list(keys) + (list(SECTIONS) + list(ARRAY_SECTIONS) if section == "" else [])
                raise fail(section, k, f"unknown key{close_match_hint(k, allowed)}", index)
            spec = keys[k]
            try:
                if spec.axis:
                    values = v if isinstance(v, list) else [v]
                    if not values:
                        raise ValueError("a value or a non-empty list of values")
                    out[k] = [spec.check(x) for x in values]
                else:
                    out[k] = spec.check(v)
            except ValueError as exc:
                raise fail(section, k, f"expected {exc}", index) from None
        for k, spec in keys.items():
            if k not in out:
                if spec.required:
                    raise fail(section, k, "missing; required", index)
                out[k] = spec.default
        return out

    top_keys = {k: v for k, v in data.items() if k not in SECTIONS and k not in ARRAY_SECTIONS}
    top = parse_table(top_keys, TOP, "")
    sections = {s: parse_table(data.get(s, {}), keys, s) for s, keys in SECTIONS.items()}

    board = sections["board"]
    if board["dimensions_mm"] is not None and board["volume_cm3"] is not None:
        raise fail("board", "volume_cm3", "give dimensions_mm or volume_cm3, not both")
    volume = board["volume_cm3"]
    if board["dimensions_mm"] is not None:
        a, b, c = board["dimensions_mm"]
        volume = a * b * c / 1000.0

    power = sections["power"]
    if power["meter_csv"] is not None and power["meter_watts"] is not None:
        raise fail("power", "meter_watts", "give meter_csv or meter_watts, not both")
    if power["meter_csv"] is not None:  # relative to the profile, like model paths
        meter = Path(power["meter_csv"]).expanduser()
        power["meter_csv"] = str(meter if meter.is_absolute() else (path.parent / meter).resolve())

    engine = EngineSpec(**sections["engine"])
    kind = engine_kind(engine.kind)
    caps = kind.capabilities
    if caps.needs_url and not engine.url:
        raise fail("engine", "url", f'the "{engine.kind}" engine needs url = "http://host:port"')
    if engine.api is not None and engine.api not in caps.apis:
        drives = f'api = {" or ".join(f"{a!r}" for a in caps.apis)}'.replace("'", '"') if caps.apis else "no api"
        raise fail("engine", "api", f'the "{engine.kind}" engine drives {drives}, not "{engine.api}"')

    raw_models = data.get("models")
    if raw_models is None or (isinstance(raw_models, list) and not raw_models):
        raise fail("models", "", "at least one [[models]] entry is required")
    if not isinstance(raw_models, list):
        raise fail("models", "", "expected [[models]] tables")
    models = []
    for i, m in enumerate(raw_models):
        mt = parse_table(m, MODEL, "models", i)
        if bool(mt["name"]) == bool(mt["path"]) and caps.in_process:
            raise fail("models", "", "give exactly one of name (a bundled model) or path (a GGUF file)", i)
        if not mt["name"] and not mt["path"]:
            raise fail("models", "name", "the server's model name is required", i)
        mpath = None
        if mt["path"]:
            p = Path(mt["path"]).expanduser()
            mpath = str(p if p.is_absolute() else (path.parent / p).resolve())
        label = mt["label"] or mt["name"] or Path(mpath or "").stem
        models.append(ModelSpec(label=label, name=mt["name"], path=mpath))
    labels = [m.label for m in models]
    for lab in set(labels):
        if labels.count(lab) > 1:
            raise fail("models", "label", f'two models are labelled "{lab}"; give each a distinct label')

    sweep = sections["sweep"]
    given = data.get("sweep", {}) if isinstance(data.get("sweep"), dict) else {}
    if not caps.in_process:
        # A server runs elsewhere with its own defaults: what this machine has says nothing of it.
        # 0 threads and -1 GPU layers mean "send nothing, let the server choose".
        if "n_threads" not in given:
            sweep["n_threads"] = [0]
        if "n_gpu_layers" not in given:
            sweep["n_gpu_layers"] = [-1]
    elif sweep["n_threads"] is None:
        sweep["n_threads"] = [default_threads()]
    workload = sections["workload"]
    if workload["prompt"] is not None and workload["prompt_tokens"] is not None:
        raise fail("workload", "prompt", "give prompt_tokens or prompt, not both")
    if caps.no_exact_prompt_length is not None and workload["prompt"] is None:
        # no token counts: a prompt of an exact token length cannot be built or checked
        raise fail("workload", "prompt_tokens" if workload["prompt_tokens"] else "prompt",
                   f'the "{engine.kind}" engine {caps.no_exact_prompt_length}')
    if workload["prompt"] is None and workload["prompt_tokens"] is None:
        workload["prompt_tokens"] = [64]
    check_engine_axes(engine, sweep, workload, fail)
    # Context must hold the depth, the prompt and the generated tokens, else llama.cpp fails mid-run.
    depth = max(sweep["n_depth"])
    longest = depth + max(workload["prompt_tokens"] or [0]) + max(workload["gen_tokens"])
    if workload["prompt"] is None and caps.in_process and longest > max(sweep["n_ctx"]):
        what = "n_depth + prompt_tokens + gen_tokens" if depth else "prompt_tokens + gen_tokens"
        raise fail("sweep", "n_ctx", f"largest n_ctx {max(sweep['n_ctx'])} cannot hold {what} = {longest}")

    stats = _stats(data, top["repetitions"], sections["stats"], fail)
    if stats is not None and workload["soak_s"]:
        raise fail("workload", "soak_s", 'a soak runs as many repetitions as fit in its window, and repetitions = '
                   '"auto" as many as make the interval precise enough: give one of them')
    quality = _quality(data, sections["quality"], engine, path, fail)
    if sweep["quant"] != ["source"] and caps.no_quantisation is not None:
        able = engines_with(lambda c: c.no_quantisation is None, quoted=True)
        raise fail("sweep", "quant", f'quantised variants are made for {able}; the "{engine.kind}" '
                   f"{caps.no_quantisation}")

    profile = Profile(
        path=path,
        name=top["name"],
        description=top["description"] or "",
        repetitions=stats.max_repetitions if stats else top["repetitions"],
        warmup=top["warmup"],
        cooldown_s=top["cooldown_s"],
        idle_baseline_s=top["idle_baseline_s"],
        sample_hz=top["sample_hz"],
        cool_below_c=top["cool_below_c"],
        cool_max_s=top["cool_max_s"],
        board=BoardSpec(
            name=board["name"], volume_cm3=volume, price_usd=board["price_usd"],
            power_mode=board["power_mode"], dimensions_mm=board["dimensions_mm"],
        ),
        power=PowerSpec(**sections["power"]),
        engine=engine,
        models=tuple(models),
        sweep={k: list(v) for k, v in sweep.items()},
        prompt_tokens=tuple(workload["prompt_tokens"]) if workload["prompt_tokens"] else None,
        prompt=workload["prompt"],
        gen_tokens=tuple(workload["gen_tokens"]),
        system_prompt=workload["system_prompt"],
        soak_s=tuple(float(v) for v in workload["soak_s"]) if workload["soak_s"] else None,
        quality=quality,
        stats=stats,
    )
    check_configuration_count(profile)
    return profile


def check_engine_axes(engine: EngineSpec, sweep: dict[str, Any], workload: dict[str, Any],
                      fail: Callable[..., UserError]) -> None:
    """Refuse what an engine cannot measure honestly (its declared capabilities, profiles/engines.py):
    depth on a server, concurrency in-process or on StackFlow, a system prompt where there is
    nowhere to put one."""
    kind = engine_kind(engine.kind)
    caps = kind.capabilities
    if caps.no_depth is not None and max(sweep["n_depth"]) > 0:
        raise fail("sweep", "n_depth", f'the "{engine.kind}" engine {caps.no_depth}; n_depth is for '
                   f"{engines_with(lambda c: c.no_depth is None)}")
    if caps.no_concurrency is not None and max(sweep["concurrency"]) > 1:
        raise fail("sweep", "concurrency", f'the "{engine.kind}" engine {caps.no_concurrency}; concurrency is '
                   f"for {engines_with(lambda c: c.no_concurrency is None)}")
    if workload["system_prompt"] is not None:
        refusal = kind.system_prompt_refusal(engine.api)
        if refusal is not None:
            raise fail("workload", "system_prompt", refusal)


def _stats(data: dict[str, Any], repetitions: int | str, st: dict[str, Any],
           fail: Callable[..., UserError]) -> StatsSettings | None:
    """repetitions = "auto" with its [stats] (defaults where absent); None for a fixed count, which
    a [stats] section would not change (refused, so that it is not taken for in force)."""
    if repetitions != "auto":
        if "stats" in data:
            raise fail("stats", "", 'the [stats] section is for repetitions = "auto"; this profile has '
                       f"repetitions = {repetitions}")
        return None
    if st["min_repetitions"] > st["max_repetitions"]:
        raise fail("stats", "max_repetitions", f"expected at least min_repetitions = {st['min_repetitions']}, "
                   f"got {st['max_repetitions']}")
    return StatsSettings(**st)


def _quality(data: dict[str, Any], q: dict[str, Any], engine: EngineSpec, path: Path,
             fail: Callable[..., UserError]) -> QualitySettings | None:
    """The [quality] section checked, its paths resolved against the profile; None when absent."""
    if "quality" not in data:
        return None
    no_quality = engine_kind(engine.kind).capabilities.no_quality
    if no_quality is not None:
        able = engines_with(lambda c: c.no_quality is None, quoted=True)
        raise fail("quality", "", f'the quality pass needs {able} (the "{engine.kind}" {no_quality})')
    if q["tokens"] < q["n_ctx"]:
        raise fail("quality", "tokens", f"expected at least n_ctx = {q['n_ctx']} (one evaluation window), "
                   f"got {q['tokens']}")

    def resolve(value: str) -> str:
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (path.parent / p).resolve())

    corpus = q["corpus"] if q["corpus"] == BUNDLED else resolve(q["corpus"])
    if corpus != BUNDLED:
        try:
            check_corpus(corpus)
        except ValueError as exc:
            raise fail("quality", "corpus", f'expected "bundled" or a UTF-8 text file: {exc}') from None
    reference = q["reference"] if q["reference"] == "source" else resolve(q["reference"])
    if reference != "source":
        try:
            gguf.read_info(reference)
        except UserError as exc:
            raise fail("quality", "reference", f'expected "source" or a GGUF file: {exc.message} '
                       f"({reference})") from None
    return QualitySettings(corpus=corpus, tokens=q["tokens"], n_ctx=q["n_ctx"], reference=reference)


def default_threads() -> int:
    """All physical cores, as llama-bench does (llama_cpp.Llama would take half)."""
    import psutil

    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def load_profiles(paths: Sequence[str | Path]) -> list[Profile]:
    """Load several profiles; names must be unique across them."""
    profiles = [load_profile(p) for p in paths]
    seen: dict[str, Path] = {}
    for p in profiles:
        if p.name in seen:
            raise UserError(f'profile name "{p.name}" is also used by {seen[p.name]}; names must be unique', where=str(p.path))
        seen[p.name] = p.path
    check_total_configurations(profiles)
    return profiles


def schema_markdown() -> str:
    """The key reference for the README, generated from SCHEMA."""
    rows = ["| section | key | default | meaning |", "|---|---|---|---|"]
    for section, keys in SCHEMA.items():
        for k, spec in keys.items():
            default = "required" if spec.required else ("" if spec.default is None else repr(spec.default))
            axis = " (one value or a list: a sweep axis)" if spec.axis else ""
            rows.append(f"| `{section or 'top'}` | `{k}` | {default} | {spec.doc}{axis} |")
    return "\n".join(rows)
