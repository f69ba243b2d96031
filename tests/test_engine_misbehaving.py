"""Servers that misbehave (issue 16): an endless stream, a trickle, a flood, silence, HTML, an empty
body, a truncated chunk. Each must fail its configuration with its reason within the request's
deadline, without holding a flood in memory, and the queue must go on."""

from __future__ import annotations

import csv
import re
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from edgetui.engines.base import EngineError
from edgetui.engines.registry import engine_class
from edgetui.engines.server import OVERRUN_MARGIN, request_timeout_s
from edgetui.engines.streams import MAX_LINE_BYTES, MB
from edgetui.profiles.plan import Configuration

from conftest import run_cli, write_profile

sys.path.insert(0, str(Path(__file__).parent))
from standins.ollama_server import StandinOllama  # noqa: E402
from standins.openai_server import StandinOpenAI  # noqa: E402
from standins.stackflow_server import StandinStackFlow  # noqa: E402

GOOD, BAD = "good:1b", "bad:1b"
DEADLINE_S = 2.0
# Far above DEADLINE_S, so that it is the whole-request deadline that ends a trickle or a silence.
READ_TIMEOUT_S = 20.0
# A test that got here did not hang; a loaded machine may be slow, so this is no measurement.
NOT_HUNG_S = 30.0


def ollama_config(url: str, model: str = BAD, **kw) -> Configuration:
    base = dict(profile="p", engine="ollama", engine_url=url, model=model, model_name=model, model_path=None,
                n_threads=0, n_gpu_layers=-1, n_ctx=1024, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                prompt_tokens=None, prompt="Explain how to compare edge boards.", gen_tokens=10, repetitions=1,
                warmup=0, engine_api="generate", engine_timeout_s=READ_TIMEOUT_S,
                engine_request_timeout_s=DEADLINE_S)
    base.update(kw)
    return Configuration(**base)


@pytest.fixture
def server():
    s = StandinOllama(models=(BAD, GOOD)).start()
    yield s
    s.stop()


def run_bad(server: StandinOllama, mode: str, **kw) -> tuple[str, float]:
    """Load, then one repetition of the misbehaving model: its failure and how long it took."""
    c = ollama_config(server.url, **kw)
    e = engine_class("ollama")(c, None, lambda ev: None)
    e.load()
    server.misbehave[BAD] = mode
    t0 = time.monotonic()
    with pytest.raises(EngineError) as failed:
        e.run_once(c, 0, False)
    return str(failed.value), time.monotonic() - t0


def reason_of(mode: str, limit_name: str, chunks: int) -> str:
    """The failure each misbehaviour must end with."""
    return {
        "endless": f"ignored {limit_name}: sent {chunks} chunks for 10 tokens",
        "trickle": f"did not finish the request within {DEADLINE_S:g} s (request_timeout_s in [engine]; it sent",
        "flood": "sent a line over 16 MB: refused",
        "silent": f"did not finish the request within {DEADLINE_S:g} s (request_timeout_s in [engine]; "
                  "it sent no byte)",
    }[mode]


def test_the_default_deadline_is_timeout_plus_gen_tokens_at_the_floor_rate():
    c = ollama_config("http://127.0.0.1:1", engine_timeout_s=300.0, engine_request_timeout_s=None, gen_tokens=128)
    assert request_timeout_s(c) == 300.0 + 128 / 0.5
    assert request_timeout_s(ollama_config("http://127.0.0.1:1", engine_request_timeout_s=7.5)) == 7.5


def test_an_endless_stream_is_closed_past_the_tokens_asked_for(server):
    message, took = run_bad(server, "endless", engine_request_timeout_s=NOT_HUNG_S)
    # closed by the budget, long before the deadline
    assert message.startswith(f"server ignored num_predict: sent {10 + OVERRUN_MARGIN + 1} chunks for 10 tokens")
    assert took < NOT_HUNG_S


def test_a_slight_overrun_with_its_statistics_is_kept_and_noted(server):
    """Within the margin, the server's statistics count and time the same tokens: they are kept."""
    server.overrun_by = 2
    c = ollama_config(server.url, model=GOOD)
    e = engine_class("ollama")(c, None, lambda ev: None)
    e.load()
    r = e.run_once(c, 0, False)
    assert r.gen_tokens == server.last_final["eval_count"] == 12
    assert r.engine_decode_n == 12 and r.timing_source == "ollama server stats"
    assert r.extra["server_overrun"] == "server ignored num_predict: sent 12 chunks for 10 tokens"


