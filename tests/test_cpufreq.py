"""CPU frequency per cpufreq policy (Pi 5: one policy; RK3588: three) and frequency as evidence of
throttling: a policy held below 90% of its ceiling for two samples in a row while the inference runs."""

from __future__ import annotations

import os
import time

from edgetui.run.sampler import Sampler
from edgetui.rundir.samples import Sample
from edgetui.sensors import SensorSet
from edgetui.sensors.cpufreq import CpuBusy, CpuFreq, FrequencyThrottle, PolicyFreq, cpus_text, parse_cpus, policy_frequencies

from conftest import run_cli
from fixtures.sensor_helpers import FIXTURES, context, copy_fixture

POLICIES = "sys/devices/system/cpu/cpufreq"


def test_cpu_lists_are_read_as_the_kernel_writes_them():
    assert parse_cpus("0 1 2 3") == (0, 1, 2, 3)
    assert parse_cpus("4-5") == (4, 5)
    assert parse_cpus("0-3,6") == (0, 1, 2, 3, 6)
    assert parse_cpus("") == ()
    assert cpus_text((0, 1, 2, 3, 6)) == "0-3,6"


def test_pi5_has_one_policy_for_its_four_cores():
    b = CpuFreq(context(FIXTURES / "rpi5"))
    assert b.probe().detected
    assert b.policy_cpus() == {"policy0": (0, 1, 2, 3)}
    freqs = policy_frequencies(b.read())
    assert freqs == {"policy0": PolicyFreq(cur_mhz=2400.0, max_mhz=2400.0, hw_max_mhz=2400.0)}


def test_rk3588_has_three_policies_little_and_two_big_pairs():
    b = CpuFreq(context(FIXTURES / "rock5b"))
    assert b.policy_cpus() == {"policy0": (0, 1, 2, 3), "policy4": (4, 5), "policy6": (6, 7)}
    freqs = policy_frequencies(b.read())
    assert freqs["policy0"].max_mhz == 1800.0
    assert freqs["policy4"].cur_mhz == 2256.0 and freqs["policy4"].max_mhz == 2400.0
    assert freqs["policy6"].hw_max_mhz == 2400.0
    units = {r.unit for r in b.read() if r.kind == "frequency"}
    assert units == {"Hz"}


def test_a_machine_without_cpufreq_says_why(tmp_path):
    probe = CpuFreq(context(tmp_path)).probe()
    assert not probe.detected and "policy*" in probe.reason


