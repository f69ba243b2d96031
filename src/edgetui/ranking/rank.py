"""Weighted ranking of result rows, Pareto marking and merging of several boards' results.

The same code ranks for the console's results screen and for `edgetui rank`.

How a score is made (also stated in every Ranking, so the UI and the export can show it):
- each selected criterion (weight > 0) is normalised min-max over the rows shown, after
  filters and after dropping failed rows, and oriented so that 1 is the best row and 0 the
  worst; a criterion whose shown rows all have the same value gives 1 to all of them;
- the score is the weighted mean of those normalised values;
- a missing value is never read as zero watts or zero tokens/s: the row gets the worst
  normalised value (0) for that criterion, so missing data can never lift a row above one
  that was measured, its `norm_<key>` stays empty, and its `missing` column names the
  criterion;
- energy per token "net of idle when available": rows without an idle baseline fall back to
  the gross energy per token. Gross is never below net, so the fallback can only cost the row,
  never flatter it; `energy_basis` says "net" or "gross" per row.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from edgetui.errors import UserError, close_match_hint
from edgetui.rundir.columns import COLUMN_KINDS
from edgetui.rundir.store import RESULT_COLUMNS, load_result_rows


@dataclass(frozen=True)
class Criterion:
    key: str
    column: str
    label: str
    unit: str
    higher_is_better: bool

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


CRITERIA: dict[str, Criterion] = {c.key: c for c in (
    Criterion("decode_tps", "decode_tps_mean", "decode", "tok/s", True),
    Criterion("prefill_tps", "prefill_tps_mean", "prefill", "tok/s", True),
    Criterion("ttft_ms", "ttft_ms_mean", "time to first token", "ms", False),
    Criterion("net_energy_j_per_token", "net_energy_j_per_token", "energy per token (net of idle)", "J/tok",
              False),
    Criterion("energy_j_per_token", "energy_j_per_token", "energy per token (gross)", "J/tok", False),
    Criterion("power_w", "power_w_mean", "mean power", "W", False),
    Criterion("tps_per_litre", "tps_per_litre", "decode per litre", "tok/s/L", True),
    Criterion("tps_per_usd", "tps_per_usd", "decode per dollar", "tok/s/USD", True),
    Criterion("rss_mb", "rss_mb_peak", "peak memory (RSS)", "MB", False),
    Criterion("temp_c", "temp_c_max", "peak temperature", "C", False),
)}

# A results column name is accepted in place of its criterion key (decode_tps_mean=3).
_ALIASES: dict[str, str] = {c.column: c.key for c in CRITERIA.values()}

DEFAULT_WEIGHTS: dict[str, float] = {"decode_tps": 1.0}

NORMALISATION = ("min-max per criterion over the rows shown (after filters; failed rows left out unless "
                 "included), oriented so 1 is the best row and 0 the worst; a criterion with one distinct "
                 "value gives 1 to every row; score = weighted mean of the normalised criteria with weight > 0")

MISSING_POLICY = ("a missing value counts as the worst (0) for that criterion, never as a measured zero; "
                  "the row's `missing` column names it and the row is never marked Pareto-optimal; "
                  "energy per token net of idle falls back to gross energy per token where no idle "
                  "baseline was measured (energy_basis = gross)")

# Column types: the results columns' from their declarations, the ranking's own beside them.
_RANKING_KINDS = {"rank": "int", "score": "float", "pareto": "bool", "missing": "text", "energy_basis": "text",
                  "source": "text"}
_KINDS = {**COLUMN_KINDS, **_RANKING_KINDS}
STRING_COLUMNS = frozenset(k for k, kind in _KINDS.items() if kind == "text")
INT_COLUMNS = frozenset(k for k, kind in _KINDS.items() if kind == "int")
BOOL_COLUMNS = frozenset(k for k, kind in _KINDS.items() if kind == "bool")

# Columns the ranking adds in front of the results columns.
RANK_COLUMNS = ("rank", "score", "pareto", "missing", "energy_basis")


@dataclass
class Ranking:
    """A ranked table plus what is needed to reproduce it.

    table: rank, score, pareto, missing, energy_basis, value_<key> (the value ranked on, after the
    net->gross energy fallback) and norm_<key> for each selected criterion, then the original
    columns (with `source`); sorted by rank, then config_id, board and source.
    """

    table: pl.DataFrame
    weights: dict[str, float]
    normalisation: str
    missing_policy: str
    filters: dict[str, list[str]] | None = None
    include_failed: bool = False

    @property
    def selected(self) -> list[str]:
        """Criterion keys with weight > 0, in CRITERIA order."""
        return selected_criteria(self.weights)

    @property
    def sources(self) -> list[str]:
        if "source" not in self.table.columns:
            return []
        return sorted({s for s in self.table["source"].to_list() if s is not None})


# ------------------------------------------------------------------ weights
def criterion_key(name: str) -> str:
    """The criterion key for a key or its results column name; UserError otherwise."""
    name = name.strip()
    if name in CRITERIA:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    hint = close_match_hint(name, [*CRITERIA, *_ALIASES])
    raise UserError(f'unknown criterion "{name}"{hint}; valid criteria: {", ".join(CRITERIA)}',
                    where="--weights")


def parse_weights(text: str) -> dict[str, float]:
    """"decode_tps=3,net_energy_j_per_token=2" -> {"decode_tps": 3.0, "net_energy_j_per_token": 2.0}.

    Keys are criterion keys or their results column names; weights are finite numbers >= 0.
    A weight of 0 keeps the criterion listed but out of the score. Empty text -> UserError.
    """
    weights: dict[str, float] = {}
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise UserError("no weights given; expected e.g. decode_tps=3,net_energy_j_per_token=2",
                        where="--weights")
    for part in parts:
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise UserError(f'"{part}" is not CRITERION=WEIGHT (e.g. decode_tps=3)', where="--weights")
        key = criterion_key(name)
        try:
            w = float(value.strip())
        except ValueError:
            raise UserError(f'weight of {key} is not a number: "{value.strip()}"', where="--weights") from None
        _check_weight(key, w)
        if key in weights:
            raise UserError(f"{key} is given twice", where="--weights")
        weights[key] = w
    validate_weights(weights)
    return weights


def _check_weight(key: str, w: float) -> None:
    if math.isnan(w) or math.isinf(w):
        raise UserError(f"weight of {key} must be a finite number, not {w}", where="--weights")
    if w < 0:
        raise UserError(f"weight of {key} must be >= 0 (use a lower-is-better criterion instead of a "
                        f"negative weight), not {w}", where="--weights")


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Keys resolved to criterion keys, weights checked; at least one weight > 0."""
    out: dict[str, float] = {}
    for name, w in weights.items():
        key = criterion_key(name)
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise UserError(f"weight of {key} is not a number: {w!r}", where="--weights") from None
        _check_weight(key, w)
        out[key] = w
    if not any(w > 0 for w in out.values()):
        raise UserError("at least one criterion needs a weight above 0", where="--weights")
    return out


