"""Rockchip RK3588/RK3588S boards (Orange Pi 5, Rock 5B): NPU load per core (debugfs, root only),
devfreq loads of the NPU, GPU and memory controller. The thermal zones come from the generic
thermal backend.

No power sensor on these boards: the tcpm_source_psy hwmon shows the USB-PD contract, not a
measurement. Energy needs an external meter."""

from __future__ import annotations

import re
from pathlib import Path

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext, read_text
from edgetui.sensors.host import board_model
from edgetui.sensors.sysfs import device_tree_strings, read_with_reason

NPU_LOAD_FILE = "/sys/kernel/debug/rknpu/load"
_NPU_CORE = re.compile(r"Core\s*(\d+)\s*:\s*(\d*)\s*%")  # a zero may print blank
_DEVFREQ_LOAD = re.compile(r"^\s*(\d+)@(\d+)Hz\s*$")


def parse_npu_load(text: str) -> dict[int, float]:
    """`NPU load:  Core0:  5%, Core1:   %, ...` -> {0: 5.0, 1: 0.0, ...}."""
    return {int(core): float(pct or 0) for core, pct in _NPU_CORE.findall(text)}


def parse_devfreq_load(text: str) -> tuple[float, float] | None:
    """devfreq `load` reads `N@FreqHz`, e.g. `7@300000000Hz` -> (7.0 %, 300000000.0 Hz)."""
    m = _DEVFREQ_LOAD.match(text or "")
    return (float(m.group(1)), float(m.group(2))) if m else None


class Rockchip(Backend):
    name = "rk3588"
    power_priority = None
    power_note = ("no power sensor on this board (tcpm_source_psy is the USB-PD contract, not a measurement); "
                  "use an external meter: [power] meter_csv or meter_watts")

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        self._npu_reason: str | None = None

    def _devfreq(self) -> list[Path]:
        base = self.ctx.p("/sys/class/devfreq")
        return sorted(d for d in base.glob("*") if (d / "load").exists()) if base.is_dir() else []

    def probe(self) -> Probe:
        compatible = device_tree_strings(self.ctx, "compatible")
        is_rk3588 = any("rockchip,rk3588" in c for c in compatible) or self.ctx.p("/sys/class/devfreq/fdab0000.npu").is_dir()
        if not is_rk3588:
            return Probe(False, "not an RK3588 board (/proc/device-tree/compatible has no rockchip,rk3588)")
        _, why = read_with_reason(self.ctx.p(NPU_LOAD_FILE))
        if why and "needs root" in why:
            self._npu_reason = "NPU per-core load needs root (debugfs)"
        elif why:
            self._npu_reason = "no NPU per-core load (no rknpu debugfs: debugfs not mounted or no RKNPU driver)"
        parts = [board_model(self.ctx.root) or "RK3588 board"]
        parts.append(self._npu_reason or "NPU per-core load")
        names = [d.name for d in self._devfreq()]
        if names:
            parts.append("devfreq loads: " + ", ".join(names))
        parts.append(self.power_note)
        return Probe(True, "; ".join(parts))

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        text, _ = read_with_reason(self.ctx.p(NPU_LOAD_FILE))
        for core, pct in sorted(parse_npu_load(text or "").items()):
            out.append(self.reading(f"npu_core{core}", "load", pct, "chip"))
        for d in self._devfreq():
            parsed = parse_devfreq_load(read_text(d / "load") or "")
            if parsed is None:
                continue
            unit = d.name.rsplit(".", 1)[-1]  # fdab0000.npu -> npu, dmc -> dmc
            load, hz = parsed
            out.append(self.reading(unit, "load", load, "chip"))
            out.append(self.reading(unit, "frequency", hz, "chip"))
        return out