def test_sensors_command_lists_each_policy_with_its_frequencies():
    proc = run_cli("sensors", "--sysfs-root", str(FIXTURES / "rock5b"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "[yes] cpufreq: policy0 (cpus 0-3), policy4 (cpus 4-5), policy6 (cpus 6-7)" in proc.stdout
    assert "policy4 (cpus 4-5): 2.26 GHz now, allowed up to 2.40 GHz, hardware maximum 2.40 GHz" in proc.stdout


def _freq(cur: float, top: float = 2400.0) -> dict[str, PolicyFreq]:
    return {"policy0": PolicyFreq(cur, top, 2400.0)}


def test_two_low_samples_in_a_row_while_running_are_throttling():
    f = FrequencyThrottle()
    busy = {"policy0": 1.0}
    assert f.update(_freq(2400), busy, running=True) == []
    assert f.update(_freq(1500), busy, running=True) == []  # one low sample: a governor stepping
    assert f.update(_freq(1500), busy, running=True) == ["policy0"]
    assert f.update(_freq(2400), busy, running=True) == []


def test_a_low_clock_outside_the_inference_or_on_an_idle_cluster_is_not_throttling():
    f = FrequencyThrottle()
    for _ in range(3):
        assert f.update(_freq(1500), {"policy0": 1.0}, running=False) == []
    for _ in range(3):  # the little cores idle while the big ones decode: clocked down by design
        assert f.update(_freq(1500), {"policy0": 0.1}, running=True) == []
    # exactly at 90% is not below it
    assert f.update(_freq(2160), {"policy0": 1.0}, running=True) == []
    assert f.update(_freq(2160), {"policy0": 1.0}, running=True) == []


def test_a_ceiling_lowered_by_a_cooling_device_is_throttling():
    f = FrequencyThrottle()
    busy = {"policy0": None}  # CPUs this machine does not have (a fixture of another board): judged
    assert f.update(_freq(2400, 2400), busy, running=True) == []
    assert f.update(_freq(1800, 1800), busy, running=True) == []
    assert f.update(_freq(1800, 1800), busy, running=True) == ["policy0"]


def test_where_the_hardware_picks_the_clock_only_a_lowered_ceiling_counts(tmp_path):
    policy = tmp_path / POLICIES / "policy0"
    policy.mkdir(parents=True)
    for name, value in (("related_cpus", "0-7"), ("scaling_driver", "intel_pstate"), ("scaling_cur_freq", "3800000"),
                        ("scaling_max_freq", "4700000"), ("cpuinfo_max_freq", "4700000")):
        (policy / name).write_text(value + "\n")
    assert CpuFreq(context(tmp_path)).hardware_clocked() == {"policy0"}
    assert CpuFreq(context(FIXTURES / "rock5b")).hardware_clocked() == set()  # cpufreq-dt: the kernel sets it
    f = FrequencyThrottle(ceiling_only={"policy0"})
    busy = {"policy0": 1.0}
    for _ in range(3):  # all cores busy run below the one-core turbo: by design, not throttling
        assert f.update(_freq(3800, 4700), busy, running=True) == []
    assert f.update(_freq(3000, 3000), busy, running=True) == []
    assert f.update(_freq(3000, 3000), busy, running=True) == ["policy0"]  # a power or thermal limit lowered it


def _sampler(root) -> Sampler:
    sampler = Sampler(SensorSet(context(root)), hz=10)
    # the fixture's CPUs are another board's: say they are busy, as while the model decodes
    sampler._busy.busiest = lambda policies: {p: 1.0 for p in policies}  # type: ignore[method-assign]
    return sampler


def test_the_busiest_cpu_of_each_policy_is_read_from_this_machine():
    busy = CpuBusy()
    assert busy.busiest({"all": (0,), "elsewhere": (4096,)}) == {"all": None, "elsewhere": None}  # no interval yet
    time.sleep(0.1)  # a few clock ticks on every CPU
    shares = busy.busiest({"all": tuple(range(os.cpu_count() or 1)), "elsewhere": (4096,)})
    assert shares["all"] is not None and 0.0 <= shares["all"] <= 1.0
    assert shares["elsewhere"] is None  # a CPU this machine does not have: not known here


def test_the_sampler_records_each_policy_and_throttling_by_cpufreq(tmp_path):
    root = copy_fixture(tmp_path, "rock5b")
    sampler = _sampler(root)
    sampler.set_phase("decode")
    s: Sample = sampler.sample_once()
    assert s["cpu_mhz"] == {"policy0": 1800.0, "policy4": 2256.0, "policy6": 2400.0}
    assert s["cpu_max_mhz"] == {"policy0": 1800.0, "policy4": 2400.0, "policy6": 2400.0}
    assert s["throttled"] is False and "throttle_source" not in s
    assert "cpufreq" not in s["readings"]  # once, in cpu_mhz, not twice
    (root / POLICIES / "policy6/scaling_cur_freq").write_text("1416000\n")
    assert sampler.sample_once()["throttled"] is False
    s = sampler.sample_once()
    assert s["throttled"] is True and s["throttle_source"] == ["cpufreq"] and s["cpu_held"] == ["policy6"]
    sampler.set_phase("between")  # the child waits: a low clock now says nothing
    assert sampler.sample_once()["throttled"] is False


def test_a_board_flag_and_cpufreq_are_told_apart(tmp_path):
    root = copy_fixture(tmp_path, "rpi5")  # its firmware file says 50005: throttled now
    sampler = _sampler(root)
    s = sampler.sample_once()
    assert s["throttled"] is True and s["throttle_source"] == ["board flag"]
    (root / "sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled").write_text("0\n")
    assert sampler.sample_once()["throttled"] is False


def test_without_cpufreq_or_flags_throttling_stays_unknown(tmp_path):
    root = tmp_path / "bare"
    (root / "sys/class/thermal/thermal_zone0").mkdir(parents=True)
    (root / "sys/class/thermal/thermal_zone0/temp").write_text("50000\n")
    s = _sampler(root).sample_once()
    assert s["throttled"] is None and "cpu_mhz" not in s
