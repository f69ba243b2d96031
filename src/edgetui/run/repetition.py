"""One finished repetition as repetitions.jsonl records it: the engine's figures, the wall-clock
ones, where the two disagree, and its energy over the exact windows of its phases."""

from __future__ import annotations

from typing import Any

from edgetui.engines.base import RepResult, disagreements, metrics
from edgetui.profiles.plan import Configuration
from edgetui.run.context import ConfigPeaks
from edgetui.run.energy import PowerTrace

# what a rep_end event carries of the row, for the console's panes and its log line
EVENT_KEYS = ("ttft_ms", "prefill_tps", "decode_tps", "e2e_tps", "energy_j", "power_w_mean", "gen_tokens_actual",
              "timing_flags")


def repetition_row(c: Configuration, rep: int, warmup: bool, r: RepResult, *, trace: PowerTrace,
                   max_gap_s: float, idle_w: float | None, peaks: ConfigPeaks, at: str) -> dict[str, Any]:
    """The record of one repetition. Energy is None wherever the trace does not cover the window
    (no power sensor, or a gap in its samples); net energy is None without an idle baseline."""
    m = metrics(r)
    energy = trace.energy(r.t_start, r.t_end, max_gap_s) if trace.ts else None
    decode_e = trace.energy(r.t_first_token, r.t_end, max_gap_s) if trace.ts else None
    prefill_e = trace.energy(r.t_start, r.t_first_token, max_gap_s) if trace.ts else None
    dur = r.t_end - r.t_start
    return {
        "config_id": c.config_id, "profile": c.profile, "rep": rep, "warmup": warmup, "at": at,
        **{k: v for k, v in r.to_dict().items() if k not in ("gen_tokens", "prompt_tokens")},
        "prompt_tokens": r.prompt_tokens, "gen_tokens_actual": r.gen_tokens, **m,
        "timing_flags": disagreements(m), "energy_j": energy, "prefill_energy_j": prefill_e,
        "decode_energy_j": decode_e,
        "power_w_mean": energy / dur if energy is not None and dur > 0 else None,
        "net_energy_j": energy - idle_w * dur if energy is not None and idle_w is not None else None,
        "temp_c_max": peaks.temp_c_max, "rss_mb_peak": peaks.rss_mb_peak,
    }
