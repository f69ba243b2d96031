"""Re-ranking 100,000 result rows after a weight change: target under 100 ms.

Builds 100,000 synthetic rows with the results columns (seeded, so every run ranks the same
data), then times ranking.rank() (the whole call: filter, normalise, score, rank, sort, Pareto
and the gather of the wide table), median of several runs, for weight sets of 1, 2, 4 and 6
criteria, in two cases:
- after a weight change (same criteria, other weights): the Pareto front depends only on the
  rows and the selected criteria, so rank() reuses it after checking the values are equal;
- after a criteria change (a criterion switched on or off): the front is computed afresh.
The reference, measured in the same run on the same frame, is a plain polars sort by
decode_tps_mean, so the ratio says how much work ranking adds to the least one could do.

The metrics are correlated the way real results are (a faster configuration draws more power
but needs less energy per token; a bigger context uses more memory), with about 10% of rows
lacking an idle baseline (net energy missing, gross present), 5% without any power figure and
2% failed. An "adversarial" set (independent uniform metrics) is timed
too, to show where the Pareto step costs most.

    .venv/bin/python benchmarks/rank_100k.py [--rows 100000] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import polars as pl

from edgetui.ranking.pareto import clear_pareto_cache
from edgetui.ranking.rank import rank
from edgetui.rundir.store import RESULT_COLUMNS

TARGET_MS = 100.0

WEIGHT_SETS = [
    {"decode_tps": 1.0},
    {"decode_tps": 3.0, "net_energy_j_per_token": 2.0},
    {"decode_tps": 3.0, "net_energy_j_per_token": 2.0, "ttft_ms": 1.0, "rss_mb": 1.0},
    {"decode_tps": 3.0, "net_energy_j_per_token": 2.0, "ttft_ms": 1.0, "rss_mb": 1.0, "temp_c": 0.5,
     "tps_per_usd": 1.0},
]


def synthetic_results(n: int, seed: int = 20260424, *, independent: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    boards = np.array(["pi5", "orin-nano", "rk3588", "pi5-hailo", "x86-nuc"])
    models = np.array(["smollm2-135m", "qwen2.5-0.5b", "llama3.2-1b", "qwen2.5-1.5b", "llama3.2-3b"])
    quants = np.array(["Q4_0", "Q4_K_M", "Q5_K_M", "Q8_0"])
    board = boards[rng.integers(0, len(boards), n)]
    model_i = rng.integers(0, len(models), n)
    n_ctx = rng.choice([512, 1024, 2048, 4096], n)
    n_threads = rng.integers(1, 9, n)
    if independent:
        decode = rng.uniform(0.1, 150, n)
        prefill = rng.uniform(1, 2000, n)
        ttft = rng.uniform(10, 20000, n)
        power = rng.uniform(1, 30, n)
        idle = rng.uniform(0.5, 5, n)
        energy = rng.uniform(0.01, 40, n)
        net = rng.uniform(0.005, 30, n)
        rss = rng.uniform(80, 6000, n)
        temp = rng.uniform(35, 90, n)
    else:
        size = np.array([0.135, 0.5, 1.0, 1.5, 3.0])[model_i]
        decode = rng.lognormal(np.log(40 / size), 0.5, n) * np.sqrt(n_threads / 4)
        prefill = decode * rng.uniform(4, 12, n)
        ttft = 1000 * 64 / prefill + rng.uniform(5, 30, n)
        power = 3 + 0.08 * decode * rng.uniform(0.6, 1.4, n)
        idle = rng.uniform(1.5, 4.0, n)
        energy = power / decode
        net = (power - idle).clip(0.05) / decode
        rss = 1000 * size * 0.7 + n_ctx * 0.05 + rng.normal(60, 10, n)
        temp = 40 + 1.2 * power + rng.normal(0, 3, n)
    price = np.array([80.0, 250.0, 130.0, 230.0, 400.0])[np.searchsorted(np.sort(boards), board)]
    status = np.where(rng.random(n) < 0.02, "failed", "done")
    no_idle = rng.random(n) < 0.10
    no_power = rng.random(n) < 0.05
    cols: dict[str, pl.Series] = {
        "config_id": pl.Series([f"{i:012x}" for i in range(n)]),
        "status": pl.Series(status),
        "board": pl.Series(board),
        "engine": pl.Series(["llama_cpp"] * n),
        "model": pl.Series(models[model_i]),
        "quant": pl.Series(quants[rng.integers(0, len(quants), n)]),
        "n_threads": pl.Series(n_threads, dtype=pl.Int64),
        "n_ctx": pl.Series(n_ctx, dtype=pl.Int64),
        "decode_tps_mean": pl.Series(decode),
        "prefill_tps_mean": pl.Series(prefill),
        "ttft_ms_mean": pl.Series(ttft),
        "power_w_mean": pl.Series(np.where(no_power, np.nan, power)).fill_nan(None),
        "power_w_idle": pl.Series(np.where(no_power | no_idle, np.nan, idle)).fill_nan(None),
        "energy_j_per_token": pl.Series(np.where(no_power, np.nan, energy)).fill_nan(None),
        "net_energy_j_per_token": pl.Series(np.where(no_power | no_idle, np.nan, net)).fill_nan(None),
        "rss_mb_peak": pl.Series(rss),
        "temp_c_max": pl.Series(temp),
        "price_usd": pl.Series(price),
        "tps_per_usd": pl.Series(decode / price),
    }
    df = pl.DataFrame(cols)
    # the remaining results columns, empty, so the frame is as wide as a real merged one
    rest = [pl.lit(None, dtype=pl.Float64).alias(c) for c in RESULT_COLUMNS if c not in df.columns]
    return df.with_columns(rest).with_columns(pl.lit("synthetic").alias("source"))


def timed(fn, runs: int) -> tuple[float, float, object]:
    """(median ms, fastest ms, last result) of `runs` calls of fn."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at start; median of {args.runs} runs (fastest in brackets)")

    for label, independent in (("realistic", False), ("adversarial", True)):
        df = synthetic_results(args.rows, independent=independent)
        sort_ms, _, _ = timed(lambda df=df: df.sort("decode_tps_mean", descending=True), args.runs)
        print(f"{label}: {df.height} rows x {df.width} columns; reference, a plain polars sort of the frame: "
              f"{sort_ms:.1f} ms")
        rank(df, WEIGHT_SETS[0])  # warm-up: first-call costs (imports, polars thread pool) not counted
        for weights in WEIGHT_SETS:
            names = "+".join(weights)
            # a weight change: the same criteria, other weights, ranked just before
            other = {k: w + 1 for k, w in weights.items()}

            def after_weight_change(weights=weights, other=other, df=df):
                rank(df, other)
                t0 = time.perf_counter()
                r = rank(df, weights)
                return (time.perf_counter() - t0) * 1000, r

            # a criterion switched on or off: the Pareto front must be computed afresh
            def after_criteria_change(weights=weights, df=df):
                clear_pareto_cache()
                t0 = time.perf_counter()
                r = rank(df, weights)
                return (time.perf_counter() - t0) * 1000, r

            for what, fn in (("weight change", after_weight_change), ("criteria change", after_criteria_change)):
                runs = [fn() for _ in range(args.runs)]
                ms = statistics.median(t for t, _ in runs)
                fastest = min(t for t, _ in runs)
                front = int(runs[-1][1].table["pareto"].sum())
                print(f"  rank after a {what} [{len(weights)} criteria: {names}]: {ms:.0f} ms [{fastest:.0f}] "
                      f"(target {TARGET_MS:.0f} ms, {ms / TARGET_MS:.2f} of target; {ms / sort_ms:.1f}x a plain "
                      f"sort; {front} Pareto-optimal rows)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} at the end")


if __name__ == "__main__":
    main()
