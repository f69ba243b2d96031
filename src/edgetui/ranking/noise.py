"""Rank intervals: how far each row's rank could move within the run-to-run noise.

The score is a function of every row's figures (min-max normalisation uses the best and worst
rows), so the whole table is resampled at once (docs: STATISTICS.md, rank intervals):
1. for each of B resamples (a fixed seed), every row's figure on each selected criterion is
   drawn: the mean of its repetitions resampled with replacement where the run folder holds them
   (reps.jsonl), else from Normal(mean, sd / sqrt(n)) with the row's `<x>_std` and
   `repetitions`; a row with one repetition, or a criterion with no spread known (peak memory,
   perplexity, ...), keeps its point value in every resample;
2. normalisation, score and rank are recomputed per resample as ranking.rank does (min-max,
   weighted mean, a missing value worst, equal scores sharing the lowest rank), vectorised: a
   resamples x rows matrix per criterion, never a loop over rows;
3. rank_lo and rank_hi are the 2.5th and 97.5th percentiles of each row's B ranks (the nearest
   ranks outward: "lower" and "higher"), widened to take in the row's own rank where they miss
   it; a row whose rank_lo is 1 is tied for best (so the row ranked first always is).

The resamples are made in blocks of about a million cells, so memory stays bounded at 100,000
rows; what is kept between blocks is each row's few lowest and highest ranks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import polars as pl

from edgetui.ranking.criteria import CRITERIA
from edgetui.ranking.rank import Ranking

RESAMPLES = 200
SEED = 20261204
BLOCK_CELLS = 1_000_000  # resamples x rows drawn at once (about 50 MB of temporaries)
METHOD = (f"rank intervals: {RESAMPLES} resamples of the whole table (fixed seed): each row's repetitions "
          "resampled with replacement where the run folder holds them, else Normal(mean, sd/sqrt(n)); one "
          "repetition keeps its point value; rank_lo..rank_hi = 2.5th..97.5th percentile of its rank "
          "(widened to its own rank); rank_lo 1 = tied for best")

# The spread of each criterion: its standard-deviation column in results (over the counted
# repetitions); criteria without one keep their point values unless repetitions are read.
STD_COLUMNS = {"decode_tps": "decode_tps_std", "prefill_tps": "prefill_tps_std", "ttft_ms": "ttft_ms_std"}


def rep_value(key: str, rep: Mapping[str, Any]) -> float | None:
    """A criterion's figure in one repetition record (reps.jsonl), or None where it has none."""
    def num(name: str) -> float | None:
        v = rep.get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

    if key in ("decode_tps", "prefill_tps", "ttft_ms"):
        return num(key)
    if key == "power_w":
        return num("power_w_mean")
    tokens = num("gen_tokens_actual")
    if key in ("energy_j_per_token", "net_energy_j_per_token") and tokens:
        energy = num("net_energy_j") if key == "net_energy_j_per_token" else None
        energy = energy if energy is not None else num("energy_j")  # the ranking's net -> gross fallback
        return energy / tokens if energy is not None else None
    return None


REP_CRITERIA = ("decode_tps", "prefill_tps", "ttft_ms", "power_w", "energy_j_per_token", "net_energy_j_per_token")


@dataclass(frozen=True)
class Repetitions:
    """Per ranked row (by position in the ranking's table) and criterion: its counted
    repetitions' figures, padded with NaN to the longest row."""

    rows: np.ndarray  # int64 positions in the ranking's table
    values: np.ndarray  # rows x max_n float64, NaN after a row's count
    counts: np.ndarray  # int64, >= 2


def read_repetitions(ranking: Ranking, cache: dict[Any, dict[str, list[dict[str, Any]]]] | None = None
                     ) -> dict[str, Repetitions]:
    """Each selected criterion's repetitions of the ranked rows whose run folder holds them.

    cache: run folder -> its counted repetitions by config_id, filled as folders are read (the
    console keeps one per load, so each reps.jsonl is read once); only rows of sources that are
    run folders with repetitions are visited."""
    from edgetui.ranking.llamabench import run_folder
    from edgetui.rundir.store import RunStore

    t = ranking.table
    keys = [k for k in ranking.selected if k in REP_CRITERIA]
    if not keys or "source" not in t.columns or t.height == 0:
        return {}
    cache = {} if cache is None else cache
    by_source: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for source in t["source"].drop_nulls().unique().to_list():
        folder = run_folder(source)
        if folder is None:
            continue
        if folder not in cache:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for r in RunStore(folder).reps():
                if not r.get("warmup"):
                    grouped.setdefault(str(r.get("config_id")), []).append(r)
            cache[folder] = grouped
        if cache[folder]:
            by_source[source] = cache[folder]
    if not by_source:
        return {}
    at = t.with_row_index("_i").filter(pl.col("source").is_in(list(by_source))).select("_i", "source", "config_id")
    found: dict[str, tuple[list[int], list[list[float]]]] = {k: ([], []) for k in keys}
    for i, source, config_id in at.iter_rows():
        counted = by_source[source].get(str(config_id), [])
        if len(counted) < 2:
            continue
        for k in keys:
            vals = [rep_value(k, r) for r in counted]
            if len(vals) >= 2 and all(v is not None for v in vals):
                found[k][0].append(i)
                found[k][1].append([float(v) for v in vals if v is not None])
    out = {}
    for k, (rows, lists) in found.items():
        if not rows:
            continue
        width = max(len(v) for v in lists)
        values = np.full((len(rows), width), np.nan)
        for j, v in enumerate(lists):
            values[j, : len(v)] = v
        out[k] = Repetitions(np.asarray(rows, dtype=np.int64), values, np.array([len(v) for v in lists]))
    return out


