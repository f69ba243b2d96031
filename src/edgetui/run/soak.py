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

import threading
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


class SoakTrace:
    """time_to_throttle_s and temp_c_steady of a soak, folded from the sampler's stream as it goes
    (a soak may last days: nothing grows with its length). Samples wait until a counted repetition
    that ends after them is reported (`counted_rep`), so that only samples inside the window count
    (not a quality pass after it); the sampler's thread adds, the runner's reports."""

    def __init__(self, soak_s: float) -> None:
        self.soak_s = soak_s
        self.window: tuple[float, float] | None = None  # first counted repetition's start, last one's end
        self._waiting: list[tuple[float, float | None, bool]] = []  # (t, hottest zone, throttled)
        self._first_throttle_t: float | None = None
        self._steady_sum = 0.0
        self._steady_n = 0
        self._lock = threading.Lock()

    def add(self, t: float, temp_c: float | None, throttled: bool) -> None:
        with self._lock:
            self._waiting.append((t, temp_c, throttled))

    def counted_rep(self, t_start: float, t_end: float) -> None:
        """A counted repetition ran from t_start to t_end (monotonic): the window reaches its end."""
        with self._lock:
            w0 = t_start if self.window is None else self.window[0]
            self.window = (w0, t_end)
            later = []
            for t, temp, throttled in self._waiting:  # in the order sampled
                if t > t_end:
                    later.append((t, temp, throttled))
                    continue
                if t < w0:
                    continue  # the warm-up
                if throttled and self._first_throttle_t is None:
                    self._first_throttle_t = t
                if temp is not None and t >= w0 + STEADY_FROM * self.soak_s:
                    self._steady_sum += temp
                    self._steady_n += 1
            self._waiting = later

    def columns(self) -> dict[str, Any]:
        with self._lock:
            w0 = self.window[0] if self.window else None
            return {"time_to_throttle_s": self._first_throttle_t - w0
                    if self._first_throttle_t is not None and w0 is not None else None,
                    "temp_c_steady": self._steady_sum / self._steady_n if self._steady_n else None}


def soak_context(trace: SoakTrace | None) -> dict[str, Any]:
    """The soak's context columns (empty without a soak)."""
    return trace.columns() if trace is not None else {"time_to_throttle_s": None, "temp_c_steady": None}
