"""The events a runner writes to events.jsonl and a console reads back."""

from __future__ import annotations

from typing import Any

from edgetui.fmt import NA, figure, number


def rep_line(*, rep: int | None, of: int | None, warmup: bool, decode_tps: float | None,
             prefill_tps: float | None, ttft_ms: float | None, gen_tokens: int | None,
             asked_tokens: int | None, energy_j: float | None, timing_flags: list[str] | None = None) -> str:
    """The log line of a finished repetition: the same in the headless runner's output and in the
    console's log pane. The token count is said only when the generation stopped short of it."""
    label = "warm-up" if warmup else f"rep {(rep or 0) + 1}/{of if of is not None else '?'}"
    energy_txt = f", {energy_j / gen_tokens:.3f} J/tok" if energy_j is not None and gen_tokens else ""
    short = gen_tokens is not None and asked_tokens is not None and gen_tokens < asked_tokens
    tokens_txt = f", stopped at {gen_tokens} of {asked_tokens} tokens" if short else ""
    flag_txt = f"  [timers disagree: {'; '.join(timing_flags)}]" if timing_flags else ""
    return (f"  {label}: decode {number(decode_tps)} tok/s, prefill {number(prefill_tps)} tok/s, "
            f"ttft {number(ttft_ms)} ms{energy_txt}{tokens_txt}{flag_txt}")


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
