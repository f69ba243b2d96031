"""repetitions = "auto" ([stats]): each configuration stops as soon as the decode rate's 95%
half-width is under target_ci_pct percent of its mean (from min_repetitions on), or at
max_repetitions; repetitions already on disk count towards the rule on resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

from edgetui.profiles.plan import expand
from edgetui.profiles.schema import load_profile
from edgetui.run.aggregate import result_row
from edgetui.run.schedule import AutoSchedule, FixedSchedule, Step, precise_enough, schedule_for
from edgetui.rundir.events import RepEnd, RepStart, decode_event
from edgetui.rundir.store import read_jsonl

from conftest import EDGETUI, REPO, run_cli, write_profile


def drive(schedule, decode_rates):
    """Run a schedule as the runner does, each counted repetition giving the next of these rates."""
    rates = iter(decode_rates)
    taken = []
    for step in schedule.steps():
        taken.append(step)
        schedule.record(step, {"decode_tps": 0.0 if step.warmup else next(rates)})
    return taken


def auto(**over):
    kw = {"warmup": 1, "min_repetitions": 3, "max_repetitions": 8, "target_ci_pct": 2.0}
    kw.update(over)
    return AutoSchedule(**kw)


def test_it_stops_at_the_target_once_the_minimum_is_reached():
    # 100, 100.5, 99.5: sd 0.5, half-width 4.303 * 0.5 / sqrt(3) = 1.24 = 1.24% of the mean (< 2%)
    taken = drive(auto(), [100.0, 100.5, 99.5, 100.0, 100.0])
    assert taken == [Step(0, True), Step(0, False), Step(1, False), Step(2, False)]
    # two agreeing repetitions are not enough below min_repetitions
    assert len(drive(auto(min_repetitions=3), [100.0, 100.0, 100.0, 100.0])) == 1 + 3


def test_it_stops_at_the_maximum_when_the_target_is_never_met():
    taken = drive(auto(max_repetitions=6), [100.0, 130.0, 70.0, 120.0, 80.0, 110.0, 90.0])
    assert [s.rep for s in taken if not s.warmup] == [0, 1, 2, 3, 4, 5]


def test_a_looser_target_stops_sooner():
    noisy = [100.0, 104.0, 97.0, 102.0, 99.0, 101.0, 100.0, 98.0]
    counts = [len(drive(auto(target_ci_pct=t), noisy)) - 1 for t in (10.0, 2.0, 0.1)]
    assert counts[0] <= counts[1] <= counts[2] == 8 and counts[0] == 3


def test_repetitions_on_disk_count_towards_the_rule_on_resume():
    # two on disk: the third (index 2) settles it; the warm-up runs first, as for any fresh load
    s = auto(decode_tps={0: 100.0, 1: 100.5})
    assert drive(s, [99.5]) == [Step(0, True), Step(2, False)]
    # three on disk already precise enough: nothing runs, not even a warm-up
    assert drive(auto(decode_tps={0: 100.0, 1: 100.5, 2: 99.5}), []) == []
    # a gap left by the crash is filled first
    assert [st.rep for st in drive(auto(decode_tps={0: 100.0, 2: 100.5}), [99.5]) if not st.warmup] == [1]


def profile(tmp_path: Path, extra: str, repetitions: str = '"auto"') -> Path:
    return write_profile(tmp_path / "auto.toml", f"""
