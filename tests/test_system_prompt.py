"""[workload] system_prompt reaches each server engine where that server takes one, under the
repetition's tag (so that no prefix cache serves it), and changes the configuration's id."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from edgetui.engines.registry import engine_class
from edgetui.profiles.plan import Configuration

sys.path.insert(0, str(Path(__file__).parent))
from standins.ollama_server import StandinOllama  # noqa: E402
from standins.stackflow_server import StandinStackFlow  # noqa: E402

SYSTEM = "You are a knowledgeable assistant."


def config(engine: str, url: str, **kw) -> Configuration:
    base = dict(profile="p", engine=engine, engine_url=url, model="m", model_name="qwen2.5:0.5b", model_path=None,
                n_threads=0, n_gpu_layers=-1, n_ctx=256, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                prompt_tokens=None, prompt="Explain why the sky is blue.", gen_tokens=6, repetitions=1, warmup=0,
                engine_timeout_s=5.0, system_prompt=SYSTEM)
    base.update(kw)
    return Configuration(**base)


@pytest.fixture
def ollama():
    s = StandinOllama().start()
    yield s
    s.stop()


def test_ollama_chat_sends_a_system_message_under_the_repetitions_tag(ollama):
    c = config("ollama", ollama.url, engine_api="chat")
    e = engine_class("ollama")(c, None, lambda ev: None)
    e.load()
    e.run_once(c, 0, False)
    messages = ollama.requests[-1][1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    tag = messages[1]["content"][:6]
    assert tag.startswith("[") and messages[0]["content"] == tag + SYSTEM


def test_ollama_generate_sends_ollamas_system_field(ollama):
    c = config("ollama", ollama.url, engine_api="generate")
    e = engine_class("ollama")(c, None, lambda ev: None)
    e.load()
    e.run_once(c, 0, False)
    body = ollama.requests[-1][1]
    assert body["system"].endswith(SYSTEM) and body["prompt"].endswith("Explain why the sky is blue.")
    e.run_once(replace(c, system_prompt=None), 1, False)
    assert "system" not in ollama.requests[-1][1]


def test_stackflow_sets_its_unit_up_with_the_system_prompt():
    device = StandinStackFlow(models=("qwen2.5-0.5B-prefill-20e",)).start()
    try:
        for system, expected in ((SYSTEM, SYSTEM), (None, "You are a helpful assistant.")):
            c = config("stackflow", device.url, model_name="qwen2.5-0.5B-prefill-20e", system_prompt=system)
            e = engine_class("stackflow")(c, None, lambda ev: None)
            e.load()
            e.close()
            setup = [m for m in device.received if m.get("action") == "setup"][-1]
            assert setup["data"]["prompt"] == expected
    finally:
        device.stop()


def test_a_system_prompt_is_part_of_what_is_measured():
    c = config("ollama", "http://127.0.0.1:1")
    assert replace(c, system_prompt="Be brief.").config_id != c.config_id
    assert replace(c, system_prompt="Be brief.").load_key != c.load_key  # StackFlow sets it up at load


def test_openai_chat_puts_the_system_prompt_first():
    c = config("openai", "http://127.0.0.1:1", engine_api="chat")
    e = engine_class("openai")(c, None, lambda ev: None)
    body = e.request_body(c, "[007] Explain why the sky is blue.", 6, True)
    assert body["messages"] == [{"role": "system", "content": "[007] " + SYSTEM},
                                {"role": "user", "content": "[007] Explain why the sky is blue."}]
