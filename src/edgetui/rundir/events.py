"""The events a runner writes to events.jsonl and a console reads back, as typed records: the
runner writes `record()` of one of these, the follower reads it back with `decode_event()`, so
both sides of the process boundary hold one definition. On disk each is a JSON object with its
kind in "ev" (first, so that a reader can skip a kind unparsed) and its monotonic time in "t";
a field left None is not written, and a field an older edgetui did not write reads as None."""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, ClassVar, Union, cast

from edgetui.fmt import NA, figure, number
from edgetui.sensors.base import PowerSource


@dataclass(kw_only=True)
class Event:
    KIND: ClassVar[str] = ""
    t: float | None = None  # time.monotonic() of the runner, one clock for every process of the machine

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ev": self.KIND}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "t" and v is not None:
                out[f.name] = v.to_dict() if isinstance(v, PowerSource) else v
        out["t"] = self.t
        return out


@dataclass(kw_only=True)
class RunStart(Event):
    KIND: ClassVar[str] = "run_start"
    n_configs: int | None = None
    pid: int | None = None
    power_source: str | None = None  # the label results.csv records
    power: PowerSource | None = None  # the same, as fields (absent before this edgetui)
    resume: bool = False


@dataclass(kw_only=True)
class Phase(Event):
    """What the runner is doing between repetitions: idle baseline, model load, cool-down,
    quantizing a variant, the quality pass."""

    KIND: ClassVar[str] = "phase"
    phase: str | None = None
    quant: str | None = None  # quantizing: to which type
    what: str | None = None  # the quality pass: "reference" (its log-probabilities) or "pass"
    seconds: float | None = None  # how long it lasts, when known in advance
    config_id: str | None = None
    pid: int | None = None  # the inference child, for a load
    temp_c: float | None = None  # a cool-down to a temperature: now, and the target
    target_c: float | None = None
    model: str | None = None  # quantizing: the source's file name; the quality reference: its file name
    cached: bool | None = None  # quantizing: the variant was in the cache already (nothing is made)
    tokens: int | None = None  # the quality reference: the tokens of the corpus it is run on


@dataclass(kw_only=True)
class Idle(Event):
    KIND: ClassVar[str] = "idle"
    power_w_idle: float | None = None


@dataclass(kw_only=True)
class ConfigStart(Event):
    KIND: ClassVar[str] = "config_start"
    config_id: str = "?"
    index: int = 0
    n: int = 0
    describe: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # Configuration.to_dict()


@dataclass(kw_only=True)
class Loaded(Event):
    """The model of a configuration is loaded in its inference child."""

    KIND: ClassVar[str] = "loaded"
    config_id: str | None = None
    load_s: float | None = None
    engine_version: str | None = None


@dataclass(kw_only=True)
class RepStart(Event):
    KIND: ClassVar[str] = "rep_start"
    config_id: str | None = None
    rep: int | None = None
    warmup: bool = False
    of: int | None = None  # counted repetitions asked for (None: repetitions = "auto")
    auto_max: int | None = None  # repetitions = "auto": the most it runs


@dataclass(kw_only=True)
class Progress(Event):
    """Written by the engine in the inference child (a dict, engines know nothing of run folders)
    and forwarded by the runner: tokens so far in the phase of a repetition; or, with a total, the
    progress of a long step outside the repetitions (quantizing, the quality pass)."""

    KIND: ClassVar[str] = "progress"
    config_id: str | None = None
    rep: int | None = None
    warmup: bool = False
    phase: str | None = None
    tokens: int | None = None  # done so far (tokens, or tensors for quantizing)
    total: int | None = None
    unit: str | None = None
    what: str | None = None


