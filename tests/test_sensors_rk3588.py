"""RK3588 backend on a ROCK 5B fixture tree: NPU load from debugfs (root only), devfreq loads,
and no power sensor on the board."""

from __future__ import annotations

from edgetui.sensors import SensorSet
from edgetui.sensors.rk3588 import Rockchip, parse_devfreq_load, parse_npu_load

from fixtures.sensor_helpers import FIXTURES, by_name, context, deny

ROCK = FIXTURES / "rock5b"


def test_npu_cores_and_devfreq_loads():
    rk = Rockchip(context(ROCK))
    probe = rk.probe()
    assert probe.detected and "NPU per-core load;" in probe.reason
    readings = rk.read()
    loads = {k: r.value for k, r in by_name(readings, "load").items()}
    # "Core0: 35%, Core1:  0%, Core2:   %" (a blank is zero); devfreq "N@FreqHz"
    assert loads == {"npu_core0": 35.0, "npu_core1": 0.0, "npu_core2": 0.0, "npu": 35.0, "gpu": 0.0, "dmc": 22.0}
    freqs = {k: r.value for k, r in by_name(readings, "frequency").items()}
    assert freqs == {"npu": 1_000_000_000.0, "gpu": 300_000_000.0, "dmc": 2_112_000_000.0}
    assert all(r.unit == "%" for r in by_name(readings, "load").values())


def test_npu_load_needs_root_when_debugfs_refuses(monkeypatch):
    deny(monkeypatch, ROCK / "sys/kernel/debug/rknpu/load")
    rk = Rockchip(context(ROCK))
    probe = rk.probe()
    assert probe.detected and "NPU per-core load needs root (debugfs)" in probe.reason
    loads = by_name(rk.read(), "load")
    assert not any(name.startswith("npu_core") for name in loads)
    assert loads["npu"].value == 35.0  # devfreq needs no root


def test_no_power_sensor_is_the_reason_and_the_usb_pd_chip_is_not_read():
    sensors = SensorSet(context(ROCK))
    assert sensors.power_backend is None
    assert sensors.power_source_label.startswith("no power sensor (rk3588: no power sensor on this board")
    assert "external meter" in sensors.power_source_label
    assert not any(r.name.startswith("tcpm_source_psy") for r in sensors.read_all())
    temps = {r.name for r in sensors.read_all() if r.kind == "temperature"}
    assert {"npu-thermal", "bigcore0-thermal", "soc-thermal"} <= temps


def test_not_an_rk3588_elsewhere():
    probe = Rockchip(context(FIXTURES / "rpi5")).probe()
    assert not probe.detected and "rockchip,rk3588" in probe.reason


def test_parsers():
    assert parse_npu_load("NPU load:  Core0: 12%, Core1:  3%, Core2:   %,") == {0: 12.0, 1: 3.0, 2: 0.0}
    assert parse_npu_load("NPU load:  45%") == {}  # single-core RK3566 format: no per-core figure
    assert parse_devfreq_load("7@300000000Hz\n") == (7.0, 300_000_000.0)
    assert parse_devfreq_load("300000000") is None
