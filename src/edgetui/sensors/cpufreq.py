"""CPU frequency per cpufreq policy, and frequency as evidence of throttling.

A policy is a group of CPUs sharing one clock (`/sys/devices/system/cpu/cpufreq/policy*`: one on a
Pi 5, three on an RK3588). Its files are in kHz: `scaling_cur_freq` (the clock now),
`scaling_max_freq` (the ceiling the kernel allows now: a thermal cooling device lowers it) and
`cpuinfo_max_freq` (the hardware's)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from edgetui.fmt import NA
from edgetui.sensors.base import Backend, Probe, Reading, read_number, read_text

CPUFREQ = "/sys/devices/system/cpu/cpufreq"
# what the sampler takes for "the clock is held down": below this share of the policy's ceiling
LOW_SHARE = 0.9
# consecutive samples it must last: one low sample is a governor stepping between levels
CONSECUTIVE = 2
# a policy is judged only while one of its CPUs is this busy (an idle cluster clocks down by design)
BUSY_SHARE = 0.5
# drivers with which the hardware picks the clock within the ceiling (turbo bins: all cores busy run
# below the one-core maximum by design): only a lowered ceiling is evidence there
HARDWARE_PICKS_CLOCK = ("intel_pstate", "amd-pstate", "amd-pstate-epp")


def parse_cpus(text: str | None) -> tuple[int, ...]:
    """"0 1 2 3" (affected_cpus) or "0-3,6" (a cpulist) -> (0, 1, 2, 3[, 6])."""
    out: list[int] = []
    for part in (text or "").replace(",", " ").split():
        lo, sep, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            continue
    return tuple(sorted(set(out)))


def cpus_text(cpus: Iterable[int]) -> str:
    """(0, 1, 2, 3, 6) -> "0-3,6"."""
    runs: list[list[int]] = []
    for c in sorted(cpus):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


@dataclass(frozen=True)
class PolicyFreq:
    """One policy's clock in MHz: now, the ceiling allowed now, the hardware's."""

    cur_mhz: float | None
    max_mhz: float | None
    hw_max_mhz: float | None = None


class CpuFreq(Backend):
    """Every cpufreq policy: current, allowed and hardware maximum frequency (readings in Hz, named
    "policyN/cur", "policyN/max", "policyN/hw_max"; "policyN/cpus" says which CPUs it clocks)."""

    name = "cpufreq"

    def _policies(self) -> list[Path]:
        base = self.ctx.p(CPUFREQ)
        if not base.is_dir():
            return []
        return sorted((d for d in base.glob("policy*") if d.name[6:].isdigit()), key=lambda d: int(d.name[6:]))

    def policy_cpus(self) -> dict[str, tuple[int, ...]]:
        """policy name -> the CPUs it clocks (related_cpus, else affected_cpus)."""
        return {d.name: parse_cpus(read_text(d / "related_cpus") or read_text(d / "affected_cpus"))
                for d in self._policies()}

    def hardware_clocked(self) -> set[str]:
        """The policies whose driver lets the hardware pick the clock (HARDWARE_PICKS_CLOCK)."""
        return {d.name for d in self._policies() if (read_text(d / "scaling_driver") or "") in HARDWARE_PICKS_CLOCK}

    def probe(self) -> Probe:
        policies = self.policy_cpus()
        if not policies:
            return Probe(False, f"no {CPUFREQ}/policy* here (no cpufreq driver, or a VM)")
        if not any(read_number(self.ctx.p(CPUFREQ) / p / "scaling_cur_freq") is not None for p in policies):
            return Probe(False, f"{len(policies)} policies, but no readable scaling_cur_freq")
        return Probe(True, ", ".join(f"{p} (cpus {cpus_text(c) or '?'})" for p, c in policies.items()))

    def read(self) -> list[Reading]:
        out = []
        for d in self._policies():
            for key, file in (("cur", "scaling_cur_freq"), ("max", "scaling_max_freq"),
                              ("hw_max", "cpuinfo_max_freq")):
                khz = read_number(d / file)
                if khz is not None:
                    out.append(self.reading(f"{d.name}/{key}", "frequency", khz * 1000.0, "policy"))
            cpus = read_text(d / "related_cpus") or read_text(d / "affected_cpus")
            if cpus:
                out.append(self.reading(f"{d.name}/cpus", "info", cpus_text(parse_cpus(cpus)), "policy"))
        return out


def policy_frequencies(readings: Iterable[Reading]) -> dict[str, PolicyFreq]:
    """The cpufreq backend's readings of one sample, per policy, in MHz."""
    raw: dict[str, dict[str, float]] = {}
    for r in readings:
        if r.backend == CpuFreq.name and r.kind == "frequency" and isinstance(r.value, (int, float)):
            policy, _, key = r.name.partition("/")
            raw.setdefault(policy, {})[key] = float(r.value) / 1e6
    return {p: PolicyFreq(v.get("cur"), v.get("max"), v.get("hw_max")) for p, v in raw.items()}


