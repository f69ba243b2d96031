"""Jetson sysfs backend on fixture trees of an Orin Nano (JetPack 6, VDD_IN) and an AGX Orin
(JetPack 5, no VDD_IN), with `nvpmodel -q` played back by a fake script first on PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.sensors import SensorSet
from edgetui.sensors.jetson import JetsonSysfs, parse_nvpmodel
from edgetui.sensors.registry import detected_power_mode

from fixtures.sensor_helpers import FIXTURES, context, copy_fixture, deny
from fixtures.sensor_helpers import by_name as readings_by_name


@pytest.fixture
def nano(tmp_path) -> Path:
    return copy_fixture(tmp_path, "jetson-orin-nano")


@pytest.fixture
def agx(tmp_path) -> Path:
    return copy_fixture(tmp_path, "jetson-agx-orin")


def test_orin_nano_rails_with_vdd_in_as_the_module_total(nano):
    jetson = JetsonSysfs(context(nano, nano / "bin"))
    probe = jetson.probe()
    assert probe.detected
    assert "total = VDD_IN" in probe.reason and "power mode MAXN_SUPER (id 2)" in probe.reason
    readings = jetson.read()
    power = readings_by_name(readings, "power")
    # in_N mV x curr_N mA / 1e6 = W, channel by channel; the summation channel (in7/curr4) is no rail
    assert set(power) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}
    assert power["VDD_IN"].value == pytest.approx(5064 * 1264 / 1e6)  # 6.400896 W
    assert power["VDD_CPU_GPU_CV"].value == pytest.approx(5056 * 352 / 1e6)  # 1.779712 W
    assert power["VDD_SOC"].value == pytest.approx(5064 * 280 / 1e6)  # 1.41792 W
    assert (power["VDD_IN"].scope, power["VDD_SOC"].scope) == ("module", "rail")
    assert all(r.unit == "W" and r.method == "measured" for r in power.values())
    total = jetson.total_power(readings)
    assert total.name == "VDD_IN" and total.value == pytest.approx(6.400896)
    assert readings_by_name(readings, "load")["gpu"].value == pytest.approx(51.2)  # 512 per mille
    assert readings_by_name(readings, "frequency")["gpu"].value == 612_000_000
    assert jetson.power_mode() == "MAXN_SUPER"


def test_agx_orin_has_no_vdd_in_so_the_total_is_the_rail_sum_marked_module_only(agx):
    jetson = JetsonSysfs(context(agx, agx / "bin"))
    probe = jetson.probe()
    assert probe.detected and "module-only" in probe.reason
    readings = jetson.read()
    power = readings_by_name(readings, "power")
    assert "NC" not in power  # unconnected channels of the 0x41 chip
    rails = {
        "VDD_GPU_SOC": 4984 * 1736 / 1e6,  # 8.652224
        "VDD_CPU_CV": 4984 * 592 / 1e6,  # 2.950528
        "VIN_SYS_5V0": 4976 * 952 / 1e6,  # 4.737152
        "VDDQ_VDD2_1V8AO": 4992 * 336 / 1e6,  # 1.677312 (second chip, 1-0041)
    }
    assert {k: v.value for k, v in power.items() if k in rails} == pytest.approx(rails)
    total = jetson.total_power(readings)
    assert total.name == "rails_sum" and total.scope == "module"
    assert total.value == pytest.approx(8.652224 + 2.950528 + 4.737152 + 1.677312)  # 18.017216 W
    assert jetson.power_mode() == "MAXN"  # after the "NVPM WARN" line


def test_soctherm_over_current_counters_are_deltas_since_the_backend_started(nano):
    jetson = JetsonSysfs(context(nano, nano / "bin"))
    jetson.probe()
    oc1 = nano / "sys/class/hwmon/hwmon0/oc1_event_cnt"  # 3 events since boot, before we started
    first = jetson.read()
    assert readings_by_name(first, "counter")["oc1_events"].value == 0
    assert "soctherm_oc" not in readings_by_name(first, "throttle")  # one read is no interval yet
    oc1.write_text("5\n")  # two new events
    second = jetson.read()
    assert readings_by_name(second, "counter")["oc1_events"].value == 2
    assert readings_by_name(second, "throttle")["soctherm_oc"].value == 2  # non-zero: throttled now
    third = jetson.read()
    assert readings_by_name(third, "counter")["oc1_events"].value == 2
    assert readings_by_name(third, "throttle")["soctherm_oc"].value == 0
    oc1.write_text("1\n")  # the counter was reset (driver reload): 1 event since the reset
    assert readings_by_name(jetson.read(), "counter")["oc1_events"].value == 3


def test_sensor_set_picks_jetson_and_the_generic_hwmon_leaves_its_chips_alone(nano):
    sensors = SensorSet(context(nano, nano / "bin"))
    assert sensors.power_backend.name == "jetson"
    assert sensors.power_source_label == "jetson:VDD_IN (module, measured)"
    readings = sensors.read_all()
    hwmon_names = {r.name for r in readings if r.backend == "hwmon"}
    assert not any(n.startswith(("ina3221", "soctherm_oc")) for n in hwmon_names)
    temps = {r.name for r in readings if r.kind == "temperature"}
    assert "cv0-thermal" not in temps and "tj-thermal" in temps  # -256 C means offline
    assert detected_power_mode(sensors) == "MAXN_SUPER"


def test_an_unreadable_vdd_in_gives_no_total_rather_than_a_partial_sum(nano, monkeypatch):
    hw = nano / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"
    deny(monkeypatch, hw / "curr1_input")
    jetson = JetsonSysfs(context(nano, nano / "bin"))
    jetson.probe()
    readings = jetson.read()
    assert "VDD_IN" not in readings_by_name(readings, "power")
    assert jetson.total_power(readings) is None


def test_without_nvpmodel_the_power_mode_is_unknown_and_says_why(nano):
    jetson = JetsonSysfs(context(nano))  # no fixture bin on PATH
    probe = jetson.probe()
    assert "power mode unknown (nvpmodel -q: nvpmodel not found on PATH)" in probe.reason
    assert jetson.power_mode() is None
    assert not any(r.name == "power_mode" for r in jetson.read())


def test_jetpack4_iio_rails_report_power_directly(tmp_path):
    iio = tmp_path / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    iio.mkdir(parents=True)
    for n, (label, mw) in enumerate([("POM_5V_IN", 4520), ("POM_5V_GPU", 890), ("POM_5V_CPU", 1210)]):
        (iio / f"rail_name_{n}").write_text(label + "\n")
        (iio / f"in_power{n}_input").write_text(f"{mw}\n")
    jetson = JetsonSysfs(context(tmp_path))
    assert jetson.probe().detected
    readings = jetson.read()
    total = jetson.total_power(readings)
    assert (total.name, total.value, total.scope) == ("POM_5V_IN", pytest.approx(4.52), "module")
    assert readings_by_name(readings, "power")["POM_5V_GPU"].value == pytest.approx(0.89)


def test_not_a_jetson_elsewhere():
    probe = JetsonSysfs(context(FIXTURES / "x86-rapl")).probe()
    assert not probe.detected and probe.reason.startswith("not a Jetson")


def test_parse_nvpmodel():
    assert parse_nvpmodel("NV Power Mode: MAXN_SUPER\n2\n") == ("MAXN_SUPER", 2)
    assert parse_nvpmodel("NVPM WARN: fan mode is not set!\nNV Power Mode: 15W\n0\n") == ("15W", 0)
    assert parse_nvpmodel("garbage") == (None, None)
