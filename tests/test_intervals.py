"""95% intervals of the results (STATISTICS.md): half-widths of the means over the counted
repetitions by Student t, checked against values computed by hand here; none with one
repetition; a bootstrap over whole repetitions for the ITL percentiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgetui.run.aggregate import result_row
from edgetui.run.latency import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_percentiles
from edgetui.rundir.columns import RESULT_COLUMNS

T_975_DF2 = 4.302652729911275  # Student t, 97.5th percentile, 2 degrees of freedom (tables)
T_975_DF4 = 2.7764451051977987  # the same, 4 degrees of freedom


def config(**over):
    c = {"config_id": "c1", "profile": "p", "engine": "llama_cpp", "model": "m", "n_threads": 2, "n_gpu_layers": 0,
         "n_ctx": 512, "n_batch": 512, "flash_attn": True, "kv_cache_type": "f16", "prompt_tokens": 32,
         "gen_tokens": 16}
    c.update(over)
    return c


def rep(i, **over):
    r = {"rep": i, "ttft_ms": 100.0, "prefill_tps": 300.0, "decode_tps": 20.0, "e2e_tps": 15.0, "prompt_tokens": 32,
         "gen_tokens_actual": 16, "energy_j": 8.0, "net_energy_j": 4.0, "power_w_mean": 5.0}
    r.update(over)
    return r


def three_reps():
    return [rep(0, decode_tps=20.0, prefill_tps=300.0, ttft_ms=100.0, e2e_tps=15.0, energy_j=8.0, power_w_mean=5.0),
            rep(1, decode_tps=22.0, prefill_tps=330.0, ttft_ms=110.0, e2e_tps=16.0, energy_j=10.0, power_w_mean=5.5),
            rep(2, decode_tps=24.0, prefill_tps=360.0, ttft_ms=90.0, e2e_tps=17.0, energy_j=12.0, power_w_mean=6.0)]


def test_half_widths_of_the_means_are_t_times_sd_over_root_n_by_hand():
    row = result_row(config(), three_reps(), status="done", error=None, context={})
    # decode 20, 22, 24: mean 22, sd 2; prefill sd 30; ttft 100, 110, 90: sd 10; e2e sd 1
    assert row["decode_tps_ci95"] == pytest.approx(T_975_DF2 * 2 / math.sqrt(3))
    assert row["prefill_tps_ci95"] == pytest.approx(T_975_DF2 * 30 / math.sqrt(3))
    assert row["ttft_ms_ci95"] == pytest.approx(T_975_DF2 * 10 / math.sqrt(3))
    assert row["e2e_tps_ci95"] == pytest.approx(T_975_DF2 * 1 / math.sqrt(3))
    assert row["power_w_mean_ci95"] == pytest.approx(T_975_DF2 * 0.5 / math.sqrt(3))
    # energy per token per repetition: 8/16, 10/16, 12/16 J: sd 0.125
    assert row["energy_j_per_token_ci95"] == pytest.approx(T_975_DF2 * 0.125 / math.sqrt(3))
    assert row["net_energy_j_per_token_ci95"] == 0.0  # 4 J in each repetition: a true zero width, n = 3
    assert row["ci_target_met"] is None  # a fixed count of repetitions


def test_one_repetition_has_no_interval_never_zero():
    row = result_row(config(), [rep(0)], status="done", error=None, context={})
    for col in ("decode_tps_ci95", "prefill_tps_ci95", "ttft_ms_ci95", "e2e_tps_ci95", "energy_j_per_token_ci95",
                "itl_ms_p99_ci95_lo", "itl_ms_p99_ci95_hi"):
        assert row[col] is None, col
    assert row["decode_tps_mean"] == 20.0


def test_no_power_sensor_leaves_the_energy_intervals_empty():
    reps = [rep(i, energy_j=None, net_energy_j=None, power_w_mean=None, decode_tps=20.0 + i) for i in range(3)]
    row = result_row(config(), reps, status="done", error=None, context={})
    assert row["energy_j_per_token_ci95"] is None and row["power_w_mean_ci95"] is None
    assert row["decode_tps_ci95"] is not None


def test_warm_ups_and_repetitions_recorded_twice_do_not_count():
    reps = [rep(0, warmup=True, decode_tps=5.0), *three_reps(), three_reps()[2]]
    row = result_row(config(), reps, status="done", error=None, context={})
    assert row["repetitions"] == 3 and row["decode_tps_ci95"] == pytest.approx(T_975_DF2 * 2 / math.sqrt(3))


def test_the_interval_columns_are_in_results_csv_and_json():
    for col in ("decode_tps_ci95", "prefill_tps_ci95", "ttft_ms_ci95", "e2e_tps_ci95", "energy_j_per_token_ci95",
                "net_energy_j_per_token_ci95", "decode_energy_j_per_token_ci95", "ci_target_met",
                "itl_ms_p50_ci95_lo", "itl_ms_p90_ci95_hi", "itl_ms_p99_ci95_hi"):
        assert col in RESULT_COLUMNS


def brute_force(groups, qs):
    """The bootstrap written plainly: the same draws (multinomial counts), each resample built and
    its percentile taken by numpy."""
    n = len(groups)
    counts = np.random.default_rng(BOOTSTRAP_SEED).multinomial(n, np.full(n, 1.0 / n), size=BOOTSTRAP_RESAMPLES)
    est = {q: [] for q in qs}
    for row in counts:
        pooled = np.concatenate([np.repeat(np.asarray(g, float)[None, :], k, axis=0).ravel()
                                 for g, k in zip(groups, row) if k])
        for q in qs:
            est[q].append(np.percentile(pooled, q))
    return {q: (np.percentile(est[q], 2.5), np.percentile(est[q], 97.5)) for q in qs}


def test_the_vectorised_bootstrap_is_the_plain_one():
    rng = np.random.default_rng(3)
    groups = [list(rng.gamma(4.0, 2.0 + k / 3, size=30 + 7 * k)) for k in range(6)]  # unequal lengths
    fast = bootstrap_percentiles(groups, (50, 90, 99))
    slow = brute_force(groups, (50, 90, 99))
    for q in (50, 90, 99):
        assert fast[q] == pytest.approx(slow[q], rel=1e-12)
        assert fast[q][0] <= fast[q][1]


def test_the_bootstrap_needs_five_repetitions_and_is_a_point_when_they_agree():
    assert bootstrap_percentiles([[1.0, 2.0]] * 4, (99,)) is None
    same = bootstrap_percentiles([[1.0, 2.0, 3.0]] * 5, (50, 99))
    pooled_p99 = float(np.percentile(np.tile([1.0, 2.0, 3.0], 5), 99))
    assert same[50] == (2.0, 2.0) and same[99] == (pooled_p99, pooled_p99)


def test_itl_intervals_of_a_configuration_resample_whole_repetitions():
    # five repetitions of 16 tokens, each a steady pace of its own: 10, 11, ..., 14 ms per token
    reps = [rep(i, token_ms=[10.0 + i + (10.0 + i) * k for k in range(16)]) for i in range(5)]
    row = result_row(config(), reps, status="done", error=None, context={})
    assert row["itl_ms_p50"] == pytest.approx(12.0)
    # a resample of whole repetitions cannot go below the slowest or above the fastest pace
    assert 10.0 <= row["itl_ms_p50_ci95_lo"] < 12.0 < row["itl_ms_p50_ci95_hi"] <= 14.0
    assert row["itl_ms_p99_ci95_lo"] <= row["itl_ms_p99"] <= row["itl_ms_p99_ci95_hi"]
    five = [rep(i, decode_tps=20.0 + i) for i in range(5)]
    assert result_row(config(), five, status="done", error=None, context={})["decode_tps_ci95"] == pytest.approx(
        T_975_DF4 * np.std([20, 21, 22, 23, 24], ddof=1) / math.sqrt(5))


def test_the_toml_export_of_a_ranking_carries_the_intervals(tmp_path):
    from edgetui.tomlread import tomllib

    from conftest import run_cli
    from result_rows import write_run

    row = result_row(config(), three_reps(), status="done", error=None, context={})
    folder = write_run(tmp_path / "run", [row])
    proc = run_cli("rank", str(folder), "--export", str(tmp_path / "r.toml"))
    assert proc.returncode == 0, proc.stderr
    exported = tomllib.loads((tmp_path / "r.toml").read_text())["rows"][0]
    assert exported["decode_tps_ci95"] == pytest.approx(T_975_DF2 * 2 / math.sqrt(3))
    assert exported["energy_j_per_token_ci95"] == pytest.approx(T_975_DF2 * 0.125 / math.sqrt(3))
    assert "itl_ms_p99_ci95_lo" not in exported  # no token times, no interval: absent, never 0
