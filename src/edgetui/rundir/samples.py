"""The sensor stream's records (samples.jsonl), as the sampler writes them and the console reads
them: one declaration of their keys. A sample is a plain dict on the hot path (ten a second for
hours), so the declaration is a TypedDict: no cost at run time, one list of keys for both sides."""

from __future__ import annotations

from typing import TypedDict

# backend -> kind -> reading name -> value: every numeric reading of a sample, as fields
Readings = dict[str, dict[str, dict[str, float]]]


class Sample(TypedDict, total=False):
    t: float  # time.monotonic(), the clock of the events
    wall: float  # time.time(), for people
    phase: str  # idle, load, prefill, decode, between, cooldown, paused
    power_w: float | None  # the power source's total (from an energy counter: its rate)
    energy_j: float | None  # the counter itself, where the source is one
    temp_c_max: float | None
    temp_zone: str | None  # the hottest zone
    throttled: bool | None  # None: no throttle sensor (a board flag, or cpufreq policies)
    throttle_source: list[str]  # the evidence of this sample's throttling: "board flag", "cpufreq"
    cpu_mhz: dict[str, float]  # cpufreq policy -> its clock now, MHz
    cpu_max_mhz: dict[str, float]  # cpufreq policy -> the ceiling allowed now (scaling_max_freq), MHz
    cpu_held: list[str]  # the policies held down (sensors.cpufreq.FrequencyThrottle)
    rss_mb: float | None  # the inference process (or server) and its children
    cpu_pct: float | None
    mem_used_mb: float | None
    mem_total_mb: float | None
    readings: Readings
    v: dict[str, float]  # before `readings`: "backend:kind:name" -> value (older run folders)
    error: str  # a sample that failed as a whole: only t and this


def readings_of(sample: Sample, kind: str) -> list[tuple[str, str, float]]:
    """A sample's readings of one kind ("power", "temperature") as (backend, name, value)."""
    out = [(backend, name, float(v)) for backend, kinds in (sample.get("readings") or {}).items()
           for name, v in kinds.get(kind, {}).items() if isinstance(v, (int, float))]
    for key, v in (sample.get("v") or {}).items():  # an older run folder's flat labels, split here only
        parts = key.split(":", 2)
        if len(parts) == 3 and parts[1] == kind and isinstance(v, (int, float)):
            out.append((parts[0], parts[2], float(v)))
    return out
