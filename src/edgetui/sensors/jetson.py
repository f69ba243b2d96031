"""NVIDIA Jetson through sysfs: INA3221 power rails, GPU load and clock, soctherm over-current
throttle counters, and the nvpmodel power mode.

What the total covers: `VDD_IN` (Orin Nano/NX) or `POM_5V_IN` (older modules) is the module's
input; the AGX Orin has neither, so its total is the sum of its rails, the module alone. Neither
includes the carrier board, fan or USB loads."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext, read_number, read_text
from edgetui.sensors.host import board_model
from edgetui.sensors.sysfs import hwmon_named

# JetPack 5+ binds "ina3221" (hwmon); JetPack 4 binds "ina3221x" (iio, rail_name_N + in_power N_input mW).
INA_DRIVERS = ("/sys/bus/i2c/drivers/ina3221", "/sys/bus/i2c/drivers/ina3221x")
TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
INA_CHANNELS = (1, 2, 3)  # the chip has three; in7/curr4 are the summation channel, never a rail
GPU_LOAD_FILES = (
    "/sys/devices/platform/bus@0/17000000.gpu/load",  # JetPack 6
    "/sys/devices/platform/17000000.ga10b/load",  # JetPack 5
    "/sys/devices/platform/17000000.gv11b/load",  # Xavier
    "/sys/devices/platform/gpu.0/load",
    "/sys/devices/gpu.0/load",  # Nano, TX
)
GPU_DEVFREQ_GLOBS = ("17000000.*", "57000000.gpu", "gpu.0")
NVPMODEL_REFRESH_S = 10.0  # a mode changes rarely; the command costs tens of ms
_NC = re.compile(r"(^|_)NC($|_)")


@dataclass(frozen=True)
class Rail:
    label: str
    chip: str  # i2c device, e.g. 1-0040
    millivolts: Path | None = None
    milliamps: Path | None = None
    milliwatts: Path | None = None  # JetPack 4 iio gives power directly

    def watts(self) -> float | None:
        if self.milliwatts is not None:
            mw = read_number(self.milliwatts)
            return None if mw is None else mw / 1000.0
        mv = read_number(self.millivolts) if self.millivolts else None
        ma = read_number(self.milliamps) if self.milliamps else None
        return None if mv is None or ma is None else mv * ma / 1e6


def _hwmon_rails(chip: str, hw: Path) -> list[Rail]:
    rails = []
    for ch in INA_CHANNELS:
        label = read_text(hw / f"in{ch}_label")
        if not label or _NC.search(label):  # unconnected channels are labelled NC
            continue
        if (hw / f"in{ch}_input").exists() and (hw / f"curr{ch}_input").exists():
            rails.append(Rail(label, chip, millivolts=hw / f"in{ch}_input", milliamps=hw / f"curr{ch}_input"))
    return rails


def _iio_rails(chip: str, iio: Path) -> list[Rail]:
    rails = []
    for name_file in sorted(iio.glob("rail_name_*")):
        n = name_file.name.rsplit("_", 1)[1]
        label = read_text(name_file)
        if label and not _NC.search(label) and (iio / f"in_power{n}_input").exists():
            rails.append(Rail(label, chip, milliwatts=iio / f"in_power{n}_input"))
    return rails


def find_rails(ctx: SensorContext) -> list[Rail]:
    """Every labelled INA3221 channel, by i2c address, whichever driver is bound."""
    rails: list[Rail] = []
    seen: set[Path] = set()
    for driver in INA_DRIVERS:
        base = ctx.p(driver)
        if not base.is_dir():
            continue
        for dev in sorted(p for p in base.iterdir() if p.is_dir()):
            for hw in sorted(dev.glob("hwmon/hwmon*")):
                seen.add(hw.resolve())
                rails += _hwmon_rails(dev.name, hw)
            for iio in sorted(dev.glob("iio:device*")):
                rails += _iio_rails(dev.name, iio)
    for hw in hwmon_named(ctx, "ina3221"):  # kernels where the driver folder is absent
        if hw.resolve() not in seen:
            rails += _hwmon_rails(hw.name, hw)
    return rails


def parse_nvpmodel(text: str) -> tuple[str | None, int | None]:
    """`nvpmodel -q` -> ("MAXN_SUPER", 2); warnings before it are ignored."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        m = re.match(r"NV Power Mode:\s*(.+)$", line)
        if m:
            ident = int(lines[i + 1]) if i + 1 < len(lines) and lines[i + 1].isdigit() else None
            return m.group(1).strip(), ident
    return None, None


