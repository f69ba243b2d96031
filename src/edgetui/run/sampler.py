"""The sampler: a thread in the runner process that reads every sensor at a fixed rate,
timestamps each sample with the monotonic clock, and writes the stream to disk.

It runs beside the inference child, never inside it, and sleeps between reads so
that it takes as little CPU from the model as it can."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import IO

import psutil

from edgetui.run.energy import PowerTrace
from edgetui.rundir.samples import Readings, Sample
from edgetui.sensors import SensorSet
from edgetui.sensors.base import Reading
from edgetui.sensors.cpufreq import CpuBusy, CpuFreq, FrequencyThrottle, policy_frequencies

# the phases in which the inference child computes: a clock held down then is throttling
INFERENCE_PHASES = ("prefill", "decode", "quality")


class Sampler:
    def __init__(self, sensors: SensorSet, hz: float = 10.0, out: IO[str] | None = None,
                 on_sample: Callable[[Sample], None] | None = None) -> None:
        self.sensors = sensors
        self.period = 1.0 / hz
        self.out = out
        self.on_sample = on_sample
        self.trace = PowerTrace()
        self.phase = "idle"
        self.latest: Sample = {}
        self._pids: list[int] = []
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_energy: tuple[float, float] | None = None
        self._last_flush = 0.0
        self.write_error: OSError | None = None
        cpufreq = next((b for b in sensors.active if isinstance(b, CpuFreq)), None)
        self._policy_cpus = cpufreq.policy_cpus() if cpufreq is not None else {}
        self._busy = CpuBusy()
        self._held = FrequencyThrottle(ceiling_only=cpufreq.hardware_clocked() if cpufreq is not None else None)

    # --------------------------------------------------------------- control
    def set_target_pids(self, pids: list[int]) -> None:
        """The processes whose memory is the inference's (the worker child, or a server)."""
        with self._lock:
            self._pids = list(pids)

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="edgetui-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self.out and self.write_error is None:
            try:
                self.out.flush()
            except OSError as exc:
                self.write_error = exc

    @property
    def max_gap_s(self) -> float:
        """Largest gap between samples still taken as coverage of a window."""
        return max(3.0 * self.period, 0.5)

    # --------------------------------------------------------------- sampling
    def _rss_mb(self) -> float | None:
        with self._lock:
            pids = list(self._pids)
        total, seen = 0, False
        for pid in pids:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                total += proc.memory_info().rss
                seen = True
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._procs.pop(pid, None)
        if len(self._procs) > 64:
            self._procs = {p: self._procs[p] for p in pids if p in self._procs}
        return total / 2**20 if seen else None

    def sample_once(self) -> Sample:
        t = round(time.monotonic(), 6)  # one value for the stream and the trace, to the microsecond
        readings = self.sensors.read_all()
        s: Sample = {"t": t, "wall": round(time.time(), 3), "phase": self.phase}
        temps = [(r.value, r.name) for r in readings if r.kind == "temperature" and isinstance(r.value, (int, float))]
        s["temp_c_max"] = max(temps)[0] if temps else None
        s["temp_zone"] = max(temps)[1] if temps else None
        self._throttle(s, readings)
        power_w = energy_j = None
        total = self.sensors.power_of(readings)
        if total is not None and isinstance(total.value, (int, float)):
            if total.kind == "energy":
                energy_j = float(total.value)
                self.trace.add(t, energy_j, counter=True)
                if self._last_energy is not None and t > self._last_energy[0]:
                    power_w = (energy_j - self._last_energy[1]) / (t - self._last_energy[0])
                self._last_energy = (t, energy_j)
            else:
                power_w = float(total.value)
                self.trace.add(t, power_w, counter=False)
        s["power_w"] = power_w
        s["energy_j"] = energy_j
        s["rss_mb"] = self._rss_mb()
        for r in readings:
            if r.backend == "system":
                if r.name == "cpu":
                    s["cpu_pct"] = float(r.value) if isinstance(r.value, (int, float)) else None
                elif r.name == "mem_used" and isinstance(r.value, (int, float)):
                    s["mem_used_mb"] = round(float(r.value), 1)
                elif r.name == "mem_total" and isinstance(r.value, (int, float)):
                    s["mem_total_mb"] = round(float(r.value), 1)
        by_backend: Readings = {}
        for r in readings:
            if r.backend not in ("system", CpuFreq.name) and isinstance(r.value, (int, float)):
                by_backend.setdefault(r.backend, {}).setdefault(r.kind, {})[r.name] = r.value
        s["readings"] = by_backend
        return s

    def _throttle(self, s: Sample, readings: list[Reading]) -> None:
        """The sample's throttling: a board backend's flag, or cpufreq policies held down while the
        inference runs (FrequencyThrottle); `throttled` is None only when neither can be read."""
        flags = [r.value for r in readings if r.kind == "throttle" and r.value is not None]
        freqs = policy_frequencies(readings)
        if freqs:
            s["cpu_mhz"] = {p: round(f.cur_mhz, 1) for p, f in freqs.items() if f.cur_mhz is not None}
            s["cpu_max_mhz"] = {p: round(f.max_mhz, 1) for p, f in freqs.items() if f.max_mhz is not None}
            busy = self._busy.busiest(self._policy_cpus)
            s["cpu_held"] = self._held.update(freqs, busy, running=self.phase in INFERENCE_PHASES)
        sources = (["board flag"] if any(bool(v) for v in flags) else []) + (["cpufreq"] if s.get("cpu_held") else [])
        s["throttled"] = bool(sources) if flags or freqs else None
        if sources:
            s["throttle_source"] = sources

    def _loop(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                s = self.sample_once()
            except Exception as exc:  # a sensor failure must not end sampling
                s = {"t": time.monotonic(), "error": str(exc)}
            self.latest = s
            if self.out and self.write_error is None:
                try:
                    self.out.write(json.dumps(s, separators=(",", ":")) + "\n")
                    if s["t"] - self._last_flush >= 1.0:  # the live panes read this file
                        self.out.flush()
                        self._last_flush = s["t"]
                except OSError as exc:  # disk full: keep sampling in memory; the runner reports it
                    self.write_error = exc
            if self.on_sample:
                self.on_sample(s)
            next_t += self.period
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind (slow sensor): skip ahead rather than burst
                next_t = time.monotonic()
                delay = 0
            self._stop.wait(delay)
