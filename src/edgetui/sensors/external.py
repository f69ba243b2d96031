"""An external power meter named by the profile: a CSV log (timestamp and watts, or timestamp,
volts and amps) read as it grows and aligned with this machine's clock, or a fixed wattage typed
in. Readings are marked "external": edgetui did not measure them.

Alignment: a meter row's timestamp plus [power] meter_offset_s is taken as this machine's wall
clock (time.time()). Timestamps must be epoch seconds or ISO 8601 dates (naive dates are local
time). Between rows the power is interpolated; past the newest row it is held for at most
STALE_S (a live log always lags a little), after that there is no reading rather than a guess."""

from __future__ import annotations

import time
from bisect import bisect_right
from datetime import datetime
from pathlib import Path

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext

STALE_S = 2.0  # longest hold of the newest meter row (UM25C-style meters log at 1-2 Hz)
MAX_GAP_S = 5.0  # no interpolation across a longer hole in the log
KEEP_S = 120.0  # rows older than this behind the clock are dropped (memory stays bounded)
EPOCH_MIN = 1e8  # smaller "timestamps" are seconds since the meter started, which cannot be aligned

_TIME = ("timestamp", "time", "date", "epoch", "t", "ts")
_WATTS = ("power", "watt", "watts", "w", "p")
_VOLTS = ("voltage", "volt", "volts", "v", "u", "vbus")
_AMPS = ("current", "amp", "amps", "a", "i", "ibus")


def parse_timestamp(text: str) -> float | None:
    text = text.strip().strip('"')
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()  # naive = local time
    except ValueError:
        return None


def _words(header: str) -> list[str]:
    """"Voltage(V)" -> ["voltage", "v"], "current_A" -> ["current", "a"]."""
    for ch in "()[]_-/ .":
        header = header.replace(ch, " ")
    return header.lower().split()


def _pick(headers: list[str], names: tuple[str, ...]) -> int | None:
    """The first column whose leading word names the quantity (so "dp_V" is not taken for volts
    when "voltage_V" is there), else the first whose unit suffix does."""
    words = [_words(h) for h in headers]
    for i, w in enumerate(words):
        if w and any(w[0].startswith(n) if len(n) > 2 else w[0] == n for n in names):
            return i
    for i, w in enumerate(words):
        if len(w) > 1 and w[-1] in names and len(w[-1]) == 1:
            return i
    return None


