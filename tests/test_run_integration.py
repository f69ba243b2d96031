"""End to end on the real SmolLM2 model: the smoke profile, then a child killed mid-queue."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edgetui.rundir.store import RESULT_COLUMNS, read_jsonl

from conftest import EDGETUI, REPO, run_cli, smollm2_profile, write_profile

CONTRACT = RESULT_COLUMNS[: RESULT_COLUMNS.index("cpu_model") + 1]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, smollm2_path) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("smoke") / "out"
    empty_root = tmp_path_factory.mktemp("no-sensors")  # no power sensor: deterministic on any machine
    proc = run_cli("run", "profiles/smoke.toml", "--headless", "--out", str(out), "--sysfs-root", str(empty_root))
    return proc, out


def test_smoke_run_succeeds_with_a_line_per_repetition(smoke_run):
    proc, out = smoke_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("  rep ") == 3 and "warm-up" in proc.stdout
    assert "decode t/s" in proc.stdout  # the summary table


def test_the_console_logs_each_repetition_with_the_headless_runners_line(smoke_run):
    from edgetui.rundir.follow import LiveState

    proc, out = smoke_run
    state = LiveState()
    state.feed_events(read_jsonl(out / "events.jsonl"))
    printed = [line for line in proc.stdout.splitlines() if line.startswith(("  rep ", "  warm-up"))]
    logged = [line.text for line in state.log if line.text.startswith(("  rep ", "  warm-up"))]
    assert len(printed) == 4 and logged == printed


def test_the_headless_output_tells_the_run_in_the_consoles_words(smoke_run):
    """Every line the console's log shows of the run's events (its start, power source, each
    configuration's start, load, repetitions and outcome, the run's end) is the line the headless
    runner printed, in the same order: both come from rundir.narrate."""
    from edgetui.rundir.follow import LiveState

    proc, out = smoke_run
    state = LiveState()
    state.feed_events(read_jsonl(out / "events.jsonl"))
    logged = [line.text for line in state.log]
    printed = proc.stdout.splitlines()
    start = printed.index(logged[0])
    assert printed[start:start + len(logged)] == logged
    told = "\n".join(logged)
    for moment in ("run started: 1 configuration(s)", "power: no power sensor", "measuring idle baseline for 1 s",
                   "idle power: n/a (no power sensor", "[1/1] ", "  loading the model",
                   "  loaded in ", "  warm-up: decode ", "  rep 3/3: decode ", "  done", "run finished"):
        assert moment in told, moment


def test_results_csv_has_the_documented_columns_and_sane_numbers(smoke_run):
    _, out = smoke_run
    with (out / "results.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames[: len(CONTRACT)] == CONTRACT
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "done" and row["error"] == ""
    assert (row["repetitions"], row["prompt_tokens"], row["gen_tokens"]) == ("3", "32", "32")
    assert float(row["gen_tokens_mean"]) == 32  # tokens actually produced, not the cap
    assert row["quant"] == "Q4_1" and len(row["model_sha256"]) == 64
    assert 5 < float(row["decode_tps_mean"]) < 5000
    assert 5 < float(row["prefill_tps_mean"]) < 50000
    assert 0 < float(row["ttft_ms_mean"]) < 10000
    assert float(row["rss_mb_peak"]) > 50  # the child's memory was followed
    # no power sensor: empty, with the reason, never zero
    for col in ("power_w_mean", "power_w_idle", "energy_j_per_token", "net_energy_j_per_token", "tokens_per_joule"):
        assert row[col] == ""
    assert row["power_source"].startswith("no power sensor")
    assert row["flash_attn_in_force"] in ("on", "off")
    as_json = json.loads((out / "results.json").read_text())["rows"][0]
    assert as_json["config_id"] == row["config_id"]
    assert as_json["decode_tps_mean"] == pytest.approx(float(row["decode_tps_mean"]), rel=1e-5)


def test_repetitions_agree_with_llama_cpp_counters(smoke_run):
    _, out = smoke_run
    reps = list(read_jsonl(out / "repetitions.jsonl"))
    assert len(reps) == 3 and not any(r["warmup"] for r in reps)
    for r in reps:
        assert r["engine_prefill_n"] == 32  # exactly the requested prompt
        assert r["engine_decode_n"] == 31  # the first token comes from the prefill
        assert r["gen_tokens_actual"] == 32
        assert r["decode_tps"] == pytest.approx(r["engine_decode_n"] / (r["engine_decode_ms"] / 1000))
        # the wall clock sees the same decode, plus a little Python per token
        assert r["decode_tps_wall"] == pytest.approx(r["decode_tps_engine"], rel=0.15)
        assert r["t_start"] < r["t_first_token"] < r["t_end"]
        # a time for every token, in order, the first at the first token, the last at the end
        times = r["token_ms"]
        assert len(times) == 32 and times == sorted(times)
        # (two clocks read back to back: apart by what a loaded machine's scheduler makes of it)
        assert times[0] == pytest.approx(r["ttft_ms"], rel=0.05, abs=5.0)
        assert times[-1] == pytest.approx((r["t_end"] - r["t_start"]) * 1000, rel=0.05, abs=5.0)
    with (out / "results.csv").open() as f:
        row = next(csv.DictReader(f))
    mean = sum(r["decode_tps"] for r in reps) / 3
    assert float(row["decode_tps_mean"]) == pytest.approx(mean, rel=1e-5)
    # the latency distribution is in results.csv; the token times themselves are not
    assert 0 < float(row["itl_ms_p50"]) <= float(row["itl_ms_p90"]) <= float(row["itl_ms_p99"])
    # time per output token is the wall-clock decode rate's reciprocal, repetition by repetition
    assert float(row["tpot_ms_mean"]) == pytest.approx(sum(1000 / r["decode_tps_wall"] for r in reps) / 3, rel=1e-4)
    assert not any("token_ms" in k for k in row)


def test_the_run_exports_as_llama_bench_jsonl(smoke_run, tmp_path):
    _, out = smoke_run
    proc = run_cli("export", str(out), "--format", "llama-bench-jsonl", "--out", str(tmp_path / "b.jsonl"))
    assert proc.returncode == 0, proc.stderr
    pp, tg = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    reps = list(read_jsonl(out / "repetitions.jsonl"))
    # 32 tokens generated is llama-bench's tg32, decoded after the 32-token prompt
    assert (pp["n_prompt"], pp["n_gen"], tg["n_prompt"], tg["n_gen"], tg["n_depth"]) == (32, 0, 0, 32, 32)
    assert pp["samples_ts"] == [r["prefill_tps"] for r in reps] and tg["samples_ts"] == [r["decode_tps"] for r in reps]
    # llama.cpp's own timers: a sample's time is the perf counter's (31 decode steps), in ns, for 32 tokens
    assert tg["samples_ns"] == pytest.approx([r["engine_decode_ms"] * 1e6 * 32 / 31 for r in reps], abs=1)
    assert (pp["build_commit"], pp["build_number"], pp["backends"]) == ("0c1e57098", 11312, "CPU")
    assert pp["type_k"] == "f16" and pp["model_filename"].endswith(".gguf") and pp["model_size"] > 50e6
    # llama.cpp's own words for the model, as llama-bench prints them ("llama 135M Q4_1" or the like)
    assert "Q4_1" in pp["model_type"] and 100e6 < pp["model_n_params"] < 200e6


def test_samples_are_monotonic_and_phases_are_marked(smoke_run):
    _, out = smoke_run
    samples = list(read_jsonl(out / "samples.jsonl"))
    ts = [s["t"] for s in samples]
    assert ts == sorted(ts) and len(ts) >= 10
    phases = {s["phase"] for s in samples}
    assert {"idle", "load"} <= phases and phases & {"prefill", "decode"}
    events = [e["ev"] for e in read_jsonl(out / "events.jsonl")]
    assert events[0] == "run_start" and events[-1] == "run_end"
    assert "config_end" in events




def test_a_killed_child_fails_its_configuration_and_the_queue_goes_on(tmp_path, smollm2_path):
    profile = write_profile(tmp_path / "kill.toml", smollm2_profile(
        "kill", repetitions=1, warmup=0, n_ctx=512, gen_tokens=250))
    out = tmp_path / "out"
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out),
                             "--sysfs-root", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    child = None
    deadline = time.monotonic() + 60
    while child is None and time.monotonic() < deadline:
        for ev in read_jsonl(out / "events.jsonl"):
            if ev["ev"] == "phase" and ev.get("phase") == "load":
                pid = ev["pid"]
            if ev["ev"] == "progress" and ev["phase"] == "decode":
                child = pid
                break
        time.sleep(0.05)
    assert child, "the first configuration never started decoding"
    import os

    os.kill(child, signal.SIGKILL)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout  # a configuration failed; results still written
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["failed", "done"]
    assert "signal 9" in rows[0]["error"]
    assert rows[1]["repetitions"] == "1" and float(rows[1]["decode_tps_mean"]) > 0


@pytest.mark.parametrize("engine, signal_name, system_info, hinted", [
    ("llama_cpp", "SIGSEGV", "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |", True),
    ("llama_cpp", "SIGILL", "CPU : AVX2 = 1 | AMX_INT8 = 1 |", True),
    ("llama_cpp", "SIGSEGV", "CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 |", False),  # no AMX: no known cause
    ("llama_cpp", "SIGKILL", "CPU : AMX_INT8 = 1 |", False),  # killed, not a fault
    ("ollama", "SIGSEGV", "CPU : AMX_INT8 = 1 |", False),
])
def test_a_fault_in_a_llama_cpp_built_with_amx_names_the_known_cause(engine, signal_name, system_info, hinted):
    from edgetui.engines.llama_cpp import AMX_FAULT_HINT
    from edgetui.profiles.plan import Configuration
    from edgetui.run.runner import with_crash_hint

    c = Configuration(profile="p", engine=engine, engine_url=None, model="m", model_name=None, model_path="m.gguf",
                      n_threads=2, n_gpu_layers=0, n_ctx=256, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                      prompt_tokens=32, prompt=None, gen_tokens=32, repetitions=1, warmup=0)
    reason = f"killed by {signal_name} (signal 11); last log lines:\nsched_reserve: reserve took 4 ms"
    told = with_crash_hint(reason, c, {"system_info": system_info})
    assert (AMX_FAULT_HINT in told) is hinted
    assert told.splitlines()[0].startswith(f"killed by {signal_name} (signal 11)")
    assert told.endswith("last log lines:\nsched_reserve: reserve took 4 ms")  # the log's tail kept, after the cause
