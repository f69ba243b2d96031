"""A soak's figures: the rate a board holds once warm, how far it fell, when it began to throttle.

A soak window starts at the first counted repetition and lasts soak_s (run.schedule.SoakSchedule);
its figures come from one continuous window. Each repetition of a soak records the window it
belongs to (`soak_window`: the number of the repetition that began it), so that the repetitions
of a window cut short by a crash, still in repetitions.jsonl, never count: the last window of a
configuration is the one whose outcome was recorded.

Why the last quarter: a board heats over minutes and its clock settles once its cooler (or its
enclosure) is saturated; the last quarter of the window is the state it holds, the first quarter
the cold board that short benchmarks measure."""

from __future__ import annotations

from typing import Any

from edgetui.stats import mean

SOAK_TAG = "soak_window"
STEADY_FROM = 0.75  # the last quarter of the window
COLD_UNTIL = 0.25  # the first quarter


def last_window(counted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The counted repetitions of a configuration's last soak window (all of them when it has no
    soak): the rows of an earlier window, cut short by a crash and restarted, are left out."""
    tags = [r[SOAK_TAG] for r in counted if r.get(SOAK_TAG) is not None]
    if not tags:
        return counted
    return [r for r in counted if r.get(SOAK_TAG) == tags[-1]]


def soak_columns(config: dict[str, Any], counted: list[dict[str, Any]]) -> dict[str, Any]:
    """soak_s, sustained_tps and tps_drop_pct of one configuration from its last window's
    repetitions (empty without a soak)."""
    soak_s = config.get("soak_s")
    out: dict[str, Any] = {"soak_s": soak_s, "sustained_tps": None, "tps_drop_pct": None}
    starts = [r["t_start"] for r in counted if isinstance(r.get("t_start"), (int, float))]
    if soak_s is None or not starts:
        return out
    w0 = min(starts)
    timed = [r for r in counted if isinstance(r.get("t_start"), (int, float))]
    sustained = mean(r.get("decode_tps") for r in timed if r["t_start"] >= w0 + STEADY_FROM * soak_s)
    cold = mean(r.get("decode_tps") for r in timed if r["t_start"] < w0 + COLD_UNTIL * soak_s)
    out["sustained_tps"] = sustained
    if sustained is not None and cold:
        out["tps_drop_pct"] = 100.0 * (1.0 - sustained / cold)
    return out


def soak_context(soak_s: float | None, window: tuple[float, float] | None,
                 trace: list[tuple[float, float | None, bool]]) -> dict[str, Any]:
    """time_to_throttle_s and temp_c_steady from the samples (t, hottest zone, throttled) of a soak
    whose counted repetitions spanned `window` (monotonic start, end). Empty without a soak."""
    out: dict[str, Any] = {"time_to_throttle_s": None, "temp_c_steady": None}
    if soak_s is None or window is None:
        return out
    w0, w1 = window
    inside = [(t, temp, thr) for t, temp, thr in trace if w0 <= t <= w1]
    out["time_to_throttle_s"] = next((t - w0 for t, _, thr in inside if thr), None)
    out["temp_c_steady"] = mean(temp for t, temp, _ in inside if t >= w0 + STEADY_FROM * soak_s)
    return out
