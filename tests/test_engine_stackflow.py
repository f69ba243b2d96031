"""The stackflow engine against a stand-in StackFlow device (llm_sys + llm_llm) on loopback."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from edgetui.engines.base import EngineError, metrics
from edgetui.engines.registry import engine_class
from edgetui.errors import UserError
from edgetui.profiles.plan import Configuration
from edgetui.profiles.schema import load_profile

from conftest import write_profile

sys.path.insert(0, str(Path(__file__).parent))
from standins.stackflow_server import StandinStackFlow  # noqa: E402

MODEL = "llama3.2-1B-prefill-ax630c"


def config(url: str, **kw) -> Configuration:
    base = dict(profile="p", engine="stackflow", engine_url=url, model=MODEL, model_name=MODEL, model_path=None,
                n_threads=4, n_gpu_layers=0, n_ctx=256, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                prompt_tokens=None, prompt="Explain how to compare edge boards.", gen_tokens=30, repetitions=2,
                warmup=0, engine_timeout_s=5.0)
    base.update(kw)
    return Configuration(**base)


def engine(c: Configuration):
    return engine_class("stackflow")(c, None, lambda ev: None)


@pytest.fixture
def device():
    d = StandinStackFlow().start()
    yield d
    d.stop()


def test_setup_inference_and_exit_speak_stackflows_protocol(device):
    c = config(device.url)
    e = engine(c)
    info = e.load()
    assert info.engine_version == "StackFlow llm_sys v1.6"
    assert info.info["work_id"] == "llm.1002"
    setup = next(m for m in device.received if m.get("action") == "setup")
    assert setup["work_id"] == "llm" and setup["object"] == "llm.setup"
    assert setup["data"] == {"model": MODEL, "response_format": "llm.utf-8.stream", "input": "llm.utf-8",
                             "enoutput": True, "max_token_len": 256, "prompt": "You are a helpful assistant."}
    e.run_once(c, 0, False)
    inference = next(m for m in device.received if m.get("action") == "inference")
    assert inference == {"request_id": inference["request_id"], "work_id": "llm.1002", "action": "inference",
                         "object": "llm.utf-8.stream",
                         "data": {"delta": c.prompt, "index": 0, "finish": True}}
    e.close()
    assert device.received[-1]["action"] == "exit" and device.received[-1]["work_id"] == "llm.1002"
    assert not device.units  # the unit was freed


def test_tokens_are_estimated_three_per_chunk_and_rates_are_the_wall_clocks(device):
    c = config(device.url, gen_tokens=30)
    e = engine(c)
    e.load()
    r = e.run_once(c, 0, False)
    assert r.extra["chunks"] == 10 and r.gen_tokens == 30
    assert "estimated" in r.extra["gen_tokens_method"] and "wall clock" in r.timing_source
    assert r.extra["stopped"].startswith("by edgetui's pause")
    assert any(m.get("action") == "pause" for m in device.received)
    assert r.prompt_tokens is None and r.first_token_count == 3
    m = metrics(r)
    assert m["prefill_tps"] is None  # StackFlow does not say how long the prompt was: n/a, not zero
    # the first chunk holds 3 tokens: the decode window carries the other 27
    assert m["decode_tps_wall"] == pytest.approx(27 / (r.t_end - r.t_first_token))
    e.close()


def test_an_answer_that_ends_early_is_counted_as_it_came(device):
    device.eos_after = 7  # chunks of 3, 3, then the last 1 flushed at the end of sequence
    c = config(device.url, gen_tokens=30)
    e = engine(c)
    e.load()
    r = e.run_once(c, 0, False)
    assert r.extra["chunks"] == 3 and r.gen_tokens == 9  # an estimate, within 2 of the 7 produced
    assert r.extra["stopped"].startswith("by the model")
    e.close()


def test_a_model_the_device_lacks_fails_with_the_installed_list(device):
    with pytest.raises(EngineError, match=r'no LLM model "qwen2.5-0.5B" \(installed: llama3.2-1B-prefill-ax630c, '
                                          r'deepseek-r1-1.5B-ax630c\)'):
        engine(config(device.url, model_name="qwen2.5-0.5B")).load()


def test_a_failed_setup_reports_the_devices_error(device):
    device.models.append({"mode": "broken-ax630c", "type": "tts"})  # listed, but no LLM: setup fails
    e = engine(config(device.url, model_name="broken-ax630c"))
    e.installed_models = lambda: None  # as a device without lsmode
    with pytest.raises(EngineError, match=r"setup failed: Model loading failed. \(error code -5\).*n_ctx = 256"):
        e.load()


def test_connection_refused_is_a_clear_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineError, match="connection refused"):
        engine(config(f"tcp://127.0.0.1:{port}")).load()


@pytest.mark.parametrize("fail, message", [("cut", "closed the connection"), ("stall", r"within 2 s")])
def test_a_stream_that_stops_halfway_fails_the_repetition(device, fail, message):
    c = config(device.url, engine_timeout_s=2.0)
    e = engine(c)
    e.load()
    device.fail = fail
    with pytest.raises(EngineError, match=message):
        e.run_once(c, 0, False)


def test_a_stackflow_profile_needs_a_prompt_text(tmp_path):
    text = """
name = "m5"
[engine]
kind = "stackflow"
url = "tcp://127.0.0.1:10001"
[[models]]
name = "llama3.2-1B-prefill-ax630c"
[workload]
{workload}
"""
    with pytest.raises(UserError, match="needs a prompt text"):
        load_profile(write_profile(tmp_path / "a.toml", text.format(workload="prompt_tokens = 64")))
    with pytest.raises(UserError, match="needs a prompt text"):
        load_profile(write_profile(tmp_path / "b.toml", text.format(workload="gen_tokens = 64")))
    assert load_profile(write_profile(tmp_path / "c.toml", text.format(workload='prompt = "Hi."'))).prompt == "Hi."


def test_a_device_without_sys_version_still_runs(device):
    real = device.handle

    def without_version(msg, send, conn):
        if msg.get("work_id") == "sys" and msg.get("action") == "version":
            return send(msg["request_id"], "sys", "None", "None", -3, "action match false")
        return real(msg, send, conn)

    device.handle = without_version
    c = config(device.url)
    e = engine(c)
    assert e.load().engine_version == "StackFlow (version unknown)"
    assert e.run_once(c, 0, False).gen_tokens == 30
    e.close()