@dataclass(kw_only=True)
class RepEnd(Event):
    KIND: ClassVar[str] = "rep_end"
    config_id: str | None = None
    rep: int | None = None
    warmup: bool = False
    of: int | None = None
    auto_max: int | None = None
    ttft_ms: float | None = None
    prefill_tps: float | None = None
    decode_tps: float | None = None
    e2e_tps: float | None = None
    energy_j: float | None = None
    power_w_mean: float | None = None
    gen_tokens_actual: int | None = None
    timing_flags: list[str] | None = None

    def line(self, *, asked_tokens: int | None, of: int | None = None) -> str:
        """The log line of this repetition: the same in the headless runner's output and in the
        console's log pane. The token count is said only when generation stopped short of it."""
        label = "warm-up" if self.warmup else rep_label(self.rep, self.of if self.of is not None else of,
                                                        self.auto_max)
        tokens = self.gen_tokens_actual
        energy_txt = f", {self.energy_j / tokens:.3f} J/tok" if self.energy_j is not None and tokens else ""
        short = tokens is not None and asked_tokens is not None and tokens < asked_tokens
        tokens_txt = f", stopped at {tokens} of {asked_tokens} tokens" if short else ""
        flag_txt = f"  [timers disagree: {'; '.join(self.timing_flags)}]" if self.timing_flags else ""
        return (f"  {label}: decode {number(self.decode_tps)} tok/s, prefill {number(self.prefill_tps)} tok/s, "
                f"ttft {number(self.ttft_ms)} ms{energy_txt}{tokens_txt}{flag_txt}")


