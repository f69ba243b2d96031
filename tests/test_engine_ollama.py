"""The ollama engine against a stand-in Ollama server (and a stand-in hailo-ollama) on loopback."""

from __future__ import annotations

import csv
import socket
import sys
from pathlib import Path

import pytest

from edgetui.engines.base import EngineError, metrics
from edgetui.engines.registry import engine_class
from edgetui.profiles.plan import Configuration

from conftest import run_cli, write_profile

sys.path.insert(0, str(Path(__file__).parent))
from standins.ollama_server import StandinOllama  # noqa: E402

MODEL = "qwen2.5:0.5b"


def config(url: str, **kw) -> Configuration:
    base = dict(profile="p", engine="ollama", engine_url=url, model=MODEL, model_name=MODEL, model_path=None,
                n_threads=3, n_gpu_layers=0, n_ctx=1024, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                prompt_tokens=None, prompt="Explain how to compare edge boards.", gen_tokens=12, repetitions=2,
                warmup=0, engine_api="generate", engine_timeout_s=5.0)
    base.update(kw)
    return Configuration(**base)


def engine(c: Configuration):
    events: list[dict] = []
    return engine_class("ollama")(c, None, events.append), events


@pytest.fixture
def server():
    s = StandinOllama().start()
    yield s
    s.stop()


@pytest.fixture
def hailo():
    s = StandinOllama(models=("qwen2:1.5b",), flavour="hailo-ollama").start()
    yield s
    s.stop()


def test_a_run_passes_the_servers_own_statistics_through(server):
    c = config(server.url)
    e, events = engine(c)
    info = e.load()
    assert info.engine_version == "ollama 0.6.2"
    assert info.info["model_quantization_level"] == "Q4_K_M"
    r = e.run_once(c, 0, False)
    body = server.requests[-1][1]
    assert body["options"] == {"num_predict": 12, "temperature": 0.0, "num_ctx": 1024, "num_thread": 3, "num_gpu": 0}
    assert body["stream"] is True and body["prompt"].endswith(c.prompt)
    stats = server.last_final
    assert r.gen_tokens == stats["eval_count"] == 12
    assert r.prompt_tokens == stats["prompt_eval_count"]
    assert r.engine_decode_n == stats["eval_count"]
    assert r.engine_decode_ms == pytest.approx(stats["eval_duration"] / 1e6)
    assert r.engine_prefill_ms == pytest.approx(stats["prompt_eval_duration"] / 1e6)
    assert r.engine_prefill_n == stats["prompt_eval_count"]
    assert r.timing_source == "ollama server stats"
    assert r.t_start < r.t_first_token < r.t_end
    assert r.extra["chunks"] == 12 and r.extra["done_reason"] == "length"
    m = metrics(r)
    assert m["decode_tps"] == pytest.approx(stats["eval_count"] / (stats["eval_duration"] / 1e9))
    assert any(ev["phase"] == "decode" for ev in events)


def test_each_repetition_has_its_own_prompt_so_no_cache_serves_it(server):
    c = config(server.url, engine_api="chat")
    e, _ = engine(c)
    e.load()
    server.report_cached = True
    r1, r2 = e.run_once(c, 0, True), e.run_once(c, 1, False)
    prompts = [b["messages"][0]["content"] for p, b in server.requests[-2:]]
    assert prompts[0] != prompts[1] and prompts[0][6:] == prompts[1][6:] == c.prompt
    assert r1.extra["prompt_prefix"] != r2.extra["prompt_prefix"]
    # Ollama counts cached prompt tokens in prompt_eval_count but not in its duration: not a prefill
    cached = server.last_final["prompt_eval_cached_count"]
    assert cached > 0 and r2.extra["prompt_cached_tokens"] == cached
    assert r2.engine_prefill_n == r2.prompt_tokens - cached


def test_an_exact_prompt_length_is_found_and_verified(server):
    c = config(server.url, prompt=None, prompt_tokens=40)
    e, _ = engine(c)
    e.load()
    r = e.run_once(c, 0, False)
    assert r.prompt_tokens == 40 == server.last_final["prompt_eval_count"]
    assert r.extra["prompt_tokens_asked"] == 40 and "prompt_tokens_differ" not in r.extra


def test_tokens_actually_produced_are_recorded_not_the_cap(server):
    server.eos_after = 5
    c = config(server.url)
    e, _ = engine(c)
    e.load()
    r = e.run_once(c, 0, False)
    assert r.gen_tokens == 5 and r.extra["done_reason"] == "stop"


