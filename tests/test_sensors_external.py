"""External meter: a CSV log read as it grows and aligned with this machine's clock, or a fixed
wattage; it wins the automatic choice when a profile names it, and is refused, not replaced, when
it cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.errors import UserError
from edgetui.profiles.schema import load_profile
from edgetui.sensors import PowerChoiceError, SensorSet
from edgetui.sensors.external import ExternalMeter, MeterLog, parse_timestamp

from fixtures.sensor_helpers import FIXTURES, by_name, context, copy_fixture

T0 = 1_750_000_000.0  # an epoch second


def meter(tmp_path: Path, text: str, offset_s: float = 0.0) -> tuple[ExternalMeter, list[float]]:
    log = tmp_path / "meter.csv"
    log.write_text(text)
    backend = ExternalMeter(context(tmp_path, options={"power": {"meter_csv": str(log), "meter_offset_s": offset_s}}))
    now = [T0]
    backend.clock = lambda: now[0]
    return backend, now


def watts(backend: ExternalMeter) -> float | None:
    total = backend.total_power(backend.read())
    return None if total is None else total.value


def test_power_is_interpolated_between_rows_held_briefly_then_dropped(tmp_path):
    backend, now = meter(tmp_path, f"timestamp,watts\n{T0},4.0\n{T0 + 1},6.0\n{T0 + 2},5.0\n")
    assert backend.probe().detected
    now[0] = T0 - 0.1
    assert watts(backend) is None  # before the first row
    now[0] = T0 + 0.5
    assert watts(backend) == pytest.approx(5.0)  # halfway from 4 W to 6 W
    now[0] = T0 + 1.75
    assert watts(backend) == pytest.approx(5.25)  # 6 + (5 - 6) * 0.75
    now[0] = T0 + 3.9
    assert watts(backend) == 5.0  # the newest row, 1.9 s old, held
    now[0] = T0 + 4.5
    assert watts(backend) is None  # 2.5 s old: no guess
    now[0] = T0 + 0.5
    reading = by_name(backend.read(), "power")["meter"]
    assert (reading.method, reading.scope, reading.unit, reading.value) == ("external", "board", "W", pytest.approx(5.0))


def test_the_offset_aligns_a_meter_clock_that_runs_behind(tmp_path):
    backend, now = meter(tmp_path, f"timestamp,watts\n{T0},4.0\n{T0 + 1},6.0\n", offset_s=3.0)
    backend.probe()
    now[0] = T0 + 3.5  # this machine's clock; the meter's reads T0 + 0.5
    assert watts(backend) == pytest.approx(5.0)


def test_volts_and_amps_columns_of_a_usb_meter_logger(tmp_path):
    header = "timestamp sample_in_packet voltage_V current_A dp_V dn_V temp_C_ema energy_Ws capacity_As"
    rows = [f"{T0 + 0.01 * i:.2f} {i} 5.100 0.800 0.600 0.600 25.0 0.0 0.0" for i in range(4)]
    backend, now = meter(tmp_path, header + "\n" + "\n".join(rows) + "\n")
    probe = backend.probe()
    assert probe.detected and "volts x amps" in probe.reason
    now[0] = T0 + 0.015
    readings = backend.read()
    assert backend.total_power(readings).value == pytest.approx(5.1 * 0.8)  # 4.08 W, voltage_V not dp_V
    assert by_name(readings, "voltage")["meter"].value == pytest.approx(5.1)
    assert by_name(readings, "current")["meter"].value == pytest.approx(0.8)


def test_iso_dates_semicolons_and_decimal_commas(tmp_path):
    backend, now = meter(tmp_path, "Time;Power(W)\n2025-06-15T12:00:00+00:00;5,0\n2025-06-15T12:00:02+00:00;7,0\n")
    assert backend.probe().detected
    now[0] = parse_timestamp("2025-06-15T12:00:01+00:00")
    assert watts(backend) == pytest.approx(6.0)


def test_rows_appended_while_running_are_picked_up_once_their_line_ends(tmp_path):
    backend, now = meter(tmp_path, f"timestamp,watts\n{T0},4.0\n")
    backend.probe()
    log = tmp_path / "meter.csv"
    with log.open("a") as f:
        f.write(f"{T0 + 1},8.0\n{T0 + 2},9.")  # the last row is still being written
    now[0] = T0 + 2.0
    assert watts(backend) == 8.0  # held from T0 + 1; the half-written row is not read
    with log.open("a") as f:
        f.write("0\n")
    assert watts(backend) == 9.0


@pytest.mark.parametrize("text, why", [
    ("t,watts\n0.0,4.0\n0.1,4.2\n", "timestamps look relative"),
    ("when,what\n1,2\n", "no timestamp column"),
    ("timestamp,volts\n1750000000,5.0\n", "no watts column, nor volts and amps"),
    ("1750000000,5.1,0.8,0.6\n", "4 columns and no header"),
])
def test_logs_that_cannot_be_aligned_or_read_are_refused_with_the_reason(tmp_path, text, why):
    backend, _ = meter(tmp_path, text)
    probe = backend.probe()
    assert not probe.detected and why in probe.reason


def test_a_configured_meter_is_used_or_refused_never_silently_replaced(tmp_path):
    nano = copy_fixture(tmp_path, "jetson-orin-nano")
    log = tmp_path / "meter.csv"
    log.write_text(f"timestamp,watts\n{T0},9.0\n")
    options = {"power": {"meter_csv": str(log)}}
    sensors = SensorSet(context(nano, nano / "bin", options=options))
    assert sensors.power_backend.name == "external"  # over the board's own VDD_IN
    missing = {"power": {"meter_csv": str(tmp_path / "nope.csv")}}
    with pytest.raises(PowerChoiceError,
                       match=r"power source \"external\" is not available here: meter log .*nope.csv not found"):
        SensorSet(context(nano, nano / "bin", options=missing))


def test_a_fixed_wattage_typed_in_is_external(tmp_path):
    x86 = copy_fixture(tmp_path, "x86-rapl")
    sensors = SensorSet(context(x86, options={"power": {"meter_watts": 5.5}}))
    assert sensors.power_backend.name == "external"
    assert sensors.power_source_label == "external:typed_in (board, external)"
    total = sensors.power_of(sensors.read_all())
    assert (total.value, total.method) == (5.5, "external")


def test_no_meter_configured_is_a_reason():
    probe = ExternalMeter(context(FIXTURES / "x86-rapl")).probe()
    assert not probe.detected and "no meter configured" in probe.reason


PROFILE = """name = "metered"
[power]
{power}
[[models]]
name = "smollm2-135m-q4_1"
"""


def test_profile_meter_log_path_is_relative_to_the_profile(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub/p.toml"
    path.write_text(PROFILE.format(power='meter_csv = "logs/fnb58.csv"\nmeter_offset_s = -1.5'))
    p = load_profile(path)
    assert p.power.meter_csv == str((tmp_path / "sub/logs/fnb58.csv").resolve())
    assert p.power.meter_offset_s == -1.5


def test_profile_refuses_a_log_and_a_fixed_wattage_together(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.format(power='meter_csv = "a.csv"\nmeter_watts = 4.0'))
    with pytest.raises(UserError, match=r"p.toml:\d+: power.meter_watts: give meter_csv or meter_watts, not both"):
        load_profile(path)


def test_meter_log_keeps_its_memory_bounded(tmp_path):
    rows = "".join(f"{T0 + 0.01 * i:.2f},5.0\n" for i in range(30_000))  # 300 s at 100 Hz
    (tmp_path / "m.csv").write_text("timestamp,watts\n" + rows)
    log = MeterLog(tmp_path / "m.csv")
    log.poll()
    assert log.rows == 30_000
    log.forget_before(T0 + 299.0)
    assert len(log.ts) < 13_000 and log.value_at(log.watts, T0 + 299.0) == 5.0  # 120 s kept
