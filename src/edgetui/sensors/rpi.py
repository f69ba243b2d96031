"""Raspberry Pi: the Pi 5 PMIC rails (`vcgencmd pmic_read_adc`), throttling flags, CPU temperature
when no thermal zone has it, and V3D GPU load.

What the total covers: the PMIC sees the SoC's own rails only, never the 5 V loads (USB, fan,
HATs such as the AI HAT+, NVMe). It is labelled "soc_rails", not board power. A profile may give
a calibration line fitted against a USB meter ([power] calibration_scale and
calibration_offset_w); the result is then an estimated board power, marked "estimated"."""

from __future__ import annotations

import re
from pathlib import Path

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext, read_text
from edgetui.sensors.host import board_model

_PMIC_LINE = re.compile(r"^\s*(?P<rail>\S+?)_(?P<q>[AV])\s+(?:current|volt)\(\d+\)=(?P<v>[-+0-9.eE]+)[AV]\s*$")
# get_throttled bits 0-3 are "now", 16-19 the same "since boot".
THROTTLE_FLAGS = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit"}
THROTTLE_NOW_MASK = 0xF  # under-voltage counts: clocks get capped on it, and a run under it is not representative
V3D_STATS_GLOBS = ("/sys/devices/platform/axi/*.v3d/gpu_stats", "/sys/devices/platform/*/*.v3d/gpu_stats",
                   "/sys/devices/platform/*.v3d/gpu_stats")
THROTTLED_SYSFS_GLOB = "sys/devices/platform/soc*/*firmware*/get_throttled"


def parse_pmic(text: str) -> dict[str, dict[str, float]]:
    """`vcgencmd pmic_read_adc` -> {rail: {"A": amps, "V": volts}} (channels come out of order)."""
    rails: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _PMIC_LINE.match(line)
        if m:
            rails.setdefault(m.group("rail"), {})[m.group("q")] = float(m.group("v"))
    return rails


def rail_watts(rails: dict[str, dict[str, float]]) -> dict[str, float]:
    """V x I for every rail that has both (EXT5V and BATT are voltage only)."""
    return {name: q["V"] * q["A"] for name, q in rails.items() if "V" in q and "A" in q}


def throttle_flags(bits: int, shift: int = 0) -> list[str]:
    return [label for bit, label in THROTTLE_FLAGS.items() if bits >> (bit + shift) & 1]


def parse_v3d_stats(text: str) -> dict[str, tuple[int, int]] | None:
    """gpu_stats -> {queue: (timestamp_ns, runtime_ns)}; None when it is not that table."""
    lines = text.strip().splitlines()
    if not lines or lines[0].split() != ["queue", "timestamp", "jobs", "runtime"]:
        return None
    out = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
            out[parts[0]] = (int(parts[1]), int(parts[3]))
    return out or None


