"""Sensors every Linux board has in some form: thermal zones and hwmon chips."""

from __future__ import annotations

from pathlib import Path

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext, read_number, read_text

# Offline zones on Jetson read -256 C; nothing real is below -100 C or above 200 C.
_PLAUSIBLE_C = (-100.0, 200.0)


class ThermalZones(Backend):
    """/sys/class/thermal/thermal_zone*/{type,temp} in milli-degC."""

    name = "thermal"

    def _zones(self) -> list[Path]:
        base = self.ctx.p("/sys/class/thermal")
        return sorted(base.glob("thermal_zone*"), key=lambda p: int(p.name[12:] or 0)) if base.is_dir() else []

    def probe(self) -> Probe:
        zones = self._zones()
        if not zones:
            return Probe(False, "no /sys/class/thermal/thermal_zone* here")
        return Probe(True, f"{len(zones)} thermal zones")

    def read(self) -> list[Reading]:
        out = []
        for zone in self._zones():
            milli = read_number(zone / "temp")
            if milli is None:
                continue
            c = milli / 1000.0
            if not _PLAUSIBLE_C[0] < c < _PLAUSIBLE_C[1]:
                continue
            label = read_text(zone / "type") or zone.name
            out.append(self.reading(label, "temperature", c, "zone"))
        return out


class Hwmon(Backend):
    """hwmon chips, matched by `name` (hwmon numbers change between boots): temperatures,
    power (uW), energy (uJ), fans. Board-specific chips (ina3221 and the like) have their own
    backends; here is what any driver exposes in the standard layout."""

    name = "hwmon"
    power_priority = 10
    # chips other backends own or that do not measure anything (USB-PD contract)
    SKIP_CHIPS = ("ina3221", "soctherm_oc", "tcpm_source_psy")

    def _chips(self) -> list[tuple[str, Path]]:
        base = self.ctx.p("/sys/class/hwmon")
        if not base.is_dir():
            return []
        chips = []
        for d in sorted(base.glob("hwmon*")):
            chip = read_text(d / "name") or d.name
            if not chip.startswith(self.SKIP_CHIPS):
                chips.append((chip, d))
        return chips

    def probe(self) -> Probe:
        chips = self._chips()
        if not chips:
            return Probe(False, "no hwmon chips under /sys/class/hwmon")
        return Probe(True, "chips: " + ", ".join(c for c, _ in chips))

    def read(self) -> list[Reading]:
        out = []
        for chip, d in self._chips():
            for f in sorted(d.glob("*_input")) + sorted(d.glob("power*_average")):
                stem = f.name.split("_")[0]
                label = read_text(d / f"{stem}_label") or stem
                value = read_number(f)
                if value is None:
                    continue
                name = f"{chip}/{label}"
                if stem.startswith("temp"):
                    out.append(self.reading(name, "temperature", value / 1000.0, "chip"))
                elif stem.startswith("power") and (f.name.endswith("_input") or not (d / f"{stem}_input").exists()):
                    out.append(self.reading(name, "power", value / 1e6, "chip"))
                elif stem.startswith("energy"):
                    out.append(self.reading(name, "energy", value / 1e6, "chip"))
                elif stem.startswith("fan"):
                    out.append(self.reading(name, "fan", value, "chip"))
        return out

    def total_power(self, readings: list[Reading]) -> Reading | None:
        # One chip's sensor is all we can claim; an energy counter beats a power reading.
        for kind in ("energy", "power"):
            for r in readings:
                if r.kind == kind:
                    return r
        return None


class Rapl(Backend):
    """Intel/AMD RAPL package energy: sum of top-level package-* zones (never psys), wrap-corrected."""

    name = "rapl"
    power_priority = 20

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        self._last: dict[str, float] = {}
        self._total_j: dict[str, float] = {}

    def _zones(self) -> list[Path]:
        base = self.ctx.p("/sys/class/powercap")
        if not base.is_dir():
            return []
        zones = []
        for d in sorted(base.glob("intel-rapl:*")):
            if d.name.count(":") != 1:  # subzones (core, uncore, dram) are inside packages
                continue
            if (read_text(d / "name") or "").startswith("package"):
                zones.append(d)
        return zones

    def probe(self) -> Probe:
        zones = self._zones()
        if not zones:
            return Probe(False, "no RAPL package zones under /sys/class/powercap")
        from edgetui.sensors.base import denied

        if any(denied(z / "energy_uj") for z in zones):
            return Probe(False, "RAPL energy_uj needs root (root-only since Linux 5.10)")
        return Probe(True, f"{len(zones)} RAPL package zone(s)")

    def read(self) -> list[Reading]:
        out = []
        total, complete = 0.0, True
        for z in self._zones():
            uj = read_number(z / "energy_uj")
            if uj is None:
                complete = False
                continue
            key = z.name
            prev = self._last.get(key)
            if prev is None:
                self._total_j[key] = 0.0
            else:
                delta = uj - prev
                if delta < 0:  # the counter wrapped
                    delta += read_number(z / "max_energy_range_uj") or 0.0
                self._total_j[key] += delta / 1e6
            self._last[key] = uj
            zone_name = read_text(z / "name") or key
            out.append(self.reading(zone_name, "energy", self._total_j[key], "package"))
            total += self._total_j[key]
        if out and complete:
            out.append(self.reading("packages", "energy", total, "package"))
        return out

    def total_power(self, readings: list[Reading]) -> Reading | None:
        return next((r for r in readings if r.name == "packages"), None)
