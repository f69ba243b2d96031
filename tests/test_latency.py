"""Inter-token latency and time per output token from known token times."""

from __future__ import annotations

import pytest

from edgetui.run.aggregate import result_row
from edgetui.run.latency import inter_token_ms, latency_columns, streams_of, tpot_ms
from edgetui.stats import percentile


def rep(token_ms, *, counts=None, first_count=1, t_start=100.0, warmup=False):
    """A repetition row as the runner writes it, with token times in ms after t_start."""
    n = sum(counts) if counts else len(token_ms)
    return {"config_id": "c", "rep": 0, "warmup": warmup, "t_start": t_start,
            "t_first_token": t_start + token_ms[0] / 1000, "t_end": t_start + token_ms[-1] / 1000,
            "gen_tokens_actual": n, "first_token_count": first_count, "token_ms": token_ms,
            "token_counts": counts}


def test_percentile_interpolates_between_ranks_as_numpy_does():
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10 and percentile(values, 100) == 40
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 90) == pytest.approx(37.0)  # numpy.percentile([10,20,30,40], 90)
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) is None and percentile([None], 50) is None


def test_gaps_between_tokens_are_the_inter_token_latencies():
    # first token at 50 ms, then gaps of 10, 10, 30 ms
    s = streams_of(rep([50.0, 60.0, 70.0, 100.0]))[0]
    assert inter_token_ms(s) == pytest.approx([10.0, 10.0, 30.0])
    assert tpot_ms(s) == pytest.approx(50.0 / 3)  # (100 - 50) ms over 3 tokens after the first


def test_a_chunk_of_several_tokens_shares_its_gap_among_them():
    # StackFlow-like: 3 tokens per chunk, chunks 30 ms apart
    s = streams_of(rep([90.0, 120.0, 150.0], counts=[3, 3, 3], first_count=3))[0]
    assert inter_token_ms(s) == pytest.approx([10.0] * 6)
    assert tpot_ms(s) == pytest.approx(60.0 / 6)


def test_percentiles_pool_every_token_of_the_counted_repetitions():
    # rep A: 9 gaps of 10 ms; rep B: 9 gaps of 20 ms, one of 110 ms (a stall)
    a = rep([0.0] + [10.0 * i for i in range(1, 10)])
    b = rep([0.0] + [20.0 * i for i in range(1, 10)] + [290.0])
    cols = latency_columns([a, b])
    gaps = sorted([10.0] * 9 + [20.0] * 9 + [110.0])
    assert cols["itl_ms_p50"] == pytest.approx(percentile(gaps, 50)) == pytest.approx(20.0)
    assert cols["itl_ms_p90"] == pytest.approx(20.0)
    assert cols["itl_ms_p99"] == pytest.approx(20.0 + (110.0 - 20.0) * 0.82)
    assert cols["tpot_ms_mean"] == pytest.approx((90.0 / 9 + 290.0 / 10) / 2)


def test_several_streams_pool_their_tokens():
    streams = [{"t_start": 0.0, "t_first_token": 0.05, "t_end": 0.08, "gen_tokens": 4, "first_token_count": 1,
                "token_ms": [50.0, 60.0, 70.0, 80.0]},
               {"t_start": 0.0, "t_first_token": 0.1, "t_end": 0.16, "gen_tokens": 4, "first_token_count": 1,
                "token_ms": [100.0, 120.0, 140.0, 160.0]}]
    cols = latency_columns([{"streams": streams}])
    assert cols["itl_ms_p50"] == pytest.approx(15.0)  # three gaps of 10 and three of 20
    assert cols["tpot_ms_mean"] == pytest.approx(15.0)


def test_without_token_times_the_columns_are_empty_not_zero():
    old = {"t_start": 0.0, "t_first_token": None, "t_end": None, "gen_tokens_actual": 5}
    cols = latency_columns([old])
    assert all(v is None for v in cols.values()) and "itl_ms_p50" in cols


def test_results_row_carries_the_latency_columns_from_counted_repetitions_only():
    config = {"config_id": "c", "profile": "p", "engine": "llama_cpp", "model": "m", "n_threads": 1,
              "n_gpu_layers": 0, "n_ctx": 256, "n_batch": 512, "flash_attn": "auto", "kv_cache_type": "f16",
              "prompt_tokens": 8, "gen_tokens": 4}
    counted = rep([50.0, 60.0, 70.0, 80.0])
    warm = rep([50.0, 150.0, 250.0, 350.0], warmup=True)
    row = result_row(config, [counted, warm], status="done", error=None, context={})
    assert row["itl_ms_p50"] == pytest.approx(10.0) and row["itl_ms_p99"] == pytest.approx(10.0)
    assert row["tpot_ms_mean"] == pytest.approx(10.0)


def test_stackflow_records_each_chunk_with_its_three_tokens():
    import sys
    from pathlib import Path

    from edgetui.engines.registry import engine_class
    from edgetui.profiles.plan import Configuration

    sys.path.insert(0, str(Path(__file__).parent))
    from standins.stackflow_server import StandinStackFlow

    device = StandinStackFlow(models=("m",), token_s=0.002).start()
    try:
        c = Configuration(profile="p", engine="stackflow", engine_url=device.url, model="m", model_name="m",
                          model_path=None, n_threads=0, n_gpu_layers=-1, n_ctx=256, n_batch=512, flash_attn="auto",
                          kv_cache_type="f16", prompt_tokens=None, prompt="Explain why the sky is blue.",
                          gen_tokens=12, repetitions=1, warmup=0, engine_timeout_s=5.0)
        e = engine_class("stackflow")(c, None, lambda ev: None)
        e.load()
        r = e.run_once(c, 0, False)
        e.close()
    finally:
        device.stop()
    assert r.token_counts == [3] * len(r.token_ms) and sum(r.token_counts) == r.gen_tokens
    s = streams_of({"t_start": r.t_start, "t_first_token": r.t_first_token, "t_end": r.t_end,
                    "gen_tokens_actual": r.gen_tokens, "first_token_count": r.first_token_count,
                    "token_ms": r.token_ms, "token_counts": r.token_counts})[0]
    assert len(inter_token_ms(s)) == r.gen_tokens - 3  # every token after the first chunk has its latency
