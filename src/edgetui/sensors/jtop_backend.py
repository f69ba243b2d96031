"""NVIDIA Jetson through jtop (jetson-stats, the optional `jetson` extra), when its service answers.

jtop updates at 2 Hz at best and its `avg` is not a time average, so the sysfs backend (read at
the sampler's rate, energy integrated here) is preferred for the total; jtop covers boards whose
rails the sysfs backend cannot find, and adds its own view of temperatures and GPU load."""

from __future__ import annotations

from typing import Any

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext

JTOP_INTERVAL_S = 0.5  # shorter intervals are unstable in jtop


class Jtop(Backend):
    name = "jtop"
    power_priority = 25

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        self._jetson: Any = None  # the jtop client once probed

    def probe(self) -> Probe:
        try:
            from jtop import JtopException, jtop
        except ImportError:
            return Probe(False, "jetson-stats not installed (pip install 'edgetui[jetson]')")
        try:
            jetson = jtop(interval=JTOP_INTERVAL_S)
            jetson.start()
        except JtopException as exc:
            msg = " ".join(str(exc).split())
            if "not active" in msg:
                return Probe(False, f"jtop service not active ({msg})")
            return Probe(False, f"jtop did not answer: {msg}")
        except Exception as exc:  # socket errors and the like when no service runs
            return Probe(False, f"jtop service not active ({exc})")
        self._jetson = jetson
        total = (self._power().get("tot") or {}).get("name")
        covers = f"total = {total} (module input)" if total else "total = sum of rails (module-only)"
        return Probe(True, f"jtop service answers (updates every {JTOP_INTERVAL_S:g} s); {covers}")

    def _power(self) -> dict:
        try:
            return self._jetson.power or {}
        except Exception:
            return {}

    def power_mode(self) -> str | None:
        nvp = getattr(self._jetson, "nvpmodel", None) if self._jetson is not None else None
        if nvp is None:
            return None
        return str(getattr(nvp, "name", nvp))

    def read(self) -> list[Reading]:
        if self._jetson is None or not self._jetson.is_alive():
            return []
        out: list[Reading] = []
        power = self._power()
        for rail, values in sorted((power.get("rail") or {}).items()):
            if values.get("online", True) and isinstance(values.get("power"), (int, float)):
                out.append(self.reading(rail, "power", values["power"] / 1000.0, "rail"))
        tot = power.get("tot") or {}
        if isinstance(tot.get("power"), (int, float)):
            out.append(self.reading(tot.get("name") or "rails_sum", "power", tot["power"] / 1000.0, "module"))
        try:
            stats = self._jetson.stats or {}
        except Exception:
            stats = {}
        for key, value in sorted(stats.items()):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if key.startswith("Temp ") and -100.0 < value < 200.0:  # offline zones read -256
                out.append(self.reading(key[5:], "temperature", float(value), "zone"))
            elif key == "GPU":
                out.append(self.reading("gpu", "load", float(value), "chip"))
        mode = self.power_mode()
        if mode:
            out.append(self.reading("power_mode", "info", mode, "board"))
        return out

    def total_power(self, readings: list[Reading]) -> Reading | None:
        return next((r for r in readings if r.kind == "power" and r.scope == "module"), None)

    def close(self) -> None:
        if self._jetson is not None:
            try:
                self._jetson.close()
            except Exception:
                pass
        self._jetson = None
