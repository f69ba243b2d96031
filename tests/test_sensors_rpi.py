"""Raspberry Pi backend on a Pi 5 fixture tree, with vcgencmd played back by a fake script that
prints the files under recorded/ (tests rewrite them to change the readings)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgetui.sensors import SensorSet
from edgetui.sensors.rpi import RaspberryPi, parse_pmic, parse_v3d_stats, rail_watts

from fixtures.sensor_helpers import FIXTURES, by_name, context, copy_fixture

# V x I per rail of recorded/pmic_read_adc.txt, worked out by hand:
PMIC_RAILS_W = {
    "3V7_WL_SW": 3.70 * 0.0039,  # 0.01443
    "3V3_SYS": 3.30 * 0.05,  # 0.165
    "1V8_SYS": 1.80 * 0.16,  # 0.288
    "DDR_VDD2": 1.10 * 0.02,  # 0.022
    "DDR_VDDQ": 0.60 * 0.0,  # 0
    "1V1_SYS": 1.10 * 0.18,  # 0.198
    "0V8_SW": 0.80 * 0.30,  # 0.24
    "VDD_CORE": 0.88 * 2.50,  # 2.2
    "3V3_DAC": 3.30 * 0.0005,  # 0.00165
    "3V3_ADC": 3.30 * 0.0004,  # 0.00132
    "0V8_AON": 0.80 * 0.0004,  # 0.00032
    "HDMI": 5.15 * 0.02,  # 0.103
}
SOC_RAILS_W = 3.23372  # the sum of the above


@pytest.fixture
def pi5(tmp_path) -> Path:
    return copy_fixture(tmp_path, "rpi5")


def test_pmic_rails_are_summed_as_soc_rails_not_board_power(pi5):
    pi = RaspberryPi(context(pi5, pi5 / "bin"))
    probe = pi.probe()
    assert probe.detected and "SoC rails (not board power" in probe.reason
    readings = pi.read()
    power = by_name(readings, "power")
    assert {k: power[k].value for k in PMIC_RAILS_W} == pytest.approx(PMIC_RAILS_W)
    assert sum(PMIC_RAILS_W.values()) == pytest.approx(SOC_RAILS_W)
    total = pi.total_power(readings)
    assert (total.name, total.scope, total.method) == ("soc_rails", "soc_rails", "measured")
    assert total.value == pytest.approx(SOC_RAILS_W)
    assert "EXT5V" not in power and "BATT" not in power  # voltage only
    assert by_name(readings, "voltage")["EXT5V"].value == pytest.approx(5.12)


def test_a_calibration_line_gives_an_estimated_board_power(pi5):
    options = {"power": {"calibration_scale": 1.1451, "calibration_offset_w": 0.5879}}
    sensors = SensorSet(context(pi5, pi5 / "bin", options=options))
    assert sensors.power_backend.name == "rpi"
    readings = sensors.read_all()
    total = sensors.power_of(readings)
    assert (total.name, total.scope, total.method) == ("board_estimate", "board", "estimated")
    assert total.value == pytest.approx(1.1451 * SOC_RAILS_W + 0.5879)  # 4.29089...
    assert sensors.power_source_label == "rpi:board_estimate (board, estimated)"
    soc = next(r for r in readings if r.name == "soc_rails")
    assert soc.value == pytest.approx(SOC_RAILS_W) and soc.method == "measured"  # kept beside it


def test_throttled_bits_from_the_firmware_sysfs_file(pi5):
    pi = RaspberryPi(context(pi5, pi5 / "bin"))
    pi.probe()
    readings = pi.read()
    # 0x50005: bits 0 and 2 now (under-voltage, throttled), bits 16 and 18 since boot
    assert by_name(readings, "throttle")["throttled_now"].value == 0x5
    assert by_name(readings, "info")["throttled_since_boot"].value == "under-voltage, throttled"


def test_throttled_bits_from_vcgencmd_when_there_is_no_sysfs_file(pi5):
    shutil.rmtree(pi5 / "sys/devices/platform/soc@107c000000")
    (pi5 / "recorded/get_throttled.txt").write_text("throttled=0x80008\n")
    pi = RaspberryPi(context(pi5, pi5 / "bin"))
    pi.probe()
    readings = pi.read()
    assert by_name(readings, "throttle")["throttled_now"].value == 0x8  # soft temperature limit now
    assert by_name(readings, "info")["throttled_since_boot"].value == "soft temperature limit"


def test_cpu_temperature_comes_from_vcgencmd_only_when_no_thermal_zone_has_it(pi5):
    pi = RaspberryPi(context(pi5, pi5 / "bin"))
    pi.probe()
    assert "temperature" not in {r.kind for r in pi.read()}  # the thermal backend reports cpu-thermal
    shutil.rmtree(pi5 / "sys/class/thermal")
    pi = RaspberryPi(context(pi5, pi5 / "bin"))
    pi.probe()
    assert by_name(pi.read(), "temperature")["cpu"].value == pytest.approx(52.4)  # temp=52.4'C


def test_v3d_load_is_the_busiest_queue_share_between_two_reads(pi5):
    pi = RaspberryPi(context(pi5, pi5 / "bin"))
    pi.probe()
    assert "load" not in {r.kind for r in pi.read()}  # one read is no interval yet
    stats = pi5 / "sys/devices/platform/axi/1002000000.v3d/gpu_stats"
    # 2 s later: bin busy 0.1 s (5 %), render 0.5 s (25 %), tfu idle
    stats.write_text(
        "queue\ttimestamp\tjobs\truntime\n"
        "bin\t122000000000\t5200\t1600000000\n"
        "render\t122000000000\t5200\t9500000000\n"
        "tfu\t122000000000\t340\t200000000\n"
        "csd\t122000000000\t0\t0\n"
        "cache_clean\t122000000000\t0\t0\n"
        "cpu\t122000000000\t0\t0\n")
    assert by_name(pi.read(), "load")["v3d"].value == pytest.approx(25.0)


def test_fan_rpm_comes_through_the_generic_hwmon_backend(pi5):
    sensors = SensorSet(context(pi5, pi5 / "bin"))
    fans = {r.name: r.value for r in sensors.read_all() if r.kind == "fan"}
    assert fans == {"cooling_fan/fan1": 2995}


def test_a_pi_4_has_no_pmic_command_so_no_power_but_still_throttle_flags():
    root = FIXTURES / "rpi4"
    sensors = SensorSet(context(root, root / "bin"))
    status = next(s for s in sensors.statuses if s.backend.name == "rpi")
    assert status.probe.detected
    assert "pmic_read_adc not supported (Raspberry Pi 5 only)" in status.probe.reason
    assert sensors.power_backend is None and sensors.power_source_label.startswith("no power sensor")
    readings = sensors.read_all()
    assert by_name(readings, "throttle")["throttled_now"].value == 0


def test_a_pi_5_without_vcgencmd_says_so(pi5):
    pi = RaspberryPi(context(pi5))  # fixture bin not on PATH
    probe = pi.probe()
    assert probe.detected and "vcgencmd not found on PATH: no PMIC power" in probe.reason
    assert pi.total_power(pi.read()) is None


def test_not_a_pi_elsewhere():
    probe = RaspberryPi(context(FIXTURES / "rock5b")).probe()
    assert not probe.detected and probe.reason.startswith("not a Raspberry Pi (board model: Radxa ROCK 5B")


def test_parsers():
    rails = parse_pmic("  VDD_CORE_A current(7)=10.87674000A\n  VDD_CORE_V volt(15)=0.89745940V\n"
                       "  EXT5V_V volt(24)=5.12520000V\nerror=1 error_msg=\"x\"\n")
    assert rails == {"VDD_CORE": {"A": 10.87674, "V": 0.8974594}, "EXT5V": {"V": 5.1252}}
    assert rail_watts(rails) == {"VDD_CORE": pytest.approx(10.87674 * 0.8974594)}
    assert parse_v3d_stats("nonsense") is None
    assert parse_v3d_stats("queue\ttimestamp\tjobs\truntime\nbin\t10\t2\t3\n") == {"bin": (10, 3)}
