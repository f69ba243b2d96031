"""Short soaks of the bundled SmolLM2 on a fixture root whose thermal zone and cpufreq policy the
test rewrites while the soak runs: the time to throttle is found within a sample or two of the
write, a soak left alone records none, and a soak killed with SIGKILL and resumed gives one
continuous window."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edgetui.rundir.store import read_jsonl

from conftest import EDGETUI, REPO, run_cli, write_profile

HZ = 10.0
PROFILE = """
name = "soak"
warmup = 1
idle_baseline_s = 0
sample_hz = {hz}
[[models]]
name = "smollm2-135m-q4_1"
[sweep]
n_threads = [1]
n_ctx = [128]
[workload]
prompt_tokens = [8]
gen_tokens = 8
soak_s = {soak_s}
"""
POLICY = "sys/devices/system/cpu/cpufreq/policy0"
ZONE = "sys/class/thermal/thermal_zone0"


def _root(tmp_path: Path) -> Path:
    """A board with one thermal zone and one cpufreq policy over every CPU of this machine (the
    inference's threads run on some of them, so the policy is busy while it decodes)."""
    root = tmp_path / "root"
    (root / ZONE).mkdir(parents=True)
    (root / ZONE / "type").write_text("cpu-thermal\n")
    (root / ZONE / "temp").write_text("50000\n")
    policy = root / POLICY
    policy.mkdir(parents=True)
    cpus = f"0-{(os.cpu_count() or 1) - 1}"
    for name, value in (("related_cpus", cpus), ("affected_cpus", cpus), ("cpuinfo_max_freq", "2400000"),
                        ("scaling_max_freq", "2400000"), ("scaling_cur_freq", "2400000")):
        (policy / name).write_text(value + "\n")
    return root


def _start(tmp_path: Path, root: Path, soak_s: float, out: Path) -> subprocess.Popen:
    profile = write_profile(tmp_path / "soak.toml", PROFILE.format(hz=HZ, soak_s=soak_s))
    return subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out), "--sysfs-root",
                             str(root)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_for(predicate, timeout: float = 180.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _window_start_t(out: Path) -> float | None:
    """The runner's clock when the soak's first counted repetition started (its rep_start event)."""
    return next((e["t"] for e in read_jsonl(out / "events.jsonl") if e.get("ev") == "rep_start"
                 and not e.get("warmup")), None) if (out / "events.jsonl").exists() else None


def _row(out: Path) -> dict:
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    return rows[0]


def _counted(out: Path) -> list[dict]:
    return [r for r in read_jsonl(out / "repetitions.jsonl") if not r["warmup"]]


def test_throttling_written_mid_soak_is_found_within_a_sample_or_two(tmp_path, smollm2_path):
    root, out = _root(tmp_path), tmp_path / "out"
    proc = _start(tmp_path, root, 6, out)
    _wait_for(lambda: _window_start_t(out) is not None, what="the soak window to start")
    time.sleep(1.5)
    (root / ZONE / "temp").write_text("85000\n")
    (root / POLICY / "scaling_cur_freq").write_text("1500000\n")  # 62.5% of its ceiling
    written = time.monotonic()  # the runner's clock too (CLOCK_MONOTONIC is the machine's)
    stdout, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, stdout
    row = _row(out)
    w0 = min(r["t_start"] for r in _counted(out))
    assert row["throttled"] == "true" and row["throttle_source"] == "cpufreq"
    found = float(row["time_to_throttle_s"])
    # the first sample after the write is low, the next one confirms it (a sample in the gap
    # between two repetitions waits for the one after)
    assert 0.0 < found - (written - w0) <= 3.5 / HZ, (found, written - w0)
    assert float(row["temp_c_steady"]) == 85.0  # the last quarter (from 4.5 s) is all after the write
    assert float(row["soak_s"]) == 6.0 and int(row["repetitions"]) == len(_counted(out)) >= 2
    assert float(row["sustained_tps"]) > 0 and row["tps_drop_pct"] != ""
    samples = list(read_jsonl(out / "samples.jsonl"))
    assert {s["cpu_max_mhz"]["policy0"] for s in samples if "cpu_max_mhz" in s} == {2400.0}
    assert any(s.get("cpu_mhz", {}).get("policy0") == 1500.0 and s.get("throttled") for s in samples)


def test_a_soak_left_alone_records_no_throttling(tmp_path, smollm2_path):
    root, out = _root(tmp_path), tmp_path / "out"
    proc = _start(tmp_path, root, 3, out)
    stdout, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, stdout
    row = _row(out)
    assert row["throttled"] == "false" and row["throttle_source"] == "" and row["time_to_throttle_s"] == ""
    assert float(row["temp_c_steady"]) == 50.0
    reps = _counted(out)
    window = reps[-1]["t_end"] - reps[0]["t_start"]
    assert window >= 3.0 and window - (reps[-1]["t_end"] - reps[-1]["t_start"]) < 3.0  # the last one started inside
    # back to back: no cool-down between the repetitions of the window
    gaps = [b["t_start"] - a["t_end"] for a, b in zip(reps, reps[1:])]
    assert gaps and max(gaps) < 0.5


def test_a_soak_killed_and_resumed_gives_one_continuous_window(tmp_path, smollm2_path):
    root, out = _root(tmp_path), tmp_path / "out"
    proc = _start(tmp_path, root, 5, out)
    _wait_for(lambda: (out / "repetitions.jsonl").exists() and len(_counted(out)) >= 2,
              what="two repetitions of the soak")
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its inference child, mid-window
    proc.wait()
    before = _counted(out)
    resumed = run_cli("run", "--resume", str(out), "--headless", "--sysfs-root", str(root), timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = _counted(out)
    assert after[: len(before)] == before  # the cut-short window stays on disk, as it was
    keys = [r["rep"] for r in after]
    assert len(keys) == len(set(keys))  # numbered on: never taken for copies
    window = [r for r in after if r["soak_window"] == after[-1]["soak_window"]]
    assert window[0]["rep"] == max(r["rep"] for r in before) + 1 and window == after[len(before):]
    row = _row(out)
    assert row["status"] == "done" and int(row["repetitions"]) == len(window)
    assert window[-1]["t_end"] - window[0]["t_start"] >= 5.0
    assert all(b["t_start"] >= a["t_end"] for a, b in zip(window, window[1:]))
    # the row's figures are the new window's: its first-quarter decode is the resumed runner's
    assert float(row["decode_tps_mean"]) == pytest.approx(sum(r["decode_tps"] for r in window) / len(window))