class MeterLog:
    """A meter's CSV log, read incrementally as the meter's logger appends to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self.columns: dict[str, int] = {}
        self.delimiter: str | None = None
        self.ts: list[float] = []
        self.watts: list[float] = []
        self.volts: list[float | None] = []
        self.amps: list[float | None] = []
        self.rows = 0
        self.bad_rows = 0
        self._pos = 0
        self._partial = ""

    # ------------------------------------------------------------- format
    def _split(self, line: str) -> list[str]:
        if self.delimiter is None:
            self.delimiter = next((d for d in (",", ";", "\t") if d in line), " ")
        fields = line.split() if self.delimiter == " " else line.split(self.delimiter)
        return [f.strip() for f in fields]

    def _number(self, text: str) -> float:
        if self.delimiter != ",":
            text = text.replace(",", ".")  # decimal commas in ;-separated exports
        return float(text.strip().strip('"'))

    def _set_columns(self, fields: list[str]) -> bool:
        if parse_timestamp(fields[0]) is not None:  # no header: position says what a column is
            if len(fields) == 2:
                self.columns = {"time": 0, "watts": 1}
            elif len(fields) == 3:
                self.columns = {"time": 0, "volts": 1, "amps": 2}
            else:
                self.error = (f"{len(fields)} columns and no header: add a header naming timestamp and watts "
                              "(or volts and amps)")
                return False
            return True
        t, w, v, a = (_pick(fields, names) for names in (_TIME, _WATTS, _VOLTS, _AMPS))
        if t is None:
            self.error = f"no timestamp column in the header {fields}"
            return False
        if w is None and (v is None or a is None):
            self.error = f"no watts column, nor volts and amps columns, in the header {fields}"
            return False
        self.columns = {"time": t, **({"watts": w} if w is not None else {}),
                        **({"volts": v} if v is not None else {}), **({"amps": a} if a is not None else {})}
        return False  # the header line is not a row

    def _add(self, fields: list[str]) -> None:
        c = self.columns
        try:
            t = parse_timestamp(fields[c["time"]])
            volts = self._number(fields[c["volts"]]) if "volts" in c else None
            amps = self._number(fields[c["amps"]]) if "amps" in c else None
            watts = (self._number(fields[c["watts"]]) if "watts" in c
                     else self._number(fields[c["volts"]]) * self._number(fields[c["amps"]]))
        except (IndexError, ValueError, TypeError):
            self.bad_rows += 1
            return
        if t is None:
            self.bad_rows += 1
            return
        if not self.ts and t < EPOCH_MIN:
            self.error = (f"timestamps look relative (first is {t:g}); the log needs epoch seconds or "
                          "ISO 8601 dates to be aligned with the run")
            return
        if self.ts and t <= self.ts[-1]:  # out of order or repeated: keep the trace monotonic
            self.bad_rows += 1
            return
        self.ts.append(t)
        self.watts.append(watts)
        self.volts.append(volts)
        self.amps.append(amps)
        self.rows += 1

    # ------------------------------------------------------------- reading
    def poll(self) -> None:
        """Take in the rows appended since the last poll (a line counts once it ends)."""
        if self.error:
            return
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as f:
                f.seek(self._pos)
                chunk = f.read()
                self._pos = f.tell()
        except OSError as exc:
            self.error = f"cannot read: {exc.strerror or exc}"
            return
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = self._split(line)
            if not self.columns:
                if not self._set_columns(fields):
                    if self.error:
                        return
                    continue
            self._add(fields)
            if self.error:
                return

    def value_at(self, series: list, at: float) -> float | None:
        i = bisect_right(self.ts, at)
        if i == 0:
            return None  # before the first row
        if i == len(self.ts):
            return series[-1] if at - self.ts[-1] <= STALE_S else None
        t0, t1, v0, v1 = self.ts[i - 1], self.ts[i], series[i - 1], series[i]
        if v0 is None or v1 is None or t1 - t0 > MAX_GAP_S:
            return None
        return v0 + (v1 - v0) * (at - t0) / (t1 - t0)

    def forget_before(self, at: float) -> None:
        cut = bisect_right(self.ts, at - KEEP_S)
        if cut > 1000:  # trim in blocks, not per sample
            for series in (self.ts, self.watts, self.volts, self.amps):
                del series[:cut]

    def describe(self) -> str:
        if "watts" in self.columns:
            what = "watts column"
        elif "volts" in self.columns:
            what = "volts x amps"
        else:
            what = "no header yet"
        return f"{self.rows} rows so far ({what})"


class ExternalMeter(Backend):
    name = "external"
    power_priority = 100  # a meter the user set up beats every on-board sensor

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        power = ctx.options.get("power") or {}
        self.csv: str | None = power.get("meter_csv")
        self.fixed_w: float | None = power.get("meter_watts")
        self.offset_s: float = power.get("meter_offset_s") or 0.0
        self.log: MeterLog | None = None
        self.clock = time.time  # the sampler's "wall" clock

    @property
    def configured(self) -> bool:
        """A profile that names a meter gets it or a refusal, never a silent fallback."""
        return bool(self.csv) or self.fixed_w is not None

    def probe(self) -> Probe:
        if not self.configured:
            return Probe(False, "no meter configured (profile [power] meter_csv or meter_watts)")
        if self.fixed_w is not None:
            return Probe(True, f"fixed wattage typed in the profile: {self.fixed_w:g} W (external, not measured)")
        if not self.csv:  # configured means a csv or a fixed wattage
            return Probe(False, "no meter configured (profile [power] meter_csv or meter_watts)")
        path = Path(self.csv).expanduser()
        if not path.is_file():
            return Probe(False, f"meter log {path} not found (start the meter's logger before the run)")
        self.log = MeterLog(path)
        self.log.poll()
        if self.log.error:
            return Probe(False, f"meter log {path}: {self.log.error}")
        return Probe(True, f"meter log {path}: {self.log.describe()}; meter time + {self.offset_s:g} s = "
                           "this machine's clock; whatever the meter is wired to (external)")

    def read(self) -> list[Reading]:
        if self.fixed_w is not None:
            return [self.reading("typed_in", "power", float(self.fixed_w), "board", "external")]
        if self.log is None:
            return []
        self.log.poll()
        at = self.clock() - self.offset_s  # now, on the meter's clock
        out = []
        watts = self.log.value_at(self.log.watts, at)
        if watts is not None:
            out.append(self.reading("meter", "power", watts, "board", "external"))
            volts = self.log.value_at(self.log.volts, at)
            amps = self.log.value_at(self.log.amps, at)
            if volts is not None:
                out.append(self.reading("meter", "voltage", volts, "board", "external"))
            if amps is not None:
                out.append(self.reading("meter", "current", amps, "board", "external"))
        self.log.forget_before(at)
        return out

    def total_power(self, readings: list[Reading]) -> Reading | None:
        return next((r for r in readings if r.kind == "power"), None)