def selected_criteria(weights: Mapping[str, float]) -> list[str]:
    return [k for k in CRITERIA if weights.get(k, 0) > 0]


def format_weights(weights: Mapping[str, float]) -> str:
    """The --weights text that reproduces these weights (criteria order)."""
    return ",".join(f"{k}={weights[k]:g}" for k in CRITERIA if k in weights)


# ------------------------------------------------------------------ loading and merging
def load_results(paths: Sequence[str | Path]) -> pl.DataFrame:
    """Merge run folders / results.json / results.csv (several boards) into one frame.

    A `source` column holds the path each row came from. Rows are identified by (source,
    config_id): the same configuration measured on two boards stays two rows. An exported
    ranking (.toml, or a .csv written by export_ranking) is accepted too and keeps the
    `source` recorded in it. Unreadable, incompatible or empty input -> UserError.
    """
    if not paths:
        raise UserError("no results given: pass run folders, results.json or results.csv files")
    rows: list[dict[str, Any]] = []
    seen: dict[Path, str] = {}
    idents: dict[tuple[str, str], str] = {}  # (source, config_id) -> the path it was read from
    for path in paths:
        resolved = Path(path).resolve()
        if resolved in seen:
            raise UserError(f"given twice (also as {seen[resolved]})", where=str(path))
        seen[resolved] = str(path)
        for i, row in enumerate(_rows_of(path)):
            if not isinstance(row, dict) or not row.get("config_id") or not row.get("status"):
                raise UserError(f"row {i + 1} has no config_id or status: not an edgetui results row",
                                where=str(path))
            row = row if row.get("source") else {**row, "source": str(path)}
            ident = (str(row["source"]), str(row["config_id"]))
            if ident in idents:
                also = "" if idents[ident] == str(path) else f" (also in {idents[ident]})"
                raise UserError(f"configuration {ident[1]} from {ident[0]} appears twice{also}; "
                                "a row is identified by its source and config_id", where=str(path))
            idents[ident] = str(path)
            rows.append(row)
    if not rows:
        raise UserError("no result rows in " + ", ".join(str(p) for p in paths)
                        + " (did the run finish any configuration?)")
    return frame_from_rows(rows)