def test_a_trickle_is_abandoned_at_the_request_deadline(server):
    server.trickle_period_s = 0.2
    message, took = run_bad(server, "trickle")
    assert f"did not finish the request within {DEADLINE_S:g} s (request_timeout_s in [engine]; it sent" in message
    assert took < NOT_HUNG_S


def test_a_connection_with_no_byte_is_abandoned_at_the_request_deadline(server):
    message, _ = run_bad(server, "silent")
    assert f"did not finish the request within {DEADLINE_S:g} s" in message


def test_a_silence_shorter_than_the_deadline_ends_at_the_read_timeout(server):
    message, _ = run_bad(server, "silent", engine_timeout_s=1.0, engine_request_timeout_s=NOT_HUNG_S)
    assert "no answer from" in message and "within 1 s (timeout_s in [engine])" in message


def test_a_100_mb_line_is_refused_without_being_held(server):
    tracemalloc.start()
    try:
        message, _ = run_bad(server, "flood", engine_request_timeout_s=NOT_HUNG_S)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "sent a line over 16 MB: refused" in message
    assert server.flood_sent < server.flood_bytes  # the client hung up in the middle of the line
    # At most the limit is held, in a copy or two while a line is assembled; never the 100 MB.
    assert peak < 3 * MAX_LINE_BYTES + 8 * MB < server.flood_bytes


@pytest.mark.parametrize("mode, reason", [
    ("html", "answered an HTML page, not JSON"),
    ("empty", "answered an empty body where JSON was expected"),
])
def test_html_or_an_empty_body_where_json_is_due_is_named(server, mode, reason):
    server.misbehave_all = mode
    with pytest.raises(EngineError, match=reason):
        engine_class("ollama")(ollama_config(server.url), None, lambda ev: None).load()


@pytest.mark.parametrize("mode, reason", [
    ("html", "answered an HTML page, not JSON"),
    ("empty", "ended after 0 chunks without its final statistics"),
    ("truncated", r"stream broken: the answer from .* was cut short|cut in the middle of a line"),
])
def test_a_stream_that_is_html_empty_or_cut_is_named(server, mode, reason):
    message, _ = run_bad(server, mode)
    assert re.search(reason, message), message


def test_a_headless_queue_fails_each_misbehaving_server_and_goes_on(tmp_path):
    """edgetui run --headless: each misbehaving model's configuration fails with its reason within
    the deadline, and the configuration after it in the queue still runs."""
    modes = ("endless", "trickle", "flood", "silent")
    s = StandinOllama(models=(*[f"{m}:1b" for m in modes], GOOD)).start()
    s.misbehave = {f"{m}:1b": m for m in modes}
    models = "".join(f'[[models]]\nname = "{m}"\n' for m in (*s.misbehave, GOOD))
    profile = write_profile(tmp_path / "misbehaving.toml", f"""
name = "misbehaving"
repetitions = 1
warmup = 0
idle_baseline_s = 0
[engine]
kind = "ollama"
url = "{s.url}"
timeout_s = {READ_TIMEOUT_S}
request_timeout_s = {DEADLINE_S}
{models}
[workload]
prompt = "Explain how to compare edge boards."
gen_tokens = 10
""")
    out = tmp_path / "out"
    try:
        proc = run_cli("run", str(profile), "--headless", "--out", str(out), "--sysfs-root", str(tmp_path),
                       timeout=240)
    finally:
        s.stop()
    rows = {r["model"]: r for r in csv.DictReader((out / "results.csv").open())}
    assert list(rows) == [*s.misbehave, GOOD], proc.stdout + proc.stderr
    assert rows[GOOD]["status"] == "done" and float(rows[GOOD]["gen_tokens_mean"]) == 10
    reasons = {
        "endless:1b": f"server ignored num_predict: sent {10 + OVERRUN_MARGIN + 1} chunks for 10 tokens",
        "trickle:1b": f"did not finish the request within {DEADLINE_S:g} s",
        "flood:1b": "sent a line over 16 MB: refused",
        "silent:1b": f"did not finish the request within {DEADLINE_S:g} s (request_timeout_s in [engine]; "
                     "it sent no byte)",
    }
    for model, reason in reasons.items():
        assert rows[model]["status"] == "failed" and reason in rows[model]["error"], rows[model]
    assert proc.returncode != 0, proc.stdout  # a queue with failed configurations says so