class RaspberryPi(Backend):
    name = "rpi"
    power_priority = 30

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        power = ctx.options.get("power") or {}
        self.scale = power.get("calibration_scale")
        self.offset = power.get("calibration_offset_w") or 0.0
        self._pmic_ok = False
        self._throttle_file: Path | None = None
        self._v3d_file: Path | None = None
        self._v3d_last: dict[str, tuple[int, int]] | None = None
        self._cpu_zone = False

    def probe(self) -> Probe:
        model = board_model(self.ctx.root) or ""
        has_vcgencmd = self.ctx.which("vcgencmd") is not None
        if "raspberry pi" not in model.lower() and not has_vcgencmd:
            return Probe(False, f"not a Raspberry Pi (board model: {model or 'unknown'}; no vcgencmd on PATH)")
        found = sorted(self.ctx.root.glob(THROTTLED_SYSFS_GLOB))
        self._throttle_file = found[0] if found else None
        self._v3d_file = next((f for g in V3D_STATS_GLOBS for f in sorted(self.ctx.root.glob(g.lstrip("/")))), None)
        zones = sorted(self.ctx.p("/sys/class/thermal").glob("thermal_zone*/type"))
        self._cpu_zone = any(read_text(z) == "cpu-thermal" for z in zones)
        parts = [model or "Raspberry Pi"]
        if not has_vcgencmd:
            parts.append("vcgencmd not found on PATH: no PMIC power")
        else:
            code, out = self.ctx.run("vcgencmd", "pmic_read_adc")
            rails = rail_watts(parse_pmic(out)) if code == 0 else {}
            self._pmic_ok = bool(rails)
            if self._pmic_ok:
                parts.append(f"PMIC: {len(rails)} rails summed as SoC rails (not board power: misses USB, fan, HATs)")
                if self.scale is not None:
                    parts.append(f"board power estimated as {self.scale:g} x SoC rails + {self.offset:g} W "
                                 "(calibration from the profile)")
            elif "not registered" in out.lower() or "error" in out.lower():
                parts.append("vcgencmd pmic_read_adc not supported (Raspberry Pi 5 only): no power")
            else:
                parts.append(f"vcgencmd pmic_read_adc gave no rails (exit {code}): no power")
        if self._throttle_file or has_vcgencmd:
            parts.append("throttling flags")
        if self._v3d_file:
            parts.append("V3D GPU load")
        return Probe(True, "; ".join(parts))

    # ------------------------------------------------------------- pieces
    def _pmic(self) -> list[Reading]:
        if not self._pmic_ok:
            return []
        code, out = self.ctx.run("vcgencmd", "pmic_read_adc")
        if code != 0:
            return []
        rails = parse_pmic(out)
        watts = rail_watts(rails)
        if not watts:
            return []
        readings = [self.reading(name, "power", w, "rail") for name, w in sorted(watts.items())]
        if "V" in rails.get("EXT5V", {}):
            readings.append(self.reading("EXT5V", "voltage", rails["EXT5V"]["V"], "board"))
        soc = sum(watts.values())
        readings.append(self.reading("soc_rails", "power", soc, "soc_rails"))
        if self.scale is not None:
            readings.append(self.reading("board_estimate", "power", self.scale * soc + self.offset, "board", "estimated"))
        return readings

    def _throttled_bits(self) -> int | None:
        if self._throttle_file is not None:
            text = read_text(self._throttle_file)  # hex without 0x, e.g. 50005
            try:
                return int(text, 16) if text else None
            except ValueError:
                return None
        code, out = self.ctx.run("vcgencmd", "get_throttled")
        m = re.search(r"throttled=(0x[0-9a-fA-F]+)", out) if code == 0 else None
        return int(m.group(1), 16) if m else None

    def _throttle(self) -> list[Reading]:
        bits = self._throttled_bits()
        if bits is None:
            return []
        since = throttle_flags(bits, 16)
        return [
            self.reading("throttled_now", "throttle", bits & THROTTLE_NOW_MASK, "board"),
            self.reading("throttled_since_boot", "info", ", ".join(since) or "none", "board"),
        ]

    def _cpu_temp(self) -> list[Reading]:
        if self._cpu_zone or self.ctx.which("vcgencmd") is None:  # the thermal backend has it already
            return []
        code, out = self.ctx.run("vcgencmd", "measure_temp")
        m = re.search(r"temp=([-0-9.]+)'C", out) if code == 0 else None
        return [self.reading("cpu", "temperature", float(m.group(1)), "chip")] if m else []

    def _v3d(self) -> list[Reading]:
        """Busy share of the busiest V3D queue between two reads (the runtimes are cumulative ns)."""
        if self._v3d_file is None:
            return []
        now = parse_v3d_stats(read_text(self._v3d_file) or "")
        last, self._v3d_last = self._v3d_last, now
        if not now or not last:
            return []
        shares = []
        for queue, (ts, runtime) in now.items():
            if queue in last and ts > last[queue][0]:
                shares.append((runtime - last[queue][1]) / (ts - last[queue][0]))
        if not shares:
            return []
        return [self.reading("v3d", "load", max(0.0, min(1.0, max(shares))) * 100.0, "chip")]

    def read(self) -> list[Reading]:
        return self._pmic() + self._throttle() + self._cpu_temp() + self._v3d()

    def total_power(self, readings: list[Reading]) -> Reading | None:
        estimate = next((r for r in readings if r.name == "board_estimate"), None)
        return estimate or next((r for r in readings if r.name == "soc_rails"), None)