def policy_lines(readings: Iterable[dict]) -> list[str]:
    """`edgetui sensors`: one line per policy from its readings' dicts, in GHz."""
    by: dict[str, dict[str, object]] = {}
    for r in readings:
        policy, _, key = str(r.get("name", "")).partition("/")
        by.setdefault(policy, {})[key] = r.get("value")

    def ghz(v: object) -> str:
        return f"{v / 1e9:.2f} GHz" if isinstance(v, (int, float)) else NA

    return [f"{p} (cpus {v.get('cpus') or '?'}): {ghz(v.get('cur'))} now, allowed up to {ghz(v.get('max'))}, "
            f"hardware maximum {ghz(v.get('hw_max'))}" for p, v in by.items()]


class CpuBusy:
    """The busiest CPU of each policy since the last call, from this machine's /proc/stat (psutil)."""

    def __init__(self) -> None:
        self._last: list[tuple[float, float]] | None = None

    def busiest(self, policies: dict[str, tuple[int, ...]]) -> dict[str, float | None]:
        """policy -> share of time its busiest CPU was busy (None: none of its CPUs is known here,
        e.g. a fixture describing another board, or the first call)."""
        times = [(t.idle + getattr(t, "iowait", 0.0), sum(t)) for t in psutil.cpu_times(percpu=True)]
        last, self._last = self._last, times
        shares: list[float | None] = [None] * len(times)
        if last is not None and len(last) == len(times):
            for i, ((idle0, total0), (idle1, total1)) in enumerate(zip(last, times)):
                dt = total1 - total0
                if dt > 0:
                    shares[i] = max(0.0, min(1.0, 1.0 - (idle1 - idle0) / dt))
        out: dict[str, float | None] = {}
        for policy, cpus in policies.items():
            known = [s for c in cpus if c < len(shares) and (s := shares[c]) is not None]
            out[policy] = max(known) if known else None
        return out


class FrequencyThrottle:
    """Throttling read from the clock. A policy counts as held down when, while the inference runs
    and one of its CPUs is busy, its current frequency is below LOW_SHARE of its allowed maximum
    (firmware throttling under the kernel, as on a Pi), or its allowed maximum is below LOW_SHARE
    of the highest this run has seen (a thermal cooling device lowering the ceiling, as on an
    RK3588), for CONSECUTIVE samples in a row. For the `ceiling_only` policies (the hardware picks
    the clock: intel_pstate, amd-pstate) only the second counts."""

    def __init__(self, low_share: float = LOW_SHARE, consecutive: int = CONSECUTIVE,
                 busy_share: float = BUSY_SHARE, ceiling_only: set[str] | None = None) -> None:
        self.low_share, self.consecutive, self.busy_share = low_share, consecutive, busy_share
        self.ceiling_only = set(ceiling_only or ())
        self._runs: dict[str, int] = {}
        self._ceiling: dict[str, float] = {}

    def low(self, policy: str, f: PolicyFreq) -> bool:
        if f.max_mhz is not None:
            top = self._ceiling[policy] = max(self._ceiling.get(policy, 0.0), f.max_mhz)
            if f.max_mhz < self.low_share * top:
                return True
        if policy in self.ceiling_only:
            return False
        return f.cur_mhz is not None and f.max_mhz is not None and f.cur_mhz < self.low_share * f.max_mhz

    def update(self, freqs: dict[str, PolicyFreq], busy: dict[str, float | None], running: bool) -> list[str]:
        """The policies held down as of this sample (empty outside the inference's phases)."""
        held = []
        for policy, f in freqs.items():
            share = busy.get(policy)
            judged = running and (share is None or share >= self.busy_share)
            is_low = self.low(policy, f)  # the ceiling seen is followed in every phase
            self._runs[policy] = self._runs.get(policy, 0) + 1 if judged and is_low else 0
            if self._runs[policy] >= self.consecutive:
                held.append(policy)
        return held
