"""Sensor backends: a pluggable list, probed at start, read by the sampler.

Add a backend by subclassing `Backend` and listing it in `backend_classes()`
(board-specific ones live in their own modules and are imported there)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgetui.sensors.base import Backend, PowerSource, Probe, Reading, SensorContext

ROOT_ENV = "EDGETUI_SYSFS_ROOT"


def backend_classes() -> list[type[Backend]]:
    """Every known backend, in display order."""
    from edgetui.sensors.cpufreq import CpuFreq
    from edgetui.sensors.generic import Hwmon, Rapl, ThermalZones
    from edgetui.sensors.system import SystemLoad

    classes: list[type[Backend]] = [SystemLoad, ThermalZones, Hwmon, Rapl, CpuFreq]
    try:  # board backends (their own issue); absent modules are simply not offered
        from edgetui.sensors.registry import board_backend_classes

        classes += board_backend_classes()
    except ImportError:
        pass
    return classes


def make_context(sysfs_root: str | Path | None = None, options: dict | None = None) -> SensorContext:
    root = sysfs_root or os.environ.get(ROOT_ENV) or "/"
    return SensorContext(root=Path(root), options=dict(options or {}))


@dataclass
class BackendStatus:
    backend: Backend
    probe: Probe


class PowerChoiceError(ValueError):
    pass


class SensorSet:
    """The detected backends and the chosen power source."""

    def __init__(self, ctx: SensorContext, power_source: str = "auto") -> None:
        self.ctx = ctx
        self.statuses: list[BackendStatus] = []
        for cls in backend_classes():
            try:
                backend = cls(ctx)
                probe = backend.probe()
            except Exception as exc:  # a broken backend must not stop the others
                backend, probe = None, Probe(False, f"probe failed: {exc}")
            if backend is not None:
                self.statuses.append(BackendStatus(backend, probe))
        self.active = [s.backend for s in self.statuses if s.probe.detected]
        self.power_backend, self._no_power = self._choose_power(power_source)
        self.power_reason = self._no_power.label if self.power_backend is None else ""

    def _choose_power(self, wanted: str) -> tuple[Backend | None, PowerSource]:
        """The power backend, or None and a PowerSource that says why there is none."""
        candidates = [b for b in self.active if b.power_priority is not None]
        if wanted == "auto":  # a meter the profile names is used or refused, never silently replaced
            wanted = next((s.backend.name for s in self.statuses if getattr(s.backend, "configured", False)), "auto")
        if wanted != "auto":
            for s in self.statuses:
                if s.backend.name == wanted:
                    if not s.probe.detected:
                        raise PowerChoiceError(f'power source "{wanted}" is not available here: {s.probe.reason}')
                    if s.backend.power_priority is None:
                        raise PowerChoiceError(f'"{wanted}" does not measure power')
                    return s.backend, PowerSource()
            names = [s.backend.name for s in self.statuses if s.backend.power_priority is not None]
            raise PowerChoiceError(f'unknown power source "{wanted}"; known: {", ".join(names)}')
        if candidates:
            # Try the best first; a backend whose reads give no total yet falls through.
            for b in sorted(candidates, key=lambda b: -(b.power_priority or 0)):
                if b.total_power(b.read()) is not None:
                    return b, PowerSource()
        notes = [f"{s.backend.name}: {s.backend.power_note}" for s in self.statuses  # e.g. a board with none
                 if s.probe.detected and s.backend.power_note]
        reasons = [f"{s.backend.name}: {s.probe.reason}" for s in self.statuses
                   if s.backend.power_priority is not None]
        return None, PowerSource(reasons=tuple(notes + reasons))

    def read_all(self) -> list[Reading]:
        out: list[Reading] = []
        for b in self.active:
            try:
                out.extend(b.read())
            except Exception:  # a flaky sensor costs its readings, never the run
                continue
        return out

    def power_of(self, readings: list[Reading]) -> Reading | None:
        if self.power_backend is None:
            return None
        own = [r for r in readings if r.backend == self.power_backend.name]
        return self.power_backend.total_power(own)

    def power_source(self) -> PowerSource:
        """The backend and what its total covers, or why there is none."""
        if self.power_backend is None:
            return self._no_power
        total = self.power_of(self.power_backend.read())
        if total is None:
            return PowerSource(backend=self.power_backend.name)
        return PowerSource(backend=self.power_backend.name, name=total.name, scope=total.scope, method=total.method)

    @property
    def power_source_label(self) -> str:
        """What goes into results' power_source: the backend and what its total covers, or why none."""
        return self.power_source().label

    def close(self) -> None:
        for b in self.active:
            b.close()

    def describe(self) -> list[dict]:
        """For `edgetui sensors`: every backend, detected or not and why, with its readings."""
        out = []
        for s in self.statuses:
            readings = []
            if s.probe.detected:
                try:
                    readings = [r.to_dict() for r in s.backend.read()]
                except Exception as exc:
                    readings = []
                    s = BackendStatus(s.backend, Probe(True, f"{s.probe.reason}; read failed: {exc}"))
            out.append({
                "backend": s.backend.name,
                "detected": s.probe.detected,
                "reason": s.probe.reason,
                "power_source": s.backend is self.power_backend,
                "readings": readings,
            })
        return out


__all__ = ["Backend", "Probe", "Reading", "SensorContext", "SensorSet", "make_context", "backend_classes"]