def _spread(ranking: Ranking, df: pl.DataFrame, key: str) -> np.ndarray:
    """The standard error (sd / sqrt(n)) of each ranked row's figure; 0 where none is known."""
    n = ranking.table.height
    std_col = STD_COLUMNS.get(key)
    if std_col is None or std_col not in df.columns or "repetitions" not in df.columns:
        return np.zeros(n)
    picked = df.select(pl.col(std_col).cast(pl.Float64), pl.col("repetitions").cast(pl.Float64))[ranking.rows]
    sd = picked[std_col].to_numpy().astype(np.float64)
    reps = picked["repetitions"].to_numpy().astype(np.float64)
    se = np.where((reps >= 2) & np.isfinite(sd) & (sd > 0), sd / np.sqrt(np.where(reps >= 2, reps, 1)), 0.0)
    return np.nan_to_num(se, nan=0.0)


@overload
def rank_intervals(ranking: Ranking, df: pl.DataFrame, *, repetitions: Mapping[str, Repetitions] | None = None,
                   resamples: int = RESAMPLES, seed: int = SEED, cancelled: None = None) -> Ranking: ...
@overload
def rank_intervals(ranking: Ranking, df: pl.DataFrame, *, repetitions: Mapping[str, Repetitions] | None = None,
                   resamples: int = RESAMPLES, seed: int = SEED,
                   cancelled: Callable[[], bool]) -> Ranking | None: ...