def _rows_of(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if p.is_file() and (p.suffix == ".toml" or (p.suffix == ".csv" and _is_export_csv(p))):
        from edgetui.ranking.export import load_ranking_export

        return load_ranking_export(p).result_rows()
    return load_result_rows(p)


def _is_export_csv(p: Path) -> bool:
    from edgetui.ranking.export import CSV_MAGIC

    try:
        with p.open(encoding="utf-8") as f:
            return f.readline().startswith(CSV_MAGIC)
    except (OSError, UnicodeDecodeError):
        return False


def frame_from_rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows (dicts) -> a frame with fixed types for the results columns.

    Known columns get their type whatever file they came from (a CSV cell "4" and a JSON 4
    both become 4); a value that cannot be read as its column's type -> UserError naming the
    row and column, never a silent null.
    """
    names: list[str] = []
    for col in [*RESULT_COLUMNS, "source"]:
        names.append(col)
    known = set(names)
    for row in rows:
        for k in row:
            if k not in known:
                known.add(k)
                names.append(k)
    series = [_typed_series(name, [row.get(name) for row in rows], rows) for name in names]
    return pl.DataFrame(series)


def _typed_series(name: str, values: list[Any], rows: list[dict[str, Any]]) -> pl.Series:
    if name in STRING_COLUMNS:
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
    if name in BOOL_COLUMNS:
        return pl.Series(name, [_to_bool(name, v, rows, i) for i, v in enumerate(values)], dtype=pl.Boolean)
    if name in INT_COLUMNS:
        return pl.Series(name, [_to_int(name, v, rows, i) for i, v in enumerate(values)], dtype=pl.Int64)
    if name in RESULT_COLUMNS or name == "score" or name.startswith(("value_", "norm_")):
        return pl.Series(name, [_to_float(name, v, rows, i) for i, v in enumerate(values)], dtype=pl.Float64)
    # a column this edgetui does not know: keep it, as numbers if they all are, else as text
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def _bad(name: str, v: Any, rows: list[dict[str, Any]], i: int, expected: str) -> UserError:
    row = rows[i]
    return UserError(f"config {row.get('config_id')}: {name} = {v!r} is not {expected}",
                     where=str(row.get("source") or "results"))


def _to_float(name: str, v: Any, rows: list[dict[str, Any]], i: int) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise _bad(name, v, rows, i, "a number")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise _bad(name, v, rows, i, "a number") from None
    return f


def _to_int(name: str, v: Any, rows: list[dict[str, Any]], i: int) -> int | None:
    f = _to_float(name, v, rows, i)
    if f is None:
        return None
    if not f.is_integer():
        raise _bad(name, v, rows, i, "a whole number")
    return int(f)


def _to_bool(name: str, v: Any, rows: list[dict[str, Any]], i: int) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise _bad(name, v, rows, i, "true or false")


# ------------------------------------------------------------------ ranking
def value_expr(key: str, columns: Iterable[str]) -> pl.Expr:
    """The value a criterion ranks on: its column as a float, non-finite values as missing (the
    ranking and the trade-off plot read every criterion through this one expression)."""
    cols = set(columns)
    c = CRITERIA[key]
    col = pl.col(c.column).cast(pl.Float64) if c.column in cols else pl.lit(None, dtype=pl.Float64)
    if key == "net_energy_j_per_token" and "energy_j_per_token" in cols:
        col = pl.coalesce(col, pl.col("energy_j_per_token").cast(pl.Float64))
    return pl.when(col.is_finite()).then(col).otherwise(None).alias(f"value_{key}")


def _filter_expr(df: pl.DataFrame, filters: Mapping[str, str | Sequence[str]]) -> tuple[pl.Expr, dict[str, list[str]]]:
    """AND across columns, OR across the values given for one column; compared as text."""
    expr = pl.lit(True)
    normalised: dict[str, list[str]] = {}
    for col, value in filters.items():
        if col not in df.columns:
            hint = close_match_hint(col, df.columns)
            raise UserError(f'no column "{col}" to filter on{hint}; e.g. model, board, engine, quant',
                            where="--filter")
        values = [value] if isinstance(value, str) else [str(v) for v in value]
        normalised[col] = values
        expr = expr & pl.col(col).cast(pl.String).is_in(values)
    return expr, normalised


def rank(
    df: pl.DataFrame,
    weights: Mapping[str, float],
    *,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    include_failed: bool = False,
) -> Ranking:
    """Rank rows by the weighted mean of min-max normalised criteria (see the module docstring).

    filters: column -> value (or list of values: any of them), applied before normalising.
    include_failed: keep rows whose status is not "done" (failed or skipped); otherwise they
    are left out. Ties (equal scores) share the lowest rank. An empty result is an empty table.
    """
    weights = validate_weights(weights)
    keys = selected_criteria(weights)
    if "config_id" not in df.columns:
        raise UserError("the results have no config_id column")

    # Everything is computed on a narrow frame (the columns the ranking reads, plus the row
    # number) and the wide results frame is gathered once in the final order: filtering and
    # sorting 60 columns twice would cost more than the ranking itself at 100k rows.
    needed = ["config_id", "board", "source", "status", "energy_j_per_token",
              *[CRITERIA[k].column for k in keys], *(filters or {})]
    narrow = df.select(list(dict.fromkeys(c for c in needed if c in df.columns))).with_row_index("_row")
    # eager steps: with polars 2.1 they measured faster here than the same steps as one lazy query
    work = narrow
    norm_filters: dict[str, list[str]] | None = None
    if filters:
        fexpr, norm_filters = _filter_expr(df, filters)
        work = work.filter(fexpr)
    if not include_failed and "status" in df.columns:
        work = work.filter(pl.col("status") == "done")

    work = work.with_columns([value_expr(k, df.columns) for k in keys])
    norm_exprs = []
    for k in keys:
        v = pl.col(f"value_{k}")
        lo, hi = v.min(), v.max()
        scaled = (v - lo) / (hi - lo) if CRITERIA[k].higher_is_better else (hi - v) / (hi - lo)
        # one distinct value (or none): every row with a value is the best
        norm_exprs.append(pl.when(v.is_null()).then(None).when(hi == lo).then(1.0).otherwise(scaled)
                          .alias(f"norm_{k}"))
    work = work.with_columns(norm_exprs)

    total = sum(weights[k] for k in keys)
    score = pl.sum_horizontal([pl.col(f"norm_{k}").fill_null(0.0) * (weights[k] / total) for k in keys])
    missing = pl.concat_str([pl.when(pl.col(f"value_{k}").is_null()).then(pl.lit(k)) for k in keys],
                            separator=",", ignore_nulls=True).fill_null("")
    if "net_energy_j_per_token" in keys and "net_energy_j_per_token" in df.columns:
        basis = (pl.when(pl.col("net_energy_j_per_token").is_finite()).then(pl.lit("net"))
                 .when(pl.col("value_net_energy_j_per_token").is_not_null()).then(pl.lit("gross"))
                 .otherwise(pl.lit(None, dtype=pl.String)))
    elif "net_energy_j_per_token" in keys:
        basis = pl.when(pl.col("value_net_energy_j_per_token").is_not_null()).then(pl.lit("gross")).otherwise(
            pl.lit(None, dtype=pl.String))
    else:
        basis = pl.lit(None, dtype=pl.String)
    work = work.with_columns(score.alias("score"), missing.alias("missing"), basis.alias("energy_basis"))
    # Pareto depends on the rows and the set of selected criteria, never on the weights: it is
    # computed on the rows in their original order and reused while those stay the same.
    pareto_by_row = _cached_pareto(keys, work["_row"].to_numpy(),
                                   work.select([f"value_{k}" for k in keys]).to_numpy())

    # Rank on the score rounded to 1e-9 so float noise in the weighted sum does not split a tie;
    # one sort (score, then config_id, board, source for a stable order), then the min rank
    # of each run of equal scores, rather than a rank() and a second sort.
    work = work.with_columns(pl.col("score").round(9).alias("_score_key"))
    sort_cols = ["_score_key", "config_id"] + [c for c in ("board", "source") if c in df.columns]
    # (no nulls_last: scores are never null, and it made this sort three times slower)
    by = work.select(pl.arg_sort_by(sort_cols, descending=[True] + [False] * (len(sort_cols) - 1))
                     ).to_series().to_numpy()
    # only the columns still needed are put in order (sorting the whole work frame cost 4x more)
    ranked = work.select("_row", "_score_key", "score", "missing", "energy_basis",
                         *[f"value_{k}" for k in keys], *[f"norm_{k}" for k in keys])[by]
    key = ranked["_score_key"].to_numpy()
    first_of_tie = np.r_[True, key[1:] != key[:-1]] if key.size else np.zeros(0, dtype=bool)
    ranks = np.maximum.accumulate(np.where(first_of_tie, np.arange(1, key.size + 1), 0))
    ranked = ranked.with_columns(pl.Series("rank", ranks, dtype=pl.Int64))

    pareto = pareto_by_row(ranked["_row"].to_numpy())
    front = ranked.select("rank", "score", pl.Series("pareto", pareto, dtype=pl.Boolean), "missing",
                          "energy_basis", *[f"value_{k}" for k in keys], *[f"norm_{k}" for k in keys])
    # a frame that already holds ranking columns (an export read back) gets fresh ones
    original = df.select([c for c in df.columns
                          if c not in RANK_COLUMNS and not c.startswith(("value_", "norm_"))])
    table = pl.concat([front, original[ranked["_row"].to_numpy()]], how="horizontal")
    return Ranking(table=table, weights=dict(weights), normalisation=NORMALISATION,
                   missing_policy=MISSING_POLICY, filters=norm_filters, include_failed=include_failed)


# ------------------------------------------------------------------ Pareto
_PARETO_CACHE_SIZE = 4
_pareto_cache: OrderedDict[tuple[str, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
_pareto_lock = threading.Lock()


def clear_pareto_cache() -> None:
    with _pareto_lock:
        _pareto_cache.clear()


def _cached_pareto(keys: Sequence[str], rows: np.ndarray, values: np.ndarray):
    """The Pareto mask of these rows (increasing row numbers) on these criteria, as a function
    from row numbers (in any order) to the mask in that order.

    A weight change leaves the rows and the selected criteria as they were, so the front is
    reused: only when both the row numbers and every value are equal (an exact comparison,
    missing values included), never on a hash or on the frame's identity alone.
    """
    key = tuple(keys)
    with _pareto_lock:
        hit = _pareto_cache.get(key)
    mask = None
    if hit is not None:
        c_rows, c_values, c_mask = hit
        if np.array_equal(c_rows, rows) and np.array_equal(c_values, values, equal_nan=True):
            mask = c_mask
    if mask is None:
        mask = pareto_mask(values, [CRITERIA[k].higher_is_better for k in keys])
        with _pareto_lock:
            _pareto_cache[key] = (rows, values, mask)
            _pareto_cache.move_to_end(key)
            while len(_pareto_cache) > _PARETO_CACHE_SIZE:
                _pareto_cache.popitem(last=False)

    def in_order(row_numbers: np.ndarray) -> np.ndarray:
        position = np.empty(int(rows[-1]) + 1 if rows.size else 0, dtype=np.int64)
        position[rows] = np.arange(rows.size)
        return mask[position[row_numbers]]

    return in_order


def pareto_mask(values: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """True for rows not dominated by any other row.

    values: n x k floats (NaN = missing). A row dominates another when it is at least as good
    on every criterion and strictly better on one. Rows with a missing value are never
    Pareto-optimal and dominate nothing (they cannot be compared). Identical rows do not
    dominate each other, so both stay on the front.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0 or values.ndim != 2 or values.shape[1] == 0:
        return mask
    complete = ~np.isnan(values).any(axis=1)
    # orient every criterion so that higher is better
    signs = np.array([1.0 if h else -1.0 for h in higher_is_better])
    if complete.all():
        complete_ids = None
        pts = values * signs
    else:
        complete_ids = np.flatnonzero(complete)
        if complete_ids.size == 0:
            return mask
        pts = values[complete_ids] * signs
    k = pts.shape[1]
    if k == 1:
        front = pts[:, 0] == pts[:, 0].max()
    elif k == 2:
        front = _pareto_2d(pts)
    else:
        front = _pareto_nd(pts)
    if complete_ids is None:
        return front
    mask[complete_ids[front]] = True
    return mask


def _pareto_2d(pts: np.ndarray) -> np.ndarray:
    """O(n log n): one sort by x (descending), then a sweep over groups of equal x.

    A row is on the front when its y is the best of its group (same x) and strictly better than
    every y seen at a larger x; anything else has a row at least as good on both and better on one.
    """
    x, y = pts[:, 0], pts[:, 1]
    order = np.argsort(-x)  # equal x are grouped below, so their order does not matter
    xs, ys = x[order], y[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group_best = np.maximum.reduceat(ys, starts)
    # the best y among all groups with a larger x (minus infinity for the first group)
    before = np.r_[-np.inf, np.maximum.accumulate(group_best)[:-1]]
    group_of = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, xs.size]))
    on_front = (ys == group_best[group_of]) & (group_best[group_of] > before[group_of])
    out = np.zeros(xs.size, dtype=bool)
    out[order] = on_front
    return out


