"""Generic Linux sensors read from a fixture tree standing for /."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgetui.run.sampler import Sampler
from edgetui.sensors import SensorSet, make_context

from conftest import run_cli


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.fixture
def x86(tmp_path) -> Path:
    return _tree(tmp_path, {
        "sys/class/thermal/thermal_zone0/type": "x86_pkg_temp\n",
        "sys/class/thermal/thermal_zone0/temp": "48500\n",
        "sys/class/thermal/thermal_zone1/type": "offline\n",
        "sys/class/thermal/thermal_zone1/temp": "-256000\n",  # offline zone: must be left out
        "sys/class/thermal/thermal_zone2/type": "empty\n",
        "sys/class/thermal/thermal_zone2/temp": "",
        "sys/class/hwmon/hwmon3/name": "nvme\n",
        "sys/class/hwmon/hwmon3/temp1_input": "39850\n",
        "sys/class/hwmon/hwmon3/temp1_label": "Composite\n",
        "sys/class/powercap/intel-rapl:0/name": "package-0\n",
        "sys/class/powercap/intel-rapl:0/energy_uj": "1000000\n",
        "sys/class/powercap/intel-rapl:0/max_energy_range_uj": "262143328850\n",
        "sys/class/powercap/intel-rapl:0:0/name": "core\n",
        "sys/class/powercap/intel-rapl:0:0/energy_uj": "5\n",
        "sys/class/powercap/intel-rapl:1/name": "psys\n",
        "sys/class/powercap/intel-rapl:1/energy_uj": "99999999\n",
    })


def test_temperatures_skip_offline_and_empty_zones(x86):
    sensors = SensorSet(make_context(x86))
    temps = {r.name: r.value for r in sensors.read_all() if r.kind == "temperature"}
    assert temps == {"x86_pkg_temp": 48.5, "nvme/Composite": pytest.approx(39.85)}


def test_rapl_sums_packages_never_psys_and_survives_a_wrap(x86):
    sensors = SensorSet(make_context(x86))
    assert sensors.power_backend.name == "rapl"
    energy = x86 / "sys/class/powercap/intel-rapl:0/energy_uj"
    rapl = sensors.power_backend
    first = rapl.total_power(rapl.read()).value
    energy.write_text("3500000\n")  # +2.5 J
    second = rapl.total_power(rapl.read()).value
    assert second - first == pytest.approx(2.5)
    energy.write_text("500000\n")  # wrapped: +(262143328850 - 3500000 + 500000) uJ
    third = rapl.total_power(rapl.read()).value
    assert third - second == pytest.approx((262143328850 - 3500000 + 500000) / 1e6)


def test_sampler_turns_an_energy_counter_into_power_and_energy(x86):
    sensors = SensorSet(make_context(x86))
    sampler = Sampler(sensors, hz=10)
    energy = x86 / "sys/class/powercap/intel-rapl:0/energy_uj"
    s0 = sampler.sample_once()
    energy.write_text(str(1000000 + 3_000_000) + "\n")  # 3 J more
    s1 = sampler.sample_once()
    assert s1["energy_j"] - s0["energy_j"] == pytest.approx(3.0)
    assert s1["power_w"] == pytest.approx(3.0 / (s1["t"] - s0["t"]), rel=2e-2)  # t is kept to the microsecond
    assert sampler.trace.energy(s0["t"], s1["t"], max_gap_s=10) == pytest.approx(3.0)


def test_no_power_sensor_is_a_reason_not_a_zero(tmp_path):
    sensors = SensorSet(make_context(_tree(tmp_path, {"sys/class/thermal/thermal_zone0/type": "cpu\n",
                                                       "sys/class/thermal/thermal_zone0/temp": "50000\n"})))
    assert sensors.power_backend is None
    assert sensors.power_source_label.startswith("no power sensor (")
    s = Sampler(sensors).sample_once()
    assert s["power_w"] is None and s["energy_j"] is None
    assert s["temp_c_max"] == 50.0


def test_sensors_cli_json_lists_every_backend_with_units(x86):
    proc = run_cli("sensors", "--json", "--sysfs-root", str(x86))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    by_name = {b["backend"]: b for b in report["backends"]}
    assert by_name["rapl"]["detected"] and by_name["rapl"]["power_source"]
    for b in report["backends"]:
        assert b["reason"]
        for r in b["readings"]:
            assert set(r) == {"backend", "name", "kind", "value", "unit", "scope", "method"}