name = "auto"
repetitions = {repetitions}
warmup = 0
idle_baseline_s = 0
[[models]]
name = "smollm2-135m-q4_1"
[sweep]
n_threads = [2]
n_ctx = [128]
[workload]
prompt_tokens = [8]
gen_tokens = 24
{extra}
""")


def test_the_profile_gives_each_configuration_its_rule(tmp_path):
    p = load_profile(profile(tmp_path, ""))
    assert p.stats is not None and (p.stats.target_ci_pct, p.stats.min_repetitions, p.stats.max_repetitions) == (
        2.0, 3, 20)
    c = expand(p)[0]
    assert (c.repetitions, c.min_repetitions, c.target_ci_pct) == (20, 3, 2.0)  # repetitions: the upper bound
    assert isinstance(schedule_for(c, {}), AutoSchedule) and schedule_for(c, {}).planned is None
    fixed = expand(load_profile(profile(tmp_path, "", repetitions="4")))[0]
    assert (fixed.repetitions, fixed.target_ci_pct) == (4, None) and isinstance(schedule_for(fixed, {}),
                                                                               FixedSchedule)
    assert c.config_id == fixed.config_id  # the same measurement: resume and merge see one configuration


def test_results_say_whether_the_target_was_met():
    cfg = {"config_id": "c", "profile": "p", "engine": "llama_cpp", "model": "m", "n_threads": 2, "n_gpu_layers": 0,
           "n_ctx": 512, "n_batch": 512, "flash_attn": "auto", "kv_cache_type": "f16", "prompt_tokens": 8,
           "gen_tokens": 8, "target_ci_pct": 2.0, "min_repetitions": 3}
    reps = [{"rep": i, "decode_tps": v} for i, v in enumerate((100.0, 100.5, 99.5))]
    assert result_row(cfg, reps, status="done", error=None, context={})["ci_target_met"] is True
    wide = [{"rep": i, "decode_tps": v} for i, v in enumerate((100.0, 130.0, 70.0))]
    assert result_row(cfg, wide, status="done", error=None, context={})["ci_target_met"] is False
    assert result_row(cfg, reps[:2], status="skipped", error=None, context={})["ci_target_met"] is False


def test_the_log_line_of_an_auto_repetition_says_its_bound():
    end = RepEnd(config_id="c", rep=3, of=None, auto_max=20, decode_tps=50.0)
    assert end.line(asked_tokens=8, of=20).startswith("  rep 4 (auto, ≤20): decode 50.0")
    assert decode_event(RepStart(rep=0, of=None, auto_max=20).record()).auto_max == 20
    assert RepEnd(rep=1, of=5).line(asked_tokens=None).startswith("  rep 2/5:")


def _rows(out: Path) -> list[dict]:
    with (out / "results.csv").open() as f:
        return list(csv.DictReader(f))


def test_a_real_run_stops_at_the_target_or_at_the_maximum(tmp_path, smollm2_path):
    # a loose target: where it stopped must be where the rule says, replayed on the recorded rates
    # (this machine's noise decides when; the test holds for any noise)
    loose = run_cli("run", str(profile(tmp_path, "[stats]\ntarget_ci_pct = 100\nmin_repetitions = 2\n"
                                                 "max_repetitions = 6")), "--headless", "--out", str(tmp_path / "a"),
                    "--sysfs-root", str(tmp_path))
    assert loose.returncode == 0, loose.stdout + loose.stderr
    rates = [r["decode_tps"] for r in read_jsonl(tmp_path / "a" / "repetitions.jsonl") if not r["warmup"]]
    expected = next((n for n in range(2, 7) if precise_enough(rates[:n], 100.0)), 6)
    row = _rows(tmp_path / "a")[0]
    assert len(rates) == int(row["repetitions"]) == expected
    assert row["ci_target_met"] == ("true" if precise_enough(rates, 100.0) else "false")
    assert f"rep {expected} (auto, ≤6)" in loose.stdout and f"rep {expected + 1} " not in loose.stdout
    assert row["decode_tps_ci95"] != ""
    # a target no run can meet: the maximum
    tight = run_cli("run", str(profile(tmp_path, "[stats]\ntarget_ci_pct = 0.000001\nmax_repetitions = 4")),
                    "--headless", "--out", str(tmp_path / "b"), "--sysfs-root", str(tmp_path))
    assert tight.returncode == 0, tight.stdout + tight.stderr
    assert [(r["repetitions"], r["ci_target_met"]) for r in _rows(tmp_path / "b")] == [("4", "false")]


def test_resume_of_an_auto_run_counts_what_is_on_disk(tmp_path, smollm2_path):
    out = tmp_path / "out"
    p = profile(tmp_path, "[stats]\ntarget_ci_pct = 0.000001\nmax_repetitions = 5")
    proc = subprocess.Popen([*EDGETUI, "run", str(p), "--headless", "--out", str(out), "--sysfs-root", str(tmp_path)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while len([r for r in read_jsonl(out / "repetitions.jsonl")] if (out / "repetitions.jsonl").exists() else []) < 2:
        assert time.monotonic() < deadline, "no two repetitions in time"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [r["rep"] for r in read_jsonl(out / "repetitions.jsonl")]
    assert 2 <= len(before) < 5
    resumed = run_cli("run", "--resume", str(out), "--headless", "--sysfs-root", str(tmp_path))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    reps = sorted(r["rep"] for r in read_jsonl(out / "repetitions.jsonl") if not r["warmup"])
    assert reps == [0, 1, 2, 3, 4]  # the maximum in all, counting those before the kill, none twice
    assert [(r["repetitions"], r["ci_target_met"]) for r in _rows(out)] == [("5", "false")]