def rank_intervals(ranking: Ranking, df: pl.DataFrame, *, repetitions: Mapping[str, Repetitions] | None = None,
                   resamples: int = RESAMPLES, seed: int = SEED,
                   cancelled: Callable[[], bool] | None = None) -> Ranking | None:
    """The ranking with rank_lo, rank_hi and tied_best after its rank (see the module docstring).

    df: the frame the ranking was made from (its `<x>_std` and `repetitions` columns give the
    spread); repetitions: read_repetitions(ranking), where the run folders hold them;
    cancelled: asked between blocks of resamples (the console's newer ranking): None if it says so.
    """
    t = ranking.table
    n = t.height
    keys = ranking.selected
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    if n:
        values = {k: t[f"value_{k}"].to_numpy().astype(np.float64) for k in keys}
        se = {k: _spread(ranking, df, k) for k in keys}
        reps = dict(repetitions or {})
        total = sum(ranking.weights[k] for k in keys)
        weights = {k: ranking.weights[k] / total for k in keys}
        # the 2.5th and 97.5th percentiles ("lower", "higher") of B ranks are order statistics: the
        # i_lo-th smallest and the (B - i_hi)-th largest, kept as the few smallest and largest ranks
        # seen so far rather than every rank (4 MB at 100,000 rows, not 80)
        i_lo = math.floor(0.025 * (resamples - 1))
        i_hi = math.ceil(0.975 * (resamples - 1))
        keep_low, keep_high = i_lo + 1, resamples - i_hi
        low = np.empty((0, n), dtype=np.int32)
        high = np.empty((0, n), dtype=np.int32)
        rng = np.random.default_rng(seed)
        block = max(1, min(resamples, BLOCK_CELLS // n))
        for start in range(0, resamples, block):
            if cancelled is not None and cancelled():
                return None
            b = min(block, resamples - start)
            score = np.zeros((b, n))
            for k in keys:
                norm = _normalised(_draw(values[k], se[k], reps.get(k), b, rng), CRITERIA[k].higher_is_better)
                norm *= weights[k]
                score += norm
            ranks = _ranks(score)
            low = _extremes(np.concatenate([low, ranks]), keep_low, smallest=True)
            high = _extremes(np.concatenate([high, ranks]), keep_high, smallest=False)
        # widened to take in the row's own rank where the percentiles miss it: among many rows
        # within each other's noise the resamples rank the point best lower than it is (the
        # best of many draws is biased), and the row ranked first must stay tied for best
        point = t["rank"].to_numpy()
        lo = np.minimum(low.max(axis=0), point).astype(np.int64)
        hi = np.maximum(high.min(axis=0), point).astype(np.int64)
    cols = [pl.Series("rank_lo", lo, dtype=pl.Int64), pl.Series("rank_hi", hi, dtype=pl.Int64),
            pl.Series("tied_best", lo == 1, dtype=pl.Boolean)]
    table = t.drop([c.name for c in cols if c.name in t.columns])
    table = table.insert_column(1, cols[0]).insert_column(2, cols[1]).insert_column(3, cols[2])
    return dataclasses.replace(ranking, table=table, resamples=resamples, seed=seed)


def _extremes(ranks: np.ndarray, keep: int, *, smallest: bool) -> np.ndarray:
    """The `keep` smallest (or largest) of each column's ranks, in no order."""
    if ranks.shape[0] <= keep:
        return ranks
    if smallest:
        return np.partition(ranks, keep - 1, axis=0)[:keep]
    return np.partition(ranks, ranks.shape[0] - keep, axis=0)[-keep:]


def _draw(point: np.ndarray, se: np.ndarray, reps: Repetitions | None, b: int,
          rng: np.random.Generator) -> np.ndarray:
    """b x rows figures of one criterion: Normal(point, se) where se > 0, the mean of a bootstrap
    resample of the repetitions where they are known, the point value elsewhere (NaN stays NaN)."""
    if (se > 0).any():
        # every row drawn (se 0 adds exactly 0): one pass, no gather of the noisy columns; in float32,
        # twice as fast as float64, its 7 digits far finer than any standard error (rows with the
        # same point value stay equal: the same arithmetic on the same numbers)
        out = rng.standard_normal((b, point.size), dtype=np.float32)
        out *= se.astype(np.float32)
        out += point.astype(np.float32)
    else:
        out = np.broadcast_to(point.astype(np.float32), (b, point.size)).copy()
    if reps is not None and reps.rows.size:
        width = reps.values.shape[1]
        picks = (rng.random((b, reps.rows.size, width)) * reps.counts[:, None]).astype(np.int64)
        drawn = np.take_along_axis(np.broadcast_to(reps.values, (b, *reps.values.shape)), picks, axis=2)
        used = np.arange(width)[None, :] < reps.counts[:, None]  # only a row's own count of draws
        out[:, reps.rows] = (np.where(used, drawn, 0.0).sum(axis=2) / reps.counts).astype(np.float32)
    return out


def _normalised(v: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Min-max per resample (row of v), 1 the best and 0 the worst; missing -> 0; one distinct value -> 1."""
    missing = np.isnan(v[0])  # a missing value is missing in every resample
    if missing.all():
        return np.zeros_like(v)
    have = v[:, ~missing] if missing.any() else v
    lo = have.min(axis=1, keepdims=True)
    hi = have.max(axis=1, keepdims=True)
    span = hi - lo
    flat = span[:, 0] <= 0
    span[flat] = 1.0
    # in place: v is this criterion's draws, made for this call
    if higher_is_better:
        v -= lo
    else:
        np.subtract(hi, v, out=v)
    v /= span
    if flat.any():
        v[flat] = 1.0  # one distinct value: every row with a value is the best
    if missing.any():
        v[:, missing] = 0.0
    return v


def _ranks(score: np.ndarray) -> np.ndarray:
    """Per row of `score` (one resample; overwritten), each column's rank: 1 + the count of higher scores
    (on the score rounded to 1e-9, as ranking.rank), equal scores sharing the lowest rank.

    One sort of 64-bit keys per resample, the column number packed into the low bits: numpy's
    SIMD sort, several times faster than an argsort."""
    b, n = score.shape
    bits = max(1, int(n - 1).bit_length())
    # 0 = the best score; a score is a weighted mean of values in [0, 1], so the key is >= 0
    # (worked in place: `score` is this block's own)
    score *= -1e9
    score += 1e9 + 0.5
    key = score.astype(np.int64)
    key <<= bits
    key |= np.arange(n, dtype=np.int64)
    key.sort(axis=1)
    column = key & ((1 << bits) - 1)
    q = key >> bits
    first = np.empty(q.shape, dtype=bool)
    first[:, 0] = True
    np.not_equal(q[:, 1:], q[:, :-1], out=first[:, 1:])
    sorted_ranks = np.maximum.accumulate(np.where(first, np.arange(1, n + 1, dtype=np.int32), 0), axis=1)
    out = np.empty((b, n), dtype=np.int32)
    for j in range(b):  # a scatter per resample: rows of a few hundred kB, written in place
        out[j, column[j]] = sorted_ranks[j]
    return out


def best_summary(ranking: Ranking) -> tuple[int, int]:
    """(the row tied for best count, rows ranked); (0, n) before intervals are computed."""
    t = ranking.table
    if "tied_best" not in t.columns:
        return 0, t.height
    return int(t["tied_best"].sum()), t.height
