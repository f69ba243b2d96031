"""The console's following of a run folder: byte-offset tailing, aggregation per tick, bounded
histories, runner death, and which run `edgetui` opens at start. No Textual involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from edgetui.fmt import duration as fmt_duration
from edgetui.run.session import RunFollower
from edgetui.rundir.follow import HISTORY, LOG_LINES, JsonlTail, LiveState
from edgetui.rundir.layout import RUNNER_LOG, SEEN_MARK
from edgetui.rundir.state import list_runs, mark_seen, run_to_open


def line(rec: dict) -> str:
    return json.dumps(rec) + "\n"


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


# ---------------------------------------------------------------------- JsonlTail
def test_tail_returns_only_new_complete_lines(tmp_path):
    p = tmp_path / "e.jsonl"
    tail = JsonlTail(p)
    assert tail.read() == []  # no file yet: nothing, no error
    append(p, line({"n": 1}) + line({"n": 2}))
    assert [r["n"] for r in tail.read()] == [1, 2]
    assert tail.read() == []
    append(p, line({"n": 3}))
    assert [r["n"] for r in tail.read()] == [3]


def test_tail_waits_for_a_partial_line_to_complete(tmp_path):
    p = tmp_path / "e.jsonl"
    whole = line({"n": 1, "text": "x" * 50})
    append(p, whole[:20])
    tail = JsonlTail(p)
    assert tail.read() == []
    append(p, whole[20:])
    assert tail.read() == [{"n": 1, "text": "x" * 50}]


def test_tail_skips_a_torn_line_and_goes_on(tmp_path):
    # a crash mid-write leaves half a line; the resumed runner appends after it
    p = tmp_path / "e.jsonl"
    append(p, line({"n": 1}) + '{"n": 2, "tor' + line({"n": 3}) + line({"n": 4}))
    assert [r["n"] for r in JsonlTail(p).read()] == [1, 4]


def test_tail_reads_a_replaced_or_truncated_file_from_its_start(tmp_path):
    p = tmp_path / "e.jsonl"
    append(p, line({"n": 1}) + line({"n": 2}))
    tail = JsonlTail(p)
    tail.read()
    p.write_text(line({"n": 9}))  # shorter than the offset
    assert tail.read() == [{"n": 9}]


def test_tail_reads_a_backlog_in_bounded_chunks(tmp_path):
    p = tmp_path / "e.jsonl"
    append(p, "".join(line({"n": i, "pad": "y" * 80}) for i in range(1000)))
    tail = JsonlTail(p, max_bytes=4096)
    got = tail.read()
    assert 0 < len(got) < 1000 and tail.pending
    while tail.pending:
        got += tail.read()
    assert [r["n"] for r in got] == list(range(1000))


def test_tail_can_start_near_the_end_and_skip_lines_unparsed(tmp_path):
    p = tmp_path / "s.jsonl"
    append(p, "".join(line({"n": i}) for i in range(1000)))
    tail = JsonlTail(p)
    tail.start_near_end(200)
    got = tail.read()
    assert got and got[-1]["n"] == 999 and len(got) < 30
    assert all(set(r) == {"n"} for r in got)  # the cut first line was dropped, not half-parsed
    q = tmp_path / "e.jsonl"
    append(q, line({"ev": "progress"}) + line({"ev": "rep_end"}))
    assert JsonlTail(q).read(skip=lambda raw: b'"progress"' in raw) == [{"ev": "rep_end"}]


# ---------------------------------------------------------------------- LiveState
def config_start(cid: str, index: int, n: int, reps: int = 2, warmup: int = 1, t: float = 10.0) -> dict:
    return {"ev": "config_start", "config_id": cid, "index": index, "n": n, "describe": f"model {cid}",
            "config": {"repetitions": reps, "warmup": warmup}, "t": t}


def rep(cid: str, r: int, warm: bool, decode: float, prefill: float, t0: float, t1: float, energy=None) -> list[dict]:
    return [
        {"ev": "rep_start", "config_id": cid, "rep": r, "warmup": warm, "of": 2, "t": t0},
        {"ev": "rep_end", "config_id": cid, "rep": r, "warmup": warm, "decode_tps": decode, "prefill_tps": prefill,
         "ttft_ms": 50.0, "energy_j": energy, "gen_tokens_actual": 32, "t": t1},
    ]


def test_decode_rate_live_from_progress_and_per_repetition_from_the_engine():
    s = LiveState()
    s.feed_event(config_start("a", 1, 1))
    s.feed_event({"ev": "rep_start", "config_id": "a", "rep": 0, "warmup": False, "t": 11.0})
    for tokens, t in ((0, 11.0), (1, 11.1), (26, 11.35), (51, 11.6)):
        phase = "prefill" if tokens == 0 else "decode"
        s.feed_event({"ev": "progress", "config_id": "a", "rep": 0, "warmup": False, "phase": phase,
                      "tokens": tokens, "t": t})
    assert s.decoding
    assert abs(s.decode_now - 100.0) < 1e-6  # 25 tokens in 0.25 s
    assert list(s.decode_history) == [100.0, 100.0]
    s.feed_events(rep("a", 0, False, 97.0, 400.0, 11.0, 11.7)[1:])
    assert not s.decoding and s.decode_now is None
    assert s.decode_history[-1] == 97.0 and s.prefill_history[-1] == 400.0


def test_a_new_configuration_starts_with_no_last_repetition():
    s = LiveState()
    s.feed_event(config_start("a", 1, 2))
    s.feed_events(rep("a", 0, False, 100.0, 300.0, 11, 12))
    assert s.last_rep.decode_tps == 100.0
    s.feed_event(config_start("b", 2, 2, t=13.0))
    assert s.last_rep is None  # the pane is about configuration b: a's figures must not show as b's


def test_warmup_is_shown_but_not_counted_in_the_means():
    s = LiveState()
    s.feed_event(config_start("a", 1, 1))
    s.feed_events(rep("a", 0, True, 50.0, 100.0, 11, 12))
    s.feed_events(rep("a", 0, False, 100.0, 300.0, 12, 13))
    s.feed_events(rep("a", 1, False, 110.0, 310.0, 13, 14))
    assert s.current.decode_tps == [100.0, 110.0]
    assert s.decode_mean_run == 105.0 and s.prefill_mean_run == 305.0
    assert list(s.decode_history) == [50.0, 100.0, 110.0]
    assert s.current.warmups_done == 1 and s.current.reps_done == 2


def test_a_failed_configuration_is_logged_with_its_reason_and_counted():
    s = LiveState()
    s.feed_event(config_start("a", 1, 2))
    s.feed_event({"ev": "config_end", "config_id": "a", "status": "failed",
                  "error": "EngineError: cannot connect\nsecond line", "t": 12})
    s.feed_event(config_start("b", 2, 2))
    s.feed_event({"ev": "config_end", "config_id": "b", "status": "done", "error": None, "t": 13})
    assert s.counts() == {"done": 1, "failed": 1, "skipped": 0}
    errors = [entry.text for entry in s.log if entry.style == "error"]
    assert any("FAILED: EngineError: cannot connect" in e for e in errors)
    assert any("second line" in e for e in errors)


def test_no_power_sensor_stays_missing_never_zero():
    s = LiveState({"power_source": "no power sensor (hwmon: none)"})
    for i in range(5):
        s.feed_sample({"t": i, "phase": "decode", "power_w": None, "temp_c_max": None, "throttled": None,
                       "rss_mb": 150.0, "v": {}})
    assert not s.power_seen and list(s.power_history) == []
    assert s.temp_peak is None and list(s.temp_history) == []
    assert s.energy_reps_j is None
    s.feed_events(rep("a", 0, False, 100.0, 300.0, 1, 2, energy=None))
    assert s.energy_reps_j is None


def test_energy_so_far_sums_the_runners_repetition_energies():
    s = LiveState()
    s.feed_event(config_start("a", 1, 1))
    s.feed_events(rep("a", 0, True, 100.0, 300.0, 1, 2, energy=2.0))
    s.feed_events(rep("a", 0, False, 100.0, 300.0, 2, 3, energy=3.5))
    assert s.energy_reps_j == 5.5
    assert s.current.energy_j == [3.5]  # the configuration's J/token uses counted repetitions only


def test_throttling_is_flagged_when_it_happens_and_remembered():
    s = LiveState()
    s.feed_event(config_start("a", 1, 1))
    base = {"phase": "decode", "power_w": 5.0, "rss_mb": 100.0, "v": {}}
    s.feed_sample({**base, "t": 1, "temp_c_max": 70.0, "temp_zone": "cpu", "throttled": False})
    assert s.throttled_now is False and s.throttle_events == 0
    s.feed_sample({**base, "t": 2, "temp_c_max": 86.0, "temp_zone": "cpu", "throttled": True})
    s.feed_sample({**base, "t": 3, "temp_c_max": 86.5, "temp_zone": "cpu", "throttled": True})
    s.feed_sample({**base, "t": 4, "temp_c_max": 80.0, "temp_zone": "cpu", "throttled": False})
    assert s.throttle_events == 1 and s.throttled_configs == {"a"}
    assert s.temp_peak == 86.5
    assert any("THROTTLING during a" in entry.text for entry in s.log)


def test_rails_and_zones_come_from_the_generic_readings_map():
    s = LiveState()
    s.feed_sample({"t": 1, "phase": "idle", "power_w": 6.4, "v": {
        "jetson:power:VDD_IN": 6.4, "jetson:power:VDD_SOC": 1.4, "jetson:power:VDD_CPU_GPU_CV": 1.8,
        "thermal:temperature:cpu-thermal": 47.7, "thermal:temperature:gpu-thermal": 46.5,
        "jetson:load:gpu": 51.2}})
    assert s.readings("power") == [("jetson", "VDD_IN", 6.4), ("jetson", "VDD_CPU_GPU_CV", 1.8),
                                   ("jetson", "VDD_SOC", 1.4)]
    assert [name for _, name, _ in s.readings("temperature")] == ["cpu-thermal", "gpu-thermal"]


def test_histories_and_log_stay_bounded_over_a_long_run():
    s = LiveState()
    s.feed_event(config_start("a", 1, 1, reps=100000))
    for i in range(20000):
        s.feed_sample({"t": i * 0.1, "phase": "decode", "power_w": 5.0 + i % 3, "temp_c_max": 50.0,
                       "rss_mb": 100.0, "throttled": i % 2 == 0, "v": {}})
        if i % 10 == 0:
            s.feed_events(rep("a", i, False, 100.0, 300.0, i, i + 1))
    assert len(s.power_history) == HISTORY and len(s.decode_history) == HISTORY
    assert len(s.log) == LOG_LINES


def test_eta_uses_measured_pace_and_reaches_zero_at_the_end():
    manifest = {"configs": [
        {"profile": "p", "engine": "llama_cpp", "engine_url": None, "model": "m", "model_name": "m",
         "model_path": None, "n_threads": t, "n_gpu_layers": 0, "n_ctx": 256, "n_batch": 512, "flash_attn": "auto",
         "kv_cache_type": "f16", "prompt_tokens": 32, "prompt": None, "gen_tokens": 32, "repetitions": 2,
         "warmup": 1} for t in (1, 2)]}
    s = LiveState(manifest)
    first, second = s.configs
    s.feed_event({"ev": "run_start", "n_configs": 2, "t": 0.0})
    s.feed_event(config_start(first.config_id, 1, 2, reps=2, warmup=1, t=1.0))
    s.feed_events(rep(first.config_id, 0, True, 100.0, 300.0, 2.0, 4.0))  # a repetition takes 2 s here
    eta = s.eta(now=4.0)
    assert eta is not None and eta > 4.0  # two more repetitions of 2 s, then the second configuration
    s.feed_event({"ev": "run_end", "status": "finished", "t": 20.0})
    assert s.eta(now=25.0) == 0.0
    assert s.elapsed(now=99.0) == 20.0
    assert fmt_duration(65) == "1m05s" and fmt_duration(None) == "n/a"


# ---------------------------------------------------------------------- RunFollower and start-up
def write_manifest(run_dir: Path, **fields) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps({"schema": 1, "configs": [], **fields}))


def test_a_runner_that_dies_without_ending_the_run_is_reported_with_its_log(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / RUNNER_LOG).write_text("loading\nTraceback (most recent call last):\nMemoryError\n")
    append(run_dir / "events.jsonl", line({"ev": "run_start", "n_configs": 3, "t": 1.0}))
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    f = RunFollower(run_dir, process=proc)
    f.poll()
    assert f.died is not None and "exit code 3" in f.died and "MemoryError" in f.died
    assert not f.active
    assert any("runner stopped unexpectedly" in entry.text for entry in f.state.log)


def test_a_runner_that_ended_the_run_is_not_reported_dead(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    append(run_dir / "events.jsonl", line({"ev": "run_start", "n_configs": 1, "t": 1.0})
           + line({"ev": "run_end", "status": "finished", "t": 2.0}))
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    f = RunFollower(run_dir, process=proc)
    f.poll()
    assert f.ended and f.died is None


def test_attached_runner_liveness_comes_from_the_manifest_pid(tmp_path):
    run_dir = tmp_path / "run"
    write_manifest(run_dir, status="running", runner_pid=4242)
    alive = {4242: True}
    f = RunFollower(run_dir, attach=True, alive=lambda pid: alive.get(pid, False), clock=iter(range(0, 100, 5)).__next__)
    f.poll()
    assert f.active
    alive[4242] = False
    f.poll()
    assert f.died is not None and "4242" in f.died


def test_start_up_attaches_to_a_live_run_before_anything_else(tmp_path):
    runs = tmp_path / "runs"
    write_manifest(runs / "20260101-100000-a", status="finished")
    (runs / "20260101-100000-a" / RUNNER_LOG).touch()
    write_manifest(runs / "20260101-090000-b", status="running", runner_pid=111)
    info = run_to_open(runs, alive=lambda pid: pid == 111)
    assert info is not None and info.path.name == "20260101-090000-b" and info.status == "running"


def test_start_up_shows_a_run_that_ended_while_no_console_watched_once(tmp_path):
    runs = tmp_path / "runs"
    newest = runs / "20260101-100000-a"
    write_manifest(newest, status="finished")
    assert run_to_open(runs, alive=lambda pid: False) is None  # `edgetui run --headless` printed its own summary
    (newest / RUNNER_LOG).touch()  # started by a console that went away (an SSH drop)
    info = run_to_open(runs, alive=lambda pid: False)
    assert info is not None and info.path == newest
    mark_seen(newest)
    assert (newest / SEEN_MARK).exists()
    assert run_to_open(runs, alive=lambda pid: False) is None


def test_start_up_offers_an_interrupted_run(tmp_path):
    runs = tmp_path / "runs"
    write_manifest(runs / "20260101-100000-a", status="running", runner_pid=999999)
    [info] = list_runs(runs, alive=lambda pid: False)
    assert info.status == "interrupted"
    assert run_to_open(runs, alive=lambda pid: False).status == "interrupted"


def test_launch_runner_detaches_it_from_the_console_session(tmp_path):
    from edgetui.run.launch import launch_runner

    run_dir = tmp_path / "run"
    missing = tmp_path / "missing.toml"
    proc = launch_runner([missing], run_dir)
    # a session of its own, so a terminal hang-up never reaches it (an exited child stays a zombie,
    # with its session id, until it is waited for)
    assert os.getsid(proc.pid) == proc.pid != os.getsid(0)
    proc.wait(timeout=60)
    assert proc.returncode == 2
    assert "no such profile file" in (run_dir / RUNNER_LOG).read_text()
    # the console reports it as a dead runner with that message
    f = RunFollower(run_dir, process=proc)
    f.poll()
    assert f.died is not None and "no such profile file" in f.died


def test_outcomes_repeated_by_a_resumed_runner_are_logged_as_such():
    s = LiveState()
    s.feed_event({"ev": "run_start", "n_configs": 2, "resume": True, "t": 1.0})
    s.feed_event({"ev": "config_end", "config_id": "a", "status": "done", "error": None, "t": 1.1})
    assert s.counts()["done"] == 1
    assert any(entry.text == "a: done (recorded before the resume)" for entry in s.log)
    assert s.log[0].text.startswith("resumed")


# ---------------------------------------------------------------------- one definition each side
def test_every_event_kind_reads_back_as_the_runner_wrote_it():
    from edgetui.rundir.events import KINDS, ConfigStart, Phase, RepEnd, RunStart, decode_event
    from edgetui.sensors.base import PowerSource

    written = [
        RunStart(t=1.0, n_configs=2, pid=7, power=PowerSource("jetson", "VDD_IN", "module", "measured"),
                 power_source="jetson:VDD_IN (module, measured)", resume=True),
        Phase(t=2.0, phase="cooldown", temp_c=61.5, target_c=55.0),
        ConfigStart(t=3.0, config_id="a", index=1, n=2, describe="m t1", config={"repetitions": 3}),
        RepEnd(t=4.0, config_id="a", rep=0, of=3, decode_tps=100.0, energy_j=None, timing_flags=["decode: x"]),
    ]
    for ev in written:
        rec = json.loads(json.dumps(ev.record()))  # through the file's JSON
        assert next(iter(rec)) == "ev" and "energy_j" not in rec  # kind first; a missing value not written
        assert decode_event(rec) == ev
    assert set(KINDS) >= {"run_start", "phase", "idle", "config_start", "rep_start", "progress", "rep_end",
                          "config_end", "warning", "run_end"}
    assert decode_event({"ev": "from_a_newer_edgetui", "t": 1.0}) is None
    assert decode_event({"ev": ["not", "a", "kind"]}) is None


def test_power_and_readings_are_fields_and_older_labels_read_the_same():
    from edgetui.rundir.samples import readings_of
    from edgetui.sensors.base import PowerSource

    src = PowerSource("jetson", "VDD_IN", "module", "measured")
    assert PowerSource.from_label(src.label) == src  # an older run folder's label, read back once
    none = PowerSource(reasons=("hwmon: no hwmon chips", "rapl: no RAPL zones"))
    assert none.label == "no power sensor (hwmon: no hwmon chips; rapl: no RAPL zones)"
    assert PowerSource.from_label(none.label) == none
    new = {"readings": {"jetson": {"power": {"VDD_IN": 6.4, "VDD_SOC": 1.4}, "load": {"gpu": 50.0}},
                        "thermal": {"temperature": {"cpu-thermal": 47.0}}}}
    old = {"v": {"jetson:power:VDD_IN": 6.4, "jetson:power:VDD_SOC": 1.4, "jetson:load:gpu": 50.0,
                 "thermal:temperature:cpu-thermal": 47.0}}
    for kind in ("power", "temperature", "load"):
        assert sorted(readings_of(new, kind)) == sorted(readings_of(old, kind))
    assert sorted(readings_of(new, "power")) == [("jetson", "VDD_IN", 6.4), ("jetson", "VDD_SOC", 1.4)]
    s = LiveState({"power": src.to_dict(), "power_source": src.label})
    legacy = LiveState({"power_source": src.label})
    assert s.power == legacy.power == src and s.power_source == legacy.power_source == src.label
