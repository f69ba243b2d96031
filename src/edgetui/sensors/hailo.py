"""Hailo accelerators (AI HAT+, Hailo-8/8L/10H): identified with `hailortcli fw-control identify`,
chip power from `hailortcli measure-power` where the board supports it, chip temperature through
HailoRT's Python API where it is installed.

What it covers: the accelerator chip alone. A Pi 5's PMIC sum does not see this draw."""

from __future__ import annotations

import re
import time

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext

POLL_S = 1.0  # each measure-power starts a process and a firmware control: keep it to 1 Hz
_POWER = re.compile(r"Current power consumption \(W\):\s*([-+0-9.eE]+)")


def parse_identify(text: str) -> dict[str, str]:
    """`hailortcli fw-control identify` -> {"Device Architecture": "HAILO10H", ...}."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            out[key.strip()] = value.strip()
    return out


def parse_power(text: str) -> float | None:
    m = _POWER.search(text)
    return float(m.group(1)) if m else None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


class Hailo(Backend):
    name = "hailo"
    power_priority = None  # the chip alone never stands for a board's power

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        self.architecture: str | None = None
        self._power_ok = False
        self._device = None  # hailo_platform.Device, for the chip temperature
        self._last_poll: float | None = None
        self._cached: list[Reading] = []
        self.clock = time.monotonic

    def probe(self) -> Probe:
        if self.ctx.which("hailortcli") is None:
            return Probe(False, "hailortcli not found on PATH (HailoRT not installed)")
        code, out = self.ctx.run("hailortcli", "fw-control", "identify")
        info = parse_identify(out) if code == 0 else {}
        self.architecture = info.get("Device Architecture")
        if not self.architecture:
            return Probe(False, f"no Hailo device answered `hailortcli fw-control identify`: {_last_line(out)}")
        parts = [f"{self.architecture} ({info.get('Product Name') or info.get('Board Name') or 'Hailo'}, "
                 f"firmware {info.get('Firmware Version', '?')})"]
        code, out = self.ctx.run("hailortcli", "measure-power")
        self._power_ok = code == 0 and parse_power(out) is not None
        parts.append("chip power (not in the Pi 5 PMIC sum), polled every 1 s" if self._power_ok
                     else f"measure-power not supported here: {_last_line(out)}")
        parts.append(self._open_temperature())
        return Probe(True, "; ".join(parts))

    def _open_temperature(self) -> str:
        try:
            from hailo_platform import Device  # HailoRT's Python binding, installed with HailoRT, not from PyPI
        except ImportError:
            return "chip temperature not readable (HailoRT Python API hailo_platform not installed)"
        try:
            ids = Device.scan()
            self._device = Device(ids[0]) if ids else None
            if self._device is None:
                return "chip temperature not readable (Device.scan() found no device)"
            self._device.control.get_chip_temperature()
        except Exception as exc:  # the device may be held by an inference server
            self._device = None
            return f"chip temperature not readable ({exc})"
        return "chip temperature"

    def read(self) -> list[Reading]:
        now = self.clock()
        if self._last_poll is not None and now - self._last_poll < POLL_S:
            return list(self._cached)
        self._last_poll = now
        out: list[Reading] = []
        if self._power_ok:
            code, text = self.ctx.run("hailortcli", "measure-power")
            watts = parse_power(text) if code == 0 else None
            if watts is not None:
                out.append(self.reading("chip", "power", watts, "chip"))
        if self._device is not None:
            try:
                t = self._device.control.get_chip_temperature()
                out.append(self.reading("chip", "temperature", (t.ts0_temperature + t.ts1_temperature) / 2.0, "chip"))
            except Exception:
                pass
        self._cached = out
        return list(out)

    def close(self) -> None:
        release = getattr(self._device, "release", None)
        if callable(release):
            try:
                release()
            except Exception:
                pass
        self._device = None