def test_all_gpu_layers_leave_num_gpu_to_ollama_and_the_load_uses_the_runs_options(server):
    c = config(server.url, n_gpu_layers=-1)
    e, _ = engine(c)
    e.load()
    load_body = server.requests[-1][1]
    assert "prompt" not in load_body and "num_gpu" not in load_body["options"]
    e.run_once(c, 0, False)
    assert "reloaded" not in e.run_once(c, 1, False).extra  # same load-time options: no reload


def test_a_loaded_model_is_unloaded_first_so_the_load_is_measured(server):
    c = config(server.url)
    engine(c)[0].load()
    e, _ = engine(c)
    info = e.load()
    assert info.info["was_loaded"] is True
    assert any(b.get("keep_alive") == 0 for _, b in server.requests)


def test_a_model_the_server_lacks_fails_with_its_list_and_no_pull(server):
    c = config(server.url, model_name="llama3.2:3b")
    with pytest.raises(EngineError, match=r'does not have the model "llama3.2:3b" \(it has: qwen2.5:0.5b\).*pull = true'):
        engine(c)[0].load()
    assert not any(p == "/api/pull" for p, _ in server.requests)


def test_pull_true_pulls_and_reports_a_failed_pull(server):
    server.pullable = {"llama3.2:1b"}
    e, _ = engine(config(server.url, model_name="llama3.2:1b", engine_pull=True))
    assert e.load().info["pull_s"] >= 0
    with pytest.raises(EngineError, match="pull model manifest: file does not exist"):
        engine(config(server.url, model_name="nosuch:1b", engine_pull=True))[0].load()


def test_connection_refused_is_a_clear_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineError, match="connection refused"):
        engine(config(f"http://127.0.0.1:{port}"))[0].load()


@pytest.mark.parametrize("fail, message", [
    ("cut", r"stream broken|ended after 3 chunks"),
    ("stall", r"no answer from .* within 2 s"),
    ("error", r"reported an error after 3 chunks: .*out of memory"),
])
def test_a_stream_that_stops_halfway_fails_the_repetition(server, fail, message):
    c = config(server.url, engine_timeout_s=2.0)
    e, _ = engine(c)
    e.load()
    server.fail = fail
    with pytest.raises(EngineError, match=message):
        e.run_once(c, 0, False)


def test_hailo_ollama_by_url_gets_only_its_options_and_wall_clock_rates(hailo):
    c = config(hailo.url, model=("qwen2:1.5b"), model_name="qwen2:1.5b", engine_api="chat")
    e, _ = engine(c)
    info = e.load()
    assert info.engine_version.startswith("hailo-ollama")
    r = e.run_once(c, 0, False)  # the stand-in answers 400 to options hailo-ollama lacks
    assert set(hailo.requests[-1][1]["options"]) == {"num_predict", "temperature"}
    assert r.gen_tokens == hailo.last_final["eval_count"] == 12
    assert r.prompt_tokens is None and r.engine_decode_ms is None and r.engine_prefill_ms is None
    assert "wall clock" in r.timing_source
    m = metrics(r)
    assert m["decode_tps"] == m["decode_tps_wall"] and m["prefill_tps"] is None  # n/a, never zero


def test_hailo_ollama_cannot_be_given_an_exact_prompt_length(hailo):
    c = config(hailo.url, model_name="qwen2:1.5b", prompt=None, prompt_tokens=32)
    with pytest.raises(EngineError, match="no prompt token counts"):
        engine(c)[0].load()


def test_a_headless_run_against_ollama_records_its_rows(tmp_path, server):
    profile = write_profile(tmp_path / "ollama.toml", f"""
name = "standin-ollama"
repetitions = 2
warmup = 1
idle_baseline_s = 0
[engine]
kind = "ollama"
url = "{server.url}"
api = "chat"
[[models]]
name = "{MODEL}"
[sweep]
n_threads = [2]
[workload]
prompt = "Explain how to compare edge boards."
gen_tokens = 10
""")
    out = tmp_path / "out"
    proc = run_cli("run", str(profile), "--headless", "--out", str(out), "--sysfs-root", str(tmp_path),
                   timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "following the server's memory" in proc.stdout  # the stand-in listens in this test's process
    row = next(csv.DictReader((out / "results.csv").open()))
    assert row["status"] == "done" and row["engine"] == "ollama"
    assert row["engine_version"] == "ollama 0.6.2" and row["timing_source"] == "ollama server stats"
    assert float(row["gen_tokens_mean"]) == 10
