"""[sweep] concurrency against the stand-in Ollama server: two streams in flight at once, each
with its own TTFT and token times, the repetition their union, the results row their statistics."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from edgetui.engines.base import metrics
from edgetui.engines.registry import engine_class
from edgetui.profiles.plan import Configuration
from edgetui.run.latency import latency_columns

from conftest import run_cli, write_profile

sys.path.insert(0, str(Path(__file__).parent))
from standins.ollama_server import StandinOllama  # noqa: E402

MODEL = "qwen2.5:0.5b"
GEN = 12


def config(url: str, **kw) -> Configuration:
    base = dict(profile="p", engine="ollama", engine_url=url, model=MODEL, model_name=MODEL, model_path=None,
                n_threads=0, n_gpu_layers=-1, n_ctx=1024, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                prompt_tokens=None, prompt="Explain how to compare edge boards.", gen_tokens=GEN, repetitions=1,
                warmup=0, engine_api="generate", engine_timeout_s=10.0, concurrency=2)
    base.update(kw)
    return Configuration(**base)


@pytest.fixture
def server():
    s = StandinOllama(decode_tps=200.0).start()
    yield s
    s.stop()


def test_two_streams_are_in_flight_at_once_each_timed_on_its_own(server):
    c = config(server.url)
    events: list[dict] = []
    e = engine_class("ollama")(c, None, events.append)
    e.load()
    r = e.run_once(c, 0, False)
    assert server.most_in_flight == 2
    prompts = [body["prompt"] for path, body in server.requests if path == "/api/generate" and body.get("stream")]
    assert len(prompts) == 2 and prompts[0][:6] != prompts[1][:6]  # a tag each: no shared prefix cache
    a, b = r.streams
    assert a["t_start"] < b["t_end"] and b["t_start"] < a["t_end"]  # they overlapped
    for s in (a, b):
        assert s["gen_tokens"] == GEN and len(s["token_ms"]) == GEN
        assert s["engine_decode_n"] == GEN  # each stream keeps the server's own counters
        assert s["token_ms"][0] == pytest.approx((s["t_first_token"] - s["t_start"]) * 1000, abs=0.01)
    # the repetition is their union
    assert r.gen_tokens == 2 * GEN
    assert (r.t_start, r.t_end) == (min(a["t_start"], b["t_start"]), max(a["t_end"], b["t_end"]))
    m = metrics(r)
    ttfts = [(s["t_first_token"] - s["t_start"]) * 1000 for s in (a, b)]
    assert m["ttft_ms"] == pytest.approx(sum(ttfts) / 2)  # what one stream saw, on average
    decoded = 2 * (GEN - 1)
    assert m["decode_tps_aggregate"] == pytest.approx(decoded / (r.t_end - r.t_first_token))
    assert m["e2e_tps"] == pytest.approx(2 * GEN / (r.t_end - r.t_start))
    # one progress stream for the live pane, counting both streams' tokens
    decode_counts = [ev["tokens"] for ev in events if ev.get("phase") == "decode"]
    assert decode_counts == sorted(decode_counts)
    cols = latency_columns([{"streams": r.streams}])
    assert cols["stream_ttft_ms_p50"] == pytest.approx(sum(ttfts) / 2)
    assert cols["stream_ttft_ms_p99"] == pytest.approx(min(ttfts) + (max(ttfts) - min(ttfts)) * 0.99)


def test_one_stream_is_the_repetition_itself(server):
    c = config(server.url, concurrency=1)
    e = engine_class("ollama")(c, None, lambda ev: None)
    e.load()
    r = e.run_once(c, 0, False)
    assert r.streams is None and server.most_in_flight == 1
    assert len(r.token_ms) == GEN
    m = metrics(r)
    assert m["decode_tps_aggregate"] == m["decode_tps_wall"]


def test_a_failing_stream_fails_the_repetition_and_names_the_stream(server):
    c = config(server.url, engine_timeout_s=2.0)
    e = engine_class("ollama")(c, None, lambda ev: None)
    e.load()
    server.fail, server.fail_after = "cut", 3
    from edgetui.engines.base import EngineError

    with pytest.raises(EngineError, match=r"stream [12] of 2"):
        e.run_once(c, 0, False)


def test_a_headless_run_with_two_streams_writes_the_stream_columns(server, tmp_path):
    profile = write_profile(tmp_path / "c.toml", f"""
name = "conc"
repetitions = 2
warmup = 0
idle_baseline_s = 0
[engine]
kind = "ollama"
url = "{server.url}"
[[models]]
name = "{MODEL}"
[sweep]
concurrency = [1, 2]
[workload]
prompt = "Explain how to compare edge boards."
gen_tokens = {GEN}
""")
    proc = run_cli("run", str(profile), "--headless", "--out", str(tmp_path / "out"), "--sysfs-root", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (tmp_path / "out" / "results.csv").open() as f:
        rows = {int(r["concurrency"]): r for r in csv.DictReader(f)}
    assert set(rows) == {1, 2}
    for n, row in rows.items():
        assert float(row["gen_tokens_mean"]) == n * GEN  # every stream's tokens
        for col in ("decode_tps_aggregate_mean", "stream_ttft_ms_mean", "stream_ttft_ms_p50", "stream_ttft_ms_p99",
                    "itl_ms_p50", "tpot_ms_mean"):
            assert float(row[col]) > 0, (n, col)
    reps = [json.loads(line) for line in (tmp_path / "out" / "repetitions.jsonl").read_text().splitlines()]
    two = [r for r in reps if r["config_id"] == rows[2]["config_id"]]
    assert len(two) == 2 and all(len(r["streams"]) == 2 for r in two)
    assert float(rows[2]["stream_ttft_ms_mean"]) == pytest.approx(float(rows[2]["ttft_ms_mean"]), rel=1e-6)


def test_two_streams_against_an_openai_compatible_server():
    from standins.openai_server import StandinOpenAI

    s = StandinOpenAI(models=("m",))
    s.token_s = 0.005
    s.start()
    try:
        c = config(s.url, engine="openai", model="m", model_name="m", engine_api=None)
        e = engine_class("openai")(c, None, lambda ev: None)
        e.load()
        r = e.run_once(c, 0, False)
    finally:
        s.stop()
    assert s.most_in_flight == 2 and len(r.streams) == 2
    for stream in r.streams:
        assert stream["gen_tokens"] == GEN and len(stream["token_ms"]) == GEN
    assert r.gen_tokens == 2 * GEN
    assert metrics(r)["decode_tps_aggregate"] > 0
