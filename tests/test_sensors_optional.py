"""The optional backends, jtop (jetson-stats) and NVML (nvidia-ml-py), with fake modules in
their place: what they report, and the reasons when they cannot."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from edgetui.sensors import SensorSet
from edgetui.sensors.jtop_backend import Jtop
from edgetui.sensors.nvml import Nvml

from fixtures.sensor_helpers import FIXTURES, by_name, context, copy_fixture

NANO = FIXTURES / "jetson-orin-nano"


class JtopException(Exception):
    pass


def fake_jtop_module(*, active: bool, power: dict | None = None, stats: dict | None = None, mode: str = "MAXN_SUPER"):
    closed = []

    class jtop:  # noqa: N801 - the real class is lower-case
        def __init__(self, interval=0.5):
            self.interval = interval
            self.power = power or {}
            self.stats = stats or {}
            self.nvpmodel = types.SimpleNamespace(name=mode, id=2)

        def start(self):
            if not active:
                raise JtopException("The jtop.service is not active. Please run:\nsudo systemctl restart jtop.service")

        def is_alive(self):
            return True

        def close(self):
            closed.append(True)

    return types.SimpleNamespace(jtop=jtop, JtopException=JtopException, closed=closed)


JTOP_POWER = {
    "rail": {"VDD_CPU_GPU_CV": {"volt": 5056, "curr": 352, "power": 1779, "avg": 1700, "online": True},
             "VDD_SOC": {"volt": 5064, "curr": 280, "power": 1417, "avg": 1400, "online": True}},
    "tot": {"volt": 5064, "curr": 1264, "power": 6400, "avg": 6000, "name": "VDD_IN"},
}
JTOP_STATS = {"GPU": 51.2, "RAM": 0.31, "Temp cpu": 47.7, "Temp cv0": -256.0, "Temp tj": 48.6, "nvp model": "MAXN_SUPER"}


def test_jtop_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "jtop", None)
    probe = Jtop(context(NANO)).probe()
    assert not probe.detected and "jetson-stats not installed" in probe.reason


def test_jtop_service_not_active_and_the_sysfs_backend_takes_over(monkeypatch):
    monkeypatch.setitem(sys.modules, "jtop", fake_jtop_module(active=False))
    sensors = SensorSet(context(NANO, NANO / "bin"))
    status = next(s for s in sensors.statuses if s.backend.name == "jtop")
    assert not status.probe.detected
    assert status.probe.reason.startswith("jtop service not active (The jtop.service is not active.")
    assert sensors.power_backend.name == "jetson"


def test_jtop_readings_in_watts_and_degrees(monkeypatch):
    module = fake_jtop_module(active=True, power=JTOP_POWER, stats=JTOP_STATS)
    monkeypatch.setitem(sys.modules, "jtop", module)
    backend = Jtop(context(NANO))
    probe = backend.probe()
    assert probe.detected and "total = VDD_IN" in probe.reason
    readings = backend.read()
    power = by_name(readings, "power")
    assert {k: r.value for k, r in power.items()} == pytest.approx(
        {"VDD_CPU_GPU_CV": 1.779, "VDD_SOC": 1.417, "VDD_IN": 6.4})  # mW / 1000
    total = backend.total_power(readings)
    assert (total.name, total.scope) == ("VDD_IN", "module")
    temps = {k: r.value for k, r in by_name(readings, "temperature").items()}
    assert temps == {"cpu": 47.7, "tj": 48.6}  # cv0 at -256 is offline
    assert by_name(readings, "load")["gpu"].value == 51.2
    assert backend.power_mode() == "MAXN_SUPER"
    backend.close()
    assert module.closed == [True]


def test_sysfs_is_preferred_to_jtop_when_both_answer_and_jtop_covers_boards_without_rails(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "jtop", fake_jtop_module(active=True, power=JTOP_POWER, stats=JTOP_STATS))
    assert SensorSet(context(NANO, NANO / "bin")).power_backend.name == "jetson"
    bare = tmp_path / "jetson"
    (bare / "proc/device-tree").mkdir(parents=True)
    (bare / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson Orin NX Engineering Reference Developer Kit\x00")
    sensors = SensorSet(context(bare))
    assert sensors.power_backend.name == "jtop"
    assert sensors.power_source_label == "jtop:VDD_IN (module, measured)"


class NVMLError(Exception):
    pass


def fake_pynvml(*, energy_mj: list[float] | None, power_mw: float = 70250.0, reasons: int = 0x5, init_error: str = ""):
    energy = list(energy_mj) if energy_mj is not None else None

    def nvmlInit():
        if init_error:
            raise NVMLError(init_error)

    def total_energy(handle):
        if energy is None:
            raise NVMLError("Not Supported")
        return energy.pop(0) if len(energy) > 1 else energy[0]

    return types.SimpleNamespace(
        nvmlInit=nvmlInit, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"handle{i}", nvmlDeviceGetName=lambda h: b"NVIDIA RTX A2000",
        nvmlDeviceGetTotalEnergyConsumption=total_energy, nvmlDeviceGetPowerUsage=lambda h: power_mw,
        nvmlDeviceGetTemperature=lambda h, sensor: 61, NVML_TEMPERATURE_GPU=0,
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87, memory=40),
        nvmlDeviceGetCurrentClocksEventReasons=lambda h: reasons,
    )


def test_nvml_energy_counter_is_differenced_and_throttle_reasons_masked(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_mj=[5_000_000, 5_000_000, 5_003_500]))
    nvml = Nvml(context(Path("/nonexistent")))
    probe = nvml.probe()  # reads the counter once to see that it works
    assert probe.detected and "NVIDIA RTX A2000" in probe.reason and "energy counter" in probe.reason
    first = nvml.read()
    assert nvml.total_power(first).value == 0.0
    second = nvml.read()
    total = nvml.total_power(second)
    assert (total.name, total.kind, total.value) == ("gpus", "energy", pytest.approx(3.5))  # 3500 mJ
    assert by_name(second, "power")["gpu0"].value == pytest.approx(70.25)  # 70250 mW
    assert by_name(second, "temperature")["gpu0"].value == 61.0
    assert by_name(second, "load")["gpu0"].value == 87.0
    # 0x5 = GPU idle (0x1, not throttling) + SW power cap (0x4, throttling)
    assert by_name(second, "throttle")["gpu0"].value == 0x4
    assert by_name(second, "info")["gpu0_clock_reasons"].value == "0x5"


def test_nvml_without_an_energy_counter_falls_back_to_power(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_mj=None, power_mw=45000.0))
    nvml = Nvml(context(Path("/nonexistent")))
    assert "no energy counter" in nvml.probe().reason
    total = nvml.total_power(nvml.read())
    assert (total.kind, total.value) == ("power", pytest.approx(45.0))


def test_nvml_reasons_when_it_cannot_start(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_mj=[0], init_error="NVML Shared Library Not Found"))
    probe = Nvml(context(Path("/nonexistent"))).probe()
    assert not probe.detected and probe.reason == "NVML not available: NVML Shared Library Not Found"
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert "nvidia-ml-py not installed" in Nvml(context(Path("/nonexistent"))).probe().reason


def test_rapl_stays_the_automatic_choice_beside_a_gpu(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_mj=[1000.0]))
    x86 = copy_fixture(tmp_path, "x86-rapl")
    assert SensorSet(context(x86)).power_backend.name == "rapl"
    assert SensorSet(context(x86), power_source="nvml").power_backend.name == "nvml"