@dataclass(kw_only=True)
class QualityEnd(Event):
    """The quality pass of a configuration's model variant: its quality_* columns."""

    KIND: ClassVar[str] = "quality_end"
    config_id: str | None = None
    quality_ppl: float | None = None
    quality_kld_mean: float | None = None
    quality_kld_p99: float | None = None
    quality_top1_agree: float | None = None
    quality_reference: str | None = None
    quality_corpus: str | None = None
    quality_tokens: int | None = None
    quality_s: float | None = None
    quality_energy_j: float | None = None

    def line(self) -> str:
        return quality_line({f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(kw_only=True)
class ConfigEnd(Event):
    KIND: ClassVar[str] = "config_end"
    config_id: str = "?"
    status: str = "?"  # done, failed, skipped
    error: str | None = None


@dataclass(kw_only=True)
class RunWarning(Event):
    """Something the run's log must say, though nothing stopped (records found twice, ...)."""

    KIND: ClassVar[str] = "warning"
    message: str = ""


@dataclass(kw_only=True)
class RunEnd(Event):
    KIND: ClassVar[str] = "run_end"
    status: str | None = None  # finished, aborted, crashed
    failed: int = 0
    error: str | None = None  # crashed: the exception, in one line (its traceback is in runner.log)


KINDS: dict[str, type[Event]] = {cls.KIND: cls for cls in (
    RunStart, Phase, Idle, ConfigStart, Loaded, RepStart, Progress, RepEnd, QualityEnd, ConfigEnd, RunWarning, RunEnd)}
RAW_PROGRESS = b'"ev":"progress"'  # how a progress line starts on disk: a late attach skips them unparsed


class MalformedRecord(ValueError):
    """A record from a run folder (perhaps a board's, over the network) that is not what this
    edgetui writes: a field of the wrong type, a required one missing, not an object at all."""


_MAX_DEPTH = 8  # lists and objects inside a record's values: more is not ours


def _matches(value: Any, hint: Any, depth: int = 0) -> bool:
    """Whether a decoded JSON value is of the annotated type (bool is no number here, as in JSON)."""
    if hint is Any:
        return depth <= _MAX_DEPTH
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, h, depth) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # (a whole number written as 3.0 is one)
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return isinstance(value, list) and depth < _MAX_DEPTH and (
            not args or all(_matches(v, args[0], depth + 1) for v in value))
    if origin is dict or hint is dict:
        args = typing.get_args(hint)
        return isinstance(value, dict) and depth < _MAX_DEPTH and all(
            isinstance(k, str) and (not args or _matches(v, args[1], depth + 1)) for k, v in value.items())
    if isinstance(hint, type) and is_dataclass(hint):  # a record of its own (PowerSource)
        if not isinstance(value, dict) or depth >= _MAX_DEPTH:
            return False
        hints = _hints(hint)
        return all(_matches(value[f.name], hints[f.name], depth + 1) for f in fields(hint)
                   if value.get(f.name) is not None)
    return False


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def typed_fields(cls: type, rec: Any, what: str) -> dict[str, Any]:
    """The fields of dataclass `cls` in a decoded JSON object, each checked against its
    annotation; MalformedRecord naming the first field that is not. Keys the class does not have
    are left out (a newer edgetui's); a None is a field not given."""
    if not isinstance(rec, dict):
        raise MalformedRecord(f"{what}: not a JSON object ({type(rec).__name__})")
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for f in fields(cls):
        if not f.init:
            continue
        required = f.default is MISSING and f.default_factory is MISSING
        if required and f.name not in rec:
            raise MalformedRecord(f"{what}: {f.name} is missing")
        v = rec.get(f.name)
        if v is None:
            if required:
                out[f.name] = None  # as written (a field an older edgetui left empty)
            continue
        if not _matches(v, hints[f.name]):
            raise MalformedRecord(f"{what}: {f.name} = {_short(v)} is not of type {_type_name(hints[f.name])}")
        out[f.name] = v
    return out


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def decode_event_checked(rec: Any) -> Event | None:
    """The typed event of one events.jsonl record; None for a kind this edgetui does not know;
    MalformedRecord for a known kind whose fields are not of their types (`"decode_tps": "fast"`)."""
    if not isinstance(rec, dict):
        raise MalformedRecord(f"event: not a JSON object ({type(rec).__name__})")
    kind = rec.get("ev")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    if not isinstance(rec.get("t"), (int, float)) or isinstance(rec.get("t"), bool):
        rec = {k: v for k, v in rec.items() if k != "t"}  # a time that is not one is no time
    kwargs = typed_fields(cls, rec, cls.KIND)
    if "power" in kwargs:
        kwargs["power"] = PowerSource.from_dict(kwargs["power"])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise MalformedRecord(f"{cls.KIND}: {exc}") from None


def decode_event(rec: Any) -> Event | None:
    """decode_event_checked(), with a malformed record skipped like an unknown kind (for readers
    that only look for some kinds; the console's fold tells what it skipped)."""
    try:
        return decode_event_checked(rec)
    except MalformedRecord:
        return None


def decode_manifest(data: Any, what: str = "run.json") -> dict[str, Any]:
    """run.json as read back (perhaps from a board), checked field by field as its record
    (rundir.manifest.RunManifest), its configurations decodable; MalformedRecord otherwise."""
    from edgetui.rundir.manifest import RunManifest

    RunManifest.from_dict(data, what)
    return cast(dict[str, Any], data)


def rep_label(rep: int | None, of: int | None, auto_max: int | None = None) -> str:
    """A counted repetition, 1-based: "rep 2/5", or "rep 4 (auto, ≤20)" when the rule decides."""
    n = (rep or 0) + 1
    if auto_max is not None:
        return f"rep {n} (auto, ≤{auto_max})"
    return f"rep {n}/{of if of is not None else '?'}"


def quality_line(cols: dict[str, Any]) -> str:
    """The log line of a quality pass (its quality_* columns), in the headless output and the
    console's log: "quality: ppl 20.33, KLD 0.005395 (p99 0.02251), top-1 93.6% vs source, ..."."""
    top1 = cols.get("quality_top1_agree")
    top1_txt = NA if top1 is None else f"{100 * top1:.1f}%"
    return (f"  quality: ppl {figure(cols.get('quality_ppl'))}, KLD {figure(cols.get('quality_kld_mean'))} "
            f"(p99 {figure(cols.get('quality_kld_p99'))}), top-1 {top1_txt} vs {cols.get('quality_reference')}, "
            f"{cols.get('quality_tokens')} tokens of {cols.get('quality_corpus')} in "
            f"{number(cols.get('quality_s'), 1, 's')}")


def phase_progress_line(what: str, done: int, total: int, unit: str) -> str:
    """A long step's progress, for the live screen: "quality pass: 1,024/2,048 tokens (50%)"."""
    pct = f" ({100 * done / total:.0f}%)" if total else ""
    return f"{what}: {done:,}/{total:,} {unit}{pct}"
