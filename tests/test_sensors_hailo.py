"""Hailo backend with hailortcli played back by fake scripts: an AI HAT+ 2 that measures its
power, and an AI HAT+ whose board cannot."""

from __future__ import annotations

import sys
import types

import pytest

from edgetui.sensors import SensorSet
from edgetui.sensors.hailo import Hailo, parse_identify, parse_power
from edgetui.sensors.registry import detected_accelerators

from fixtures.sensor_helpers import FIXTURES, by_name, context


def test_the_hat_2_is_identified_and_its_chip_power_read():
    hailo = Hailo(context(FIXTURES / "rpi5", *[FIXTURES / "hailo10h/bin"]))
    probe = hailo.probe()
    assert probe.detected and probe.reason.startswith("HAILO10H (HAILO-10H M.2 M KEY MODULE")
    assert hailo.architecture == "HAILO10H"
    power = by_name(hailo.read(), "power")["chip"]
    assert (power.value, power.unit, power.scope, power.method) == (1.875, "W", "chip", "measured")


def test_chip_power_never_stands_for_the_board():
    root = FIXTURES / "rpi5"
    sensors = SensorSet(context(root, root / "bin", FIXTURES / "hailo10h/bin"))
    assert Hailo.power_priority is None
    assert sensors.power_backend.name == "rpi"
    assert detected_accelerators(sensors) == ["HAILO10H"]


def test_a_board_that_cannot_measure_power_says_so_and_reads_none():
    hailo = Hailo(context(FIXTURES / "rpi5", FIXTURES / "hailo8l-no-power/bin"))
    probe = hailo.probe()
    assert probe.detected and hailo.architecture == "HAILO8L"
    assert "measure-power not supported here: Failed power measurement, status 23" in probe.reason
    assert "power" not in {r.kind for r in hailo.read()}


def test_without_hailortcli_nothing_is_detected():
    probe = Hailo(context(FIXTURES / "rpi5")).probe()
    assert not probe.detected and "hailortcli not found on PATH" in probe.reason


def test_measure_power_is_polled_at_most_once_a_second(tmp_path):
    calls = tmp_path / "calls"
    script = tmp_path / "bin/hailortcli"
    script.parent.mkdir()
    script.write_text(f"""#!/bin/sh
case "$1" in
  fw-control) echo "Device Architecture: HAILO8" ;;
  measure-power) echo x >> {calls}; echo "Current power consumption (W): 2.5" ;;
esac
""")
    script.chmod(0o755)
    hailo = Hailo(context(tmp_path, script.parent))
    now = [100.0]
    hailo.clock = lambda: now[0]
    hailo.probe()  # one call to see whether it works
    assert by_name(hailo.read(), "power")["chip"].value == 2.5
    now[0] += 0.5
    assert by_name(hailo.read(), "power")["chip"].value == 2.5  # the held value, no new call
    now[0] += 0.6
    hailo.read()
    assert calls.read_text().count("x") == 3  # probe, first read, and the read 1.1 s later


def test_chip_temperature_through_hailort_python_api_when_installed(monkeypatch):
    temps = types.SimpleNamespace(ts0_temperature=50.5, ts1_temperature=52.5)

    class Device:
        def __init__(self, device_id):
            self.device_id = device_id
            self.control = types.SimpleNamespace(get_chip_temperature=lambda: temps)

        @staticmethod
        def scan():
            return ["0001:01:00.0"]

    monkeypatch.setitem(sys.modules, "hailo_platform", types.SimpleNamespace(Device=Device))
    hailo = Hailo(context(FIXTURES / "rpi5", FIXTURES / "hailo10h/bin"))
    assert "chip temperature" in hailo.probe().reason
    assert by_name(hailo.read(), "temperature")["chip"].value == pytest.approx((50.5 + 52.5) / 2)


def test_without_the_python_api_the_temperature_reason_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "hailo_platform", None)  # import fails
    hailo = Hailo(context(FIXTURES / "rpi5", FIXTURES / "hailo10h/bin"))
    assert "chip temperature not readable (HailoRT Python API hailo_platform not installed)" in hailo.probe().reason


def test_parsers():
    info = parse_identify("Identifying board\nDevice Architecture: HAILO10H\nSerial Number: X1\n")
    assert info["Device Architecture"] == "HAILO10H" and info["Serial Number"] == "X1"
    assert parse_power("Current power consumption (W): 1.875\n") == 1.875
    assert parse_power("Failed power measurement, status 23") is None
