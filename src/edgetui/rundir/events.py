"""The events a runner writes to events.jsonl and a console reads back."""

from __future__ import annotations

from edgetui.fmt import number


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