def _pareto_nd(pts: np.ndarray, block: int = 32) -> np.ndarray:
    """Sort-filter skyline, in blocks, with column-wise numpy sweeps.

    Rows are visited best first by the sum of the logs of their approximate percentiles (a
    row's dominator never has a lower sum, so most dominated rows are removed by an earlier
    survivor before they are ever compared with each other). Each block is checked against itself; each of
    its survivors then removes every later row it dominates, so the remaining set shrinks fast.
    Removal only ever happens on an exact dominance test, so the candidates are a superset
    of the front; candidates with exactly equal sums are then checked against each other.
    """
    n, k = pts.shape
    total = np.zeros(n)
    step = max(1, n // 128)
    for c in range(k):
        # log of the approximate percentile (from a sorted sample of 128): a row with percentiles
        # p_1..p_k dominates about prod(p_j) of independent rows, so the largest sum of logs
        # removes the most rows first; any non-decreasing transform keeps dominators first
        sample = np.sort(pts[::step, c])
        total += np.log1p(np.searchsorted(sample, pts[:, c], side="right"))
    order = np.argsort(-total)  # equal sums are settled at the end
    rem = np.ascontiguousarray(pts[order].T)  # k x n: one contiguous array per criterion
    rem_ids = order
    cand: list[np.ndarray] = []
    while rem_ids.size:
        head, head_ids = rem[:, :block], rem_ids[:block]
        survivors = ~_dominated_within(head)
        cand.append(head_ids[survivors])
        rest, rest_ids = rem[:, block:], rem_ids[block:]
        if rest_ids.size:
            rest, rest_ids = _remove_dominated(rest, rest_ids, head[:, survivors])
        rem, rem_ids = rest, rest_ids
    ids = np.concatenate(cand)
    # A kept row's dominator can only have come after it when their sums are exactly equal
    # (a dominator's float sum is never lower): check candidates within groups of equal sum.
    sums = total[ids]
    by_sum = np.argsort(sums, kind="stable")
    ids, sums = ids[by_sum], sums[by_sum]
    starts = np.flatnonzero(np.r_[True, sums[1:] != sums[:-1]])
    ends = np.r_[starts[1:], sums.size]
    drop = np.zeros(ids.size, dtype=bool)
    for a, b in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
        group = np.ascontiguousarray(pts[ids[a:b]].T)
        drop[a:b] = _dominated_within(group)
    out = np.zeros(n, dtype=bool)
    out[ids[~drop]] = True
    return out


def _dominates(cols: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cols: k x n; b: k values. True where b is >= on every criterion and > on one."""
    at_least = cols[0] <= b[0]
    for c in range(1, cols.shape[0]):
        at_least &= cols[c] <= b[c]
    idx = np.flatnonzero(at_least)
    if idx.size:
        # usually few rows: only they need the test for "not equal on every criterion"
        at_least[idx[(cols[:, idx] == b[:, None]).all(axis=0)]] = False
    return at_least


def _dominated_within(cols: np.ndarray) -> np.ndarray:
    """cols: k x m; True where another of these rows dominates."""
    if cols.shape[1] > 256:  # keep the m x m x k comparison small
        dominated = np.zeros(cols.shape[1], dtype=bool)
        for j in range(cols.shape[1]):
            dominated |= _dominates(cols, cols[:, j])
        return dominated
    a = cols.T
    ge = (a[None, :, :] >= a[:, None, :]).all(axis=2)  # ge[i, j]: row j >= row i everywhere
    gt = (a[None, :, :] > a[:, None, :]).any(axis=2)
    return (ge & gt).any(axis=1)


def _remove_dominated(cols: np.ndarray, ids: np.ndarray, by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the rows of cols (k x n) dominated by a row of `by` (k x m), shrinking the arrays
    as soon as a sweep has removed a good share, so later sweeps compare fewer rows."""
    dominated = np.zeros(ids.size, dtype=bool)
    for j in range(by.shape[1]):
        dominated |= _dominates(cols, by[:, j])
        if int(dominated.sum()) * 8 > ids.size:
            keep = ~dominated
            cols, ids = cols[:, keep], ids[keep]
            dominated = np.zeros(ids.size, dtype=bool)
    if dominated.any():
        keep = ~dominated
        cols, ids = cols[:, keep], ids[keep]
    return cols, ids
