"""x86 fixture tree: RAPL package energy through a counter wrap, root-only counters, and a
counter file that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.sensors import SensorSet
from edgetui.sensors.generic import Rapl

from fixtures.sensor_helpers import by_name, context, copy_fixture, deny

MAX_RANGE_UJ = 262143328850


@pytest.fixture
def x86(tmp_path) -> Path:
    return copy_fixture(tmp_path, "x86-rapl")


def test_rapl_package_energy_across_a_wrap_never_psys_nor_subzones(x86):
    sensors = SensorSet(context(x86))
    assert sensors.power_backend.name == "rapl"
    rapl = sensors.power_backend
    counter = x86 / "sys/class/powercap/intel-rapl:0/energy_uj"
    start = rapl.total_power(rapl.read()).value
    counter.write_text("262143300000\n")  # +300000 uJ = 0.3 J
    mid = rapl.total_power(rapl.read()).value
    counter.write_text("500000\n")  # wrapped: (262143328850 - 262143300000) + 500000 uJ
    end = rapl.read()
    assert mid - start == pytest.approx(0.3)
    assert rapl.total_power(end).value - mid == pytest.approx((MAX_RANGE_UJ - 262143300000 + 500000) / 1e6)  # 0.52885 J
    assert set(by_name(end, "energy")) == {"package-0", "packages"}  # psys, core and uncore left out
    assert sensors.power_source_label == "rapl:packages (package, measured)"


def test_rapl_counters_readable_only_by_root_give_the_reason(x86, monkeypatch):
    deny(monkeypatch, x86 / "sys/class/powercap/intel-rapl:0/energy_uj")
    sensors = SensorSet(context(x86))
    status = next(s for s in sensors.statuses if s.backend.name == "rapl")
    assert not status.probe.detected and "needs root" in status.probe.reason
    assert sensors.power_backend is None
    assert "rapl: RAPL energy_uj needs root" in sensors.power_source_label


def test_a_counter_that_cannot_be_read_is_left_out_not_zero(x86):
    counter = x86 / "sys/class/powercap/intel-rapl:0/energy_uj"
    counter.unlink()
    counter.mkdir()  # reading a directory fails with EISDIR
    rapl = Rapl(context(x86))
    assert rapl.probe().detected  # the zone is there; its counter just cannot be read
    readings = rapl.read()
    assert readings == [] and rapl.total_power(readings) is None


def test_temperatures_from_zones_and_coretemp(x86):
    temps = {r.name: r.value for r in SensorSet(context(x86)).read_all() if r.kind == "temperature"}
    assert temps == {"acpitz": 40.0, "x86_pkg_temp": 51.0, "coretemp/Package id 0": 51.0, "coretemp/Core 0": 49.0}
