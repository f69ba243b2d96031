"""The llama_cpp engine's decode loop on the real SmolLM2: its argmax over llama.cpp's logits picks
exactly the tokens llama.cpp's own greedy sampler picks, it produces and counts exactly the tokens
asked for, and the time spent choosing them is recorded apart and reaches the results row."""

from __future__ import annotations

import ctypes
from dataclasses import asdict

import pytest

from edgetui.engines.base import RepResult
from edgetui.engines.llama_cpp import LlamaCppEngine
from edgetui.profiles.plan import Configuration
from edgetui.run.aggregate import result_row

pytestmark = pytest.mark.model

PROMPT, GEN = 24, 48


@pytest.fixture(scope="module")
def engine(smollm2_path):
    config = Configuration(profile="g", engine="llama_cpp", engine_url=None, model="smollm2", model_name=None,
                           model_path=str(smollm2_path), n_threads=1, n_gpu_layers=0, n_ctx=256, n_batch=512,
                           flash_attn="auto", kv_cache_type="f16", prompt_tokens=PROMPT, prompt=None,
                           gen_tokens=GEN, repetitions=1, warmup=0)
    e = LlamaCppEngine(config, str(smollm2_path), lambda ev: None)
    e.load()
    yield e, config
    e.close()


def c_sampler_tokens(e: LlamaCppEngine, ids: list[int], n: int) -> list[int]:
    """The same prompt decoded in the engine's context, each token chosen by llama.cpp's own
    greedy sampler (llama_sampler_sample), as the loop did before."""
    import llama_cpp as L

    L.llama_memory_clear(L.llama_get_memory(e.ctx), True)
    smpl = L.llama_sampler_init_greedy()
    try:
        arr = (L.llama_token * len(ids))(*ids)
        assert L.llama_decode(e.ctx, L.llama_batch_get_one(arr, len(ids))) == 0
        out = [L.llama_sampler_sample(smpl, e.ctx, -1)]
        one = (L.llama_token * 1)()
        while len(out) < n:
            one[0] = out[-1]
            assert L.llama_decode(e.ctx, L.llama_batch_get_one(ctypes.cast(one, ctypes.POINTER(L.llama_token)), 1)) == 0
            out.append(L.llama_sampler_sample(smpl, e.ctx, -1))
        return out
    finally:
        L.llama_sampler_free(smpl)


def test_the_argmax_picks_what_llama_cpps_greedy_sampler_picks(engine):
    e, config = engine
    r = e.run_once(config, 0, False)
    expected = c_sampler_tokens(e, e.prompt_ids(config), GEN)
    assert r.text == e.detokenize(expected)
    assert len(set(expected)) > 3  # a real continuation, not one token repeated


def test_exactly_the_tokens_asked_for_are_produced_counted_and_timed(engine):
    e, config = engine
    r = e.run_once(config, 0, False)
    assert r.prompt_tokens == PROMPT and r.gen_tokens == GEN
    # llama.cpp's counters: the prompt as one prefill, then one decode step per token after the first
    assert (r.engine_prefill_n, r.engine_decode_n) == (PROMPT, GEN - 1)
    assert r.timing_source == "llama.cpp perf counters"
    assert len(r.token_ms) == GEN and r.token_ms == sorted(r.token_ms)
    # choosing the tokens takes time, recorded apart, and it lies within the wall clock's window
    assert r.sample_ms is not None and 0 < r.sample_ms < (r.t_end - r.t_start) * 1000


def test_the_sampling_time_per_token_reaches_the_results_row(engine):
    e, config = engine
    reps = []
    for i in range(2):
        r: RepResult = e.run_once(config, i, False)
        reps.append({**r.to_dict(), "gen_tokens_actual": r.gen_tokens, "warmup": False, "rep": i, "config_id": "c"})
    row = result_row({**asdict(config), "config_id": "c"}, reps, status="done", error=None, context={})
    per_token = [x["sample_ms"] / GEN for x in reps]
    assert row["sample_ms_per_token_mean"] == pytest.approx(sum(per_token) / 2)