class JetsonSysfs(Backend):
    name = "jetson"
    power_priority = 30  # read at the sampler's rate; jtop (2 Hz at best) is the fallback

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        self.rails: list[Rail] = []
        self._oc_last: dict[str, float] = {}
        self._oc_since_start: dict[str, float] = {}
        self._mode: str | None = None
        self._mode_id: int | None = None
        self._mode_at: float | None = None
        self._mode_reason = ""
        self.clock = time.monotonic

    # ------------------------------------------------------------- probing
    def _is_jetson(self) -> bool:
        model = (board_model(self.ctx.root) or "").lower()
        return bool(self.rails) or "jetson" in model or self.ctx.p("/etc/nv_tegra_release").exists()

    def probe(self) -> Probe:
        self.rails = find_rails(self.ctx)
        if not self._is_jetson():
            return Probe(False, "not a Jetson (no INA3221 rails under /sys/bus/i2c/drivers/ina3221, "
                                "no /etc/nv_tegra_release)")
        self._refresh_mode(force=True)
        parts = []
        if self.rails:
            labels = [r.label for r in self.rails]
            total = next((t for t in TOTAL_RAILS if t in labels), None)
            covers = (f"total = {total} (module input; carrier board, fan and USB not included)" if total else
                      "total = sum of rails (module-only: no VDD_IN on this module; carrier board not included)")
            parts.append(f"INA3221 rails {', '.join(labels)}; {covers}")
        else:
            parts.append("a Jetson, but no INA3221 rails readable here: no power from this backend")
        if self._gpu_load_file():
            parts.append("GPU load")
        if hwmon_named(self.ctx, "soctherm_oc"):
            parts.append("soctherm over-current counters")
        parts.append(self._mode_reason)
        return Probe(True, "; ".join(p for p in parts if p))

    # ------------------------------------------------------------- power mode
    def _refresh_mode(self, force: bool = False) -> None:
        now = self.clock()
        if not force and self._mode_at is not None and now - self._mode_at < NVPMODEL_REFRESH_S:
            return
        self._mode_at = now
        code, out = self.ctx.run("nvpmodel", "-q")
        if code != 0:
            self._mode_reason = f"power mode unknown (nvpmodel -q: {out.strip().splitlines()[-1] if out.strip() else code})"
            return
        self._mode, self._mode_id = parse_nvpmodel(out)
        self._mode_reason = (f"power mode {self._mode}" + (f" (id {self._mode_id})" if self._mode_id is not None else "")
                             if self._mode else "power mode unknown (nvpmodel -q printed no mode)")

    def power_mode(self) -> str | None:
        return self._mode

    # ------------------------------------------------------------- reading
    def _gpu_load_file(self) -> Path | None:
        return next((self.ctx.p(f) for f in GPU_LOAD_FILES if self.ctx.p(f).is_file()), None)

    def _gpu(self) -> list[Reading]:
        out = []
        load = self._gpu_load_file()
        per_mille = read_number(load) if load else None
        if per_mille is not None:
            out.append(self.reading("gpu", "load", per_mille / 10.0, "chip"))
        devfreq = self.ctx.p("/sys/class/devfreq")
        for pattern in GPU_DEVFREQ_GLOBS:
            hz = next((read_number(f) for f in sorted(devfreq.glob(f"{pattern}/cur_freq"))), None)
            if hz is not None:
                out.append(self.reading("gpu", "frequency", hz, "chip"))
                break
        return out

    def _throttle(self) -> list[Reading]:
        """soctherm over-current event counters are cumulative since boot: report events since this
        backend started (counter) and since the previous read (throttle: non-zero = throttled now)."""
        out = []
        fresh = 0.0
        seen_before = bool(self._oc_last)
        for hw in hwmon_named(self.ctx, "soctherm_oc"):
            for f in sorted(hw.glob("oc*_event_cnt")):
                count = read_number(f)
                if count is None:
                    continue
                key = f.name.removesuffix("_event_cnt")
                last = self._oc_last.get(key)
                step = 0.0 if last is None else (count - last if count >= last else count)  # a reset starts again at 0
                self._oc_last[key] = count
                self._oc_since_start[key] = self._oc_since_start.get(key, 0.0) + step
                fresh += step
                out.append(self.reading(f"{key}_events", "counter", self._oc_since_start[key], "chip"))
        if out and seen_before:
            out.append(self.reading("soctherm_oc", "throttle", fresh, "chip"))
        return out

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        values = [(r, r.watts()) for r in self.rails]
        total_rail = next((r for t in TOTAL_RAILS for r, w in values if r.label == t and w is not None), None)
        for rail, watts in values:
            if watts is None:
                continue
            scope = "module" if rail is total_rail else "rail"
            out.append(self.reading(rail.label, "power", watts, scope))
        if total_rail is None and values and all(w is not None for _, w in values):
            out.append(self.reading("rails_sum", "power", sum(w for _, w in values if w is not None), "module"))
        out += self._gpu()
        out += self._throttle()
        self._refresh_mode()
        if self._mode:
            out.append(self.reading("power_mode", "info", self._mode, "board"))
        return out

    def total_power(self, readings: list[Reading]) -> Reading | None:
        return next((r for r in readings if r.kind == "power" and r.scope == "module"), None)
