"""The sampler's energy over fixture trees whose readings change between samples, taken at known
times (the sampler's clock is replaced), against integrals worked out by hand."""

from __future__ import annotations

import types

import pytest

import edgetui.run.sampler as sampler_module
from edgetui.run.sampler import Sampler
from edgetui.sensors import SensorSet

from fixtures.sensor_helpers import context, copy_fixture

T0 = 1_750_000_000.0


@pytest.fixture
def clock(monkeypatch):
    """now[0] is the monotonic time; the wall clock is T0 + now[0]."""
    now = [0.0]
    monkeypatch.setattr(sampler_module, "time", types.SimpleNamespace(monotonic=lambda: now[0], time=lambda: T0 + now[0]))
    return now


def test_trapezoid_energy_of_a_changing_jetson_rail(tmp_path, clock):
    nano = copy_fixture(tmp_path, "jetson-orin-nano")
    hw = nano / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"
    (hw / "in1_input").write_text("5000\n")
    sampler = Sampler(SensorSet(context(nano, nano / "bin")), hz=10)
    samples = []
    # VDD_IN at 5000 mV: 1000, 1200, 1600, 1600, 1000 mA = 5, 6, 8, 8, 5 W at t = 100.0 ... 100.4 s
    for i, milliamps in enumerate([1000, 1200, 1600, 1600, 1000]):
        (hw / "curr1_input").write_text(f"{milliamps}\n")
        clock[0] = 100.0 + 0.1 * i
        samples.append(sampler.sample_once())
    assert [s["power_w"] for s in samples] == pytest.approx([5.0, 6.0, 8.0, 8.0, 5.0])
    assert samples[2]["readings"]["jetson"]["power"]["VDD_IN"] == pytest.approx(8.0)
    assert samples[2]["wall"] == pytest.approx(T0 + 100.2)
    # 0.1 * (5+6)/2 + 0.1 * (6+8)/2 + 0.1 * (8+8)/2 + 0.1 * (8+5)/2 = 0.55 + 0.7 + 0.8 + 0.65
    assert sampler.trace.energy(100.0, 100.4, sampler.max_gap_s) == pytest.approx(2.7)
    assert sampler.trace.mean_power(100.0, 100.4, sampler.max_gap_s) == pytest.approx(2.7 / 0.4)
    # a window inside: 5.5 W at 100.05 and 6.5 W at 100.35 by interpolation;
    # 0.05 * (5.5+6)/2 + 0.7 + 0.8 + 0.05 * (8+6.5)/2 = 0.2875 + 0.7 + 0.8 + 0.3625
    assert sampler.trace.energy(100.05, 100.35, sampler.max_gap_s) == pytest.approx(2.15)


def test_over_current_events_between_samples_flag_throttling(tmp_path, clock):
    nano = copy_fixture(tmp_path, "jetson-orin-nano")
    sampler = Sampler(SensorSet(context(nano, nano / "bin")), hz=10)
    # the SensorSet read once while choosing its power source; from here on each read is an interval
    assert sampler.sample_once()["throttled"] is False
    (nano / "sys/class/hwmon/hwmon0/oc2_event_cnt").write_text("4\n")
    clock[0] = 0.1
    assert sampler.sample_once()["throttled"] is True
    clock[0] = 0.2
    assert sampler.sample_once()["throttled"] is False


def test_rapl_counter_energy_through_a_wrap(tmp_path, clock):
    x86 = copy_fixture(tmp_path, "x86-rapl")
    counter = x86 / "sys/class/powercap/intel-rapl:0/energy_uj"
    sampler = Sampler(SensorSet(context(x86)), hz=10)
    samples = []
    for t, uj in [(10.0, 262143000000), (10.5, 262143300000), (11.0, 200000)]:
        counter.write_text(f"{uj}\n")
        clock[0] = t
        samples.append(sampler.sample_once())
    # +0.3 J, then (262143328850 - 262143300000 + 200000) uJ = 0.22885 J, each over 0.5 s
    assert samples[1]["power_w"] == pytest.approx(0.3 / 0.5)
    assert samples[2]["power_w"] == pytest.approx(0.22885 / 0.5)
    assert sampler.trace.energy(10.0, 11.0, sampler.max_gap_s) == pytest.approx(0.3 + 0.22885)
    # counter read at 10.25 (0.15 J) and 10.75 (0.3 + 0.22885 / 2 J)
    assert sampler.trace.energy(10.25, 10.75, sampler.max_gap_s) == pytest.approx(0.3 + 0.114425 - 0.15)