# ---------------------------------------------------------------- the openai engine


@pytest.mark.parametrize("mode", ["endless", "trickle", "flood", "silent"])
def test_an_openai_server_that_misbehaves_fails_with_its_reason(mode):
    s = StandinOpenAI(models=(GOOD, BAD)).start()
    s.trickle_period_s = 0.2
    s.misbehave[BAD] = mode
    try:
        c = ollama_config(s.url, engine="openai", engine_api="completions")
        e = engine_class("openai")(c, None, lambda ev: None)
        e.load()
        t0 = time.monotonic()
        with pytest.raises(EngineError) as failed:
            e.run_once(c, 0, False)
        assert reason_of(mode, "max_tokens", 10 + OVERRUN_MARGIN + 1) in str(failed.value)
        assert time.monotonic() - t0 < NOT_HUNG_S
        good = ollama_config(s.url, model=GOOD, engine="openai", engine_api="completions")
        e = engine_class("openai")(good, None, lambda ev: None)
        e.load()
        r = e.run_once(good, 0, False)  # the same server, a model it serves well: no overrun noted
        assert r.gen_tokens == 10 and "server_overrun" not in r.extra
    finally:
        s.stop()


# ---------------------------------------------------------------- the stackflow engine


@pytest.mark.parametrize("mode", ["endless", "trickle", "flood", "silent"])
def test_a_stackflow_device_that_misbehaves_fails_with_its_reason(mode):
    d = StandinStackFlow(models=(GOOD, BAD)).start()
    d.trickle_period_s = 0.2
    d.misbehave[BAD] = mode
    try:
        c = ollama_config(d.url, engine="stackflow", engine_api=None, n_ctx=512)
        e = engine_class("stackflow")(c, None, lambda ev: None)
        e.load()
        t0 = time.monotonic()
        with pytest.raises(EngineError) as failed:
            e.run_once(c, 0, False)
        # the pause goes out at 4 chunks (12 tokens); the unit may send OVERRUN_MARGIN more
        assert reason_of(mode, "pause", 4 + OVERRUN_MARGIN + 1) in str(failed.value)
        e.close()  # exit, within its own short wait whatever the unit still sends
        assert time.monotonic() - t0 < NOT_HUNG_S
        if mode == "flood":
            assert d.flood_sent < d.flood_bytes
    finally:
        d.stop()


# ------------------------------------------------------------------ the runner's own guard
def test_the_silence_limits_lie_past_the_engines_own_deadlines():
    from edgetui.run import silence

    c = ollama_config("http://127.0.0.1:9", gen_tokens=10)
    assert silence.repetition_limit_s(c) > request_timeout_s(c)  # the engine's clearer reason comes first
    deep = ollama_config("http://127.0.0.1:9", gen_tokens=10, n_depth=2048)
    assert silence.repetition_limit_s(deep) > silence.repetition_limit_s(c) + 2048  # a fill is silent prefill
    assert silence.quality_limit_s(512, loads=True) > silence.quality_limit_s(512) > 512


def test_an_inference_child_that_says_nothing_is_taken_for_hung_and_its_configuration_fails(tmp_path):
    """A real inference child asked for nothing says nothing: the runner's wait gives up at its
    limit instead of waiting forever, and a hung child is killed rather than asked to quit."""
    from types import SimpleNamespace

    from edgetui.run.child import InferenceChild
    from edgetui.run.runner import ChildSilent, ConfigFailed, Runner

    child = InferenceChild(tmp_path / "child.log")
    stand_in = SimpleNamespace(_check_control=lambda wait: None)  # the runner's state _await reads
    try:
        t0 = time.monotonic()
        with pytest.raises(ChildSilent, match=r"said nothing for 2 s while asked for its 'result' answer") as info:
            Runner._await(stand_in, child, "result", 2.0)
        assert 2.0 <= time.monotonic() - t0 < NOT_HUNG_S
        assert isinstance(info.value, ConfigFailed) and child.proc.poll() is None  # alive, only silent
    finally:
        child.kill()
    assert child.proc.returncode is not None
