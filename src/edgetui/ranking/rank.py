"""Weighted ranking of result rows, with the Pareto-optimal ones marked.

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

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from edgetui.errors import UserError, close_match_hint
from edgetui.ranking.constraints import Constraint, apply_constraints, check
from edgetui.ranking.criteria import CRITERIA, MISSING_POLICY, NORMALISATION, selected_criteria, validate_weights
from edgetui.ranking.frame import is_derived
from edgetui.ranking.pareto import cached_pareto


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
    # --where: the rows ranked meet every one; the others are counted, per reason, in left_out
    constraints: list[Constraint] = field(default_factory=list)
    left_out: list[tuple[str, int]] = field(default_factory=list)
    # rank intervals (ranking.noise): how many resamples, with which seed, made rank_lo / rank_hi
    resamples: int = 0
    seed: int | None = None
    # the row number, in the frame that was ranked, of each row of the table (in the table's order):
    # what the console keys its own per-row data by
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    @property
    def selected(self) -> list[str]:
        """Criterion keys with weight > 0, in CRITERIA order."""
        return selected_criteria(self.weights)

    def widened(self, df: pl.DataFrame) -> Ranking:
        """This ranking with every column of `df` (the frame it was ranked from) carried."""
        front = self.table.select([c for c in self.table.columns if is_derived(c)])
        table = pl.concat([front, _original(df, None)[self.rows]], how="horizontal")
        return dataclasses.replace(self, table=table)

    @property
    def sources(self) -> list[str]:
        if "source" not in self.table.columns:
            return []
        return self.table["source"].drop_nulls().unique().sort().to_list()



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
    columns: Sequence[str] | None = None,
    where: Sequence[Constraint] | None = None,
) -> Ranking:
    """Rank rows by the weighted mean of min-max normalised criteria (see the module docstring).

    filters: column -> value (or list of values: any of them), applied before normalising.
    include_failed: keep rows whose status is not "done" (failed or skipped); otherwise they
    are left out. Ties (equal scores) share the lowest rank. An empty result is an empty table.
    columns: the original columns the table carries (default all; the console keeps the few it
    shows, and widens the ranking with Ranking.widened for an export).
    where: constraints (ranking.constraints), applied after the filters and failed rows and
    before normalising; the rows they leave out are counted in Ranking.left_out.
    """
    weights = validate_weights(weights)
    keys = selected_criteria(weights)
    if "config_id" not in df.columns:
        raise UserError("the results have no config_id column")

    # Everything is computed on a narrow frame (the columns the ranking reads, plus the row
    # number) and the wide results frame is gathered once in the final order: filtering and
    # sorting 60 columns twice would cost more than the ranking itself at 100k rows.
    constraints = list(where or [])
    for c in constraints:
        check(c, df.schema)  # an unknown name or a value of the wrong type: refused before any work
    constrained = [CRITERIA[c.criterion].column if c.criterion else c.name for c in constraints]
    needed = ["config_id", "board", "source", "status", "energy_j_per_token",
              *[CRITERIA[k].column for k in keys], *(filters or {}), *constrained]
    narrow = df.select(list(dict.fromkeys(c for c in needed if c in df.columns))).with_row_index("_row")
    # eager steps: with polars 2.1 they measured faster here than the same steps as one lazy query
    work = narrow
    norm_filters: dict[str, list[str]] | None = None
    if filters:
        fexpr, norm_filters = _filter_expr(df, filters)
        work = work.filter(fexpr)
    if not include_failed and "status" in df.columns:
        work = work.filter(pl.col("status") == "done")
    left_out: list[tuple[str, int]] = []
    if constraints:
        work, left_out = apply_constraints(work, constraints)

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
    pareto_by_row = cached_pareto(keys, [CRITERIA[k].higher_is_better for k in keys], work["_row"].to_numpy(),
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
    rows = ranked["_row"].to_numpy()
    table = pl.concat([front, _original(df, columns)[rows]], how="horizontal")
    return Ranking(table=table, weights=dict(weights), normalisation=NORMALISATION,
                   missing_policy=MISSING_POLICY, filters=norm_filters, include_failed=include_failed, rows=rows,
                   constraints=constraints, left_out=left_out)


def _original(df: pl.DataFrame, columns: Sequence[str] | None) -> pl.DataFrame:
    """The results columns a ranked table carries: a frame that already holds ranking columns (an
    export read back) gets fresh ones."""
    keep = set(columns) if columns is not None else None
    return df.select([c for c in df.columns if not is_derived(c) and (keep is None or c in keep)])