def test_external_meter_log_energy_aligned_with_the_run_clock(tmp_path, clock):
    # A 100 Hz meter whose clock is 2 s behind: W = 4 + 2 * s^2 at s seconds into the second.
    rows = "".join(f"{T0 + 100.0 - 2.0 + i / 100:.2f},{4 + 2 * (i / 100) ** 2:.6f}\n" for i in range(101))
    log = tmp_path / "fnb58.csv"
    log.write_text("timestamp,power_W\n" + rows)
    options = {"power": {"meter_csv": str(log), "meter_offset_s": 2.0}}
    sensors = SensorSet(context(tmp_path, options=options))
    assert sensors.power_backend.name == "external"
    sensors.power_backend.clock = lambda: T0 + clock[0]  # the same wall clock as the sampler's
    sampler = Sampler(sensors, hz=10)
    for k in range(11):
        clock[0] = 100.0 + k / 10
        s = sampler.sample_once()
        assert s["power_w"] == pytest.approx(4 + 2 * (k / 10) ** 2, abs=1e-5)
    # trapezoid at 10 Hz: 0.1 * ((4 + 6) / 2 + sum(4 + 0.02 k^2, k = 1..9)) = 0.1 * (5 + 36 + 0.02 * 285)
    assert sampler.trace.energy(100.0, 101.0, sampler.max_gap_s) == pytest.approx(4.67, rel=1e-6)
    assert sensors.power_source_label == "external:meter (board, external)"


@pytest.mark.model
def test_a_headless_run_on_the_orin_nano_fixture_records_its_board_power_and_energy(tmp_path, smollm2_path):
    import csv

    from conftest import run_cli
    from fixtures.sensor_helpers import FIXTURES, path_with

    profile = tmp_path / "tiny.toml"
    profile.write_text('name = "tiny"\nrepetitions = 2\nwarmup = 0\nidle_baseline_s = 0.5\n'
                       '[[models]]\nname = "smollm2-135m-q4_1"\n[sweep]\nn_threads = [2]\nn_ctx = [128]\n'
                       '[workload]\nprompt_tokens = [16]\ngen_tokens = 16\n')
    root = FIXTURES / "jetson-orin-nano"
    proc = run_cli("run", str(profile), "--headless", "--out", str(tmp_path / "out"), "--sysfs-root", str(root),
                   env={"PATH": path_with(root / "bin")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (tmp_path / "out/results.csv").open() as f:
        row = next(csv.DictReader(f))
    assert row["board"] == "Jetson Orin Nano Super Developer Kit (8 GB)"
    assert (row["power_mode"], float(row["price_usd"]), float(row["volume_cm3"])) == ("MAXN_SUPER", 304.78, 165.9)
    assert row["power_source"] == "jetson:VDD_IN (module, measured)"
    # the fixture's VDD_IN never changes: every mean is 5064 mV x 1264 mA, and nothing is above idle
    assert float(row["power_w_mean"]) == pytest.approx(6.400896)
    assert float(row["power_w_idle"]) == pytest.approx(6.400896)
    assert abs(float(row["net_energy_j_per_token"])) < 1e-9
    assert row["throttled"].lower() == "false"
    tps = float(row["decode_tps_mean"])
    assert float(row["tps_per_usd"]) == pytest.approx(tps / 304.78, rel=1e-4)  # the CSV keeps 6 digits
    assert float(row["tps_per_litre"]) == pytest.approx(tps / 0.1659, rel=1e-4)
