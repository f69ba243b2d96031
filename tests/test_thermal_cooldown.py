"""Cool-down before each configuration until the hottest zone is below a threshold, with a time
limit, read from a fixture thermal zone that the test heats and cools."""

from __future__ import annotations

import subprocess
import time

from edgetui.rundir.store import read_jsonl

from conftest import EDGETUI, REPO, write_profile

PROFILE = """
name = "cool"
repetitions = 1
warmup = 0
idle_baseline_s = 0
cool_below_c = 60
cool_max_s = {max_s}
[[models]]
name = "smollm2-135m-q4_1"
[sweep]
n_threads = [2]
n_ctx = [128]
[workload]
prompt_tokens = [8]
gen_tokens = 8
"""


def _zone(root, milli_c: int):
    z = root / "sys/class/thermal/thermal_zone0"
    z.mkdir(parents=True, exist_ok=True)
    (z / "type").write_text("cpu-thermal\n")
    (z / "temp").write_text(f"{milli_c}\n")
    return z / "temp"


def test_waits_until_cool_then_runs(tmp_path, smollm2_path):
    temp = _zone(tmp_path / "root", 80_000)
    out = tmp_path / "out"
    proc = subprocess.Popen([*EDGETUI, "run", str(write_profile(tmp_path / "p.toml", PROFILE.format(max_s=120))),
                             "--headless", "--out", str(out), "--sysfs-root", str(tmp_path / "root")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(e.get("phase") == "cooldown" for e in read_jsonl(out / "events.jsonl")):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("never waited for the board to cool")
    time.sleep(1.5)
    assert not list(read_jsonl(out / "repetitions.jsonl"))  # still waiting while hot
    temp.write_text("50000\n")  # the board cools
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout
    waits = [e for e in read_jsonl(out / "events.jsonl") if e.get("phase") == "cooldown"]
    assert waits[0]["temp_c"] == 80.0 and waits[0]["target_c"] == 60.0
    assert len(list(read_jsonl(out / "repetitions.jsonl"))) == 1


def test_gives_up_after_the_time_limit_and_goes_on(tmp_path, smollm2_path):
    _zone(tmp_path / "root", 90_000)
    out = tmp_path / "out"
    proc = subprocess.run([*EDGETUI, "run", str(write_profile(tmp_path / "p.toml", PROFILE.format(max_s=2))),
                           "--headless", "--out", str(out), "--sysfs-root", str(tmp_path / "root")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "still above 60 C after 2 s: going on" in proc.stdout
    rows = list(read_jsonl(out / "repetitions.jsonl"))
    assert len(rows) == 1 and rows[0]["temp_c_max"] == 90.0
