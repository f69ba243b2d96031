"""KV depth (llama-bench -d) on the real SmolLM2: the context is filled before the timed prompt,
the fill is neither timed nor counted, and a restored fill decodes exactly as a fresh one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edgetui.engines.llama_cpp import LlamaCppEngine
from edgetui.profiles.plan import Configuration
from edgetui.run.aggregate import result_row

pytestmark = pytest.mark.model

DEPTH, PROMPT, GEN = 96, 16, 8


@pytest.fixture(scope="module")
def engine(smollm2_path):
    config = Configuration(profile="d", engine="llama_cpp", engine_url=None, model="smollm2", model_name=None,
                           model_path=str(smollm2_path), n_threads=2, n_gpu_layers=0, n_ctx=256, n_batch=512,
                           flash_attn="auto", kv_cache_type="f16", prompt_tokens=PROMPT, prompt=None,
                           gen_tokens=GEN, repetitions=1, warmup=0)
    e = LlamaCppEngine(config, str(smollm2_path), lambda ev: None)
    e.load()
    yield e, config
    e.close()


def test_the_timed_prompt_and_decode_run_after_the_fill(engine):
    e, config = engine
    deep = replace(config, n_depth=DEPTH)
    first = e.run_once(deep, 0, False)
    again = e.run_once(deep, 1, False)
    # llama.cpp's counters saw the timed prompt and decode only, not the fill
    for r in (first, again):
        assert (r.engine_prefill_n, r.engine_decode_n) == (PROMPT, GEN - 1)
        assert r.prompt_tokens == PROMPT and r.gen_tokens == GEN
        # and those tokens went after the fill: the sequence holds fill + prompt + decoded tokens
        assert r.extra["context_tokens"] == DEPTH + PROMPT + GEN - 1
        assert r.extra["n_depth"] == DEPTH
    assert first.extra["depth_fill"].startswith("filled")
    assert again.extra["depth_fill"] == "restored"  # the fill is decoded once per load, as llama-bench does
    assert again.text == first.text  # greedy decoding after a restored fill is the same as after a fresh one


def test_without_depth_the_prompt_starts_the_sequence(engine):
    e, config = engine
    r = e.run_once(config, 0, False)
    assert (r.engine_prefill_n, r.engine_decode_n) == (PROMPT, GEN - 1)
    assert "context_tokens" not in r.extra and "depth_fill" not in r.extra


def test_a_depth_the_context_cannot_hold_fails_the_configuration(engine):
    from edgetui.engines.base import EngineError

    e, config = engine
    with pytest.raises(EngineError, match="cannot hold 240 depth"):
        e.run_once(replace(config, n_depth=240), 0, False)


def test_the_results_row_names_the_depth():
    config = {"config_id": "c", "profile": "p", "engine": "llama_cpp", "model": "m", "n_threads": 1,
              "n_gpu_layers": 0, "n_ctx": 256, "n_batch": 512, "flash_attn": "auto", "kv_cache_type": "f16",
              "prompt_tokens": 8, "gen_tokens": 4, "n_depth": DEPTH}
    assert result_row(config, [], status="done", error=None, context={})["n_depth"] == DEPTH
    del config["n_depth"]  # recorded before the axis existed
    assert result_row(config, [], status="done", error=None, context={})["n_depth"] == 0
