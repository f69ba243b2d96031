"""What the results table shows, as polars columns of text: computed off the event loop (in the
screen's ranking worker) and handed to the table whole, so that a weight key costs one rank()
and a few vectorised columns, never a Python loop over the rows.

Figures follow edgetui.fmt.figure (the row details use it; figure_text is its column-wise twin,
tested equal). Loaded: per loaded row, what does not change with the weights (each criterion's value and its
text, the model and board, the row's identity), made once per load.
RankedView: one ranking as the table shows it: the texts (rank, score, missing and the
configuration added), the display order (row numbers of the loaded frame), the text widths.
No Textual here: the screen and the table widget draw what this module computes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from edgetui.fmt import NA
from edgetui.ranking.configuration import configuration_labels, varying_parameters
from edgetui.ranking.criteria import CRITERIA
from edgetui.ranking.rank import Ranking, rank, value_expr

FILTER_COLUMNS = ("model", "board", "engine")
TEXT_KEYS = ("model", "board", "status", "config", "missing")  # columns sorted A to Z


def criterion_key(key: str) -> str:
    """The table's column key of a criterion."""
    return f"c:{key}"


def _fixed(x: pl.Expr, decimals: int) -> pl.Expr:
    """f"{x:.<decimals>f}" for |x| < 1e15: rounded (half to even, as Python), zeros padded."""
    parts = x.round(decimals).cast(pl.String).str.split_exact(".", 1)
    frac = parts.struct.field("field_1").fill_null("").str.pad_end(decimals, "0")
    return parts.struct.field("field_0") + pl.lit(".") + frac


def _grouped(x: pl.Expr) -> pl.Expr:
    """f"{x:,.0f}": thousands separated by commas."""
    digits = x.round(0).abs().cast(pl.Int64, strict=False).cast(pl.String)
    grouped = digits.str.reverse().str.replace_all(r"(\d{3})", "$1,").str.strip_chars_end(",").str.reverse()
    return pl.when(x.round(0) < 0).then(pl.lit("-") + grouped).otherwise(grouped)


def _general4(x: pl.Expr) -> pl.Expr:
    """f"{x:.4g}" for 1e-9 <= |x| < 1: four significant digits, trailing zeros dropped,
    scientific below 1e-4 as Python writes it (1.234e-05)."""
    plain = x.round_sig_figs(4).cast(pl.String).str.replace(r"\.0$", "")
    exp = x.abs().log10().floor()
    mant = (x / pl.lit(10.0).pow(exp)).round_sig_figs(4)
    exp = pl.when(mant.abs() >= 10).then(exp + 1).otherwise(exp)
    mant = pl.when(mant.abs() >= 10).then(mant / 10).otherwise(mant)
    mant_text = mant.cast(pl.String).str.replace(r"\.?0+$", "")
    power = exp.abs().cast(pl.Int64, strict=False).cast(pl.String).str.zfill(2)
    science = mant_text + pl.lit("e-") + power
    return pl.when(x.abs().round_sig_figs(4) < 1e-4).then(science).otherwise(plain)


def figure_text(x: pl.Expr) -> pl.Expr:
    """edgetui.fmt.figure for a column of floats, vectorised (null stays null: the table draws "n/a")."""
    a = x.abs()
    return (pl.when(x.is_null() | x.is_nan()).then(None)
            .when(a < 1e-9).then(pl.lit("0"))
            .when(a >= 1000).then(_grouped(x))
            .when(a >= 100).then(_fixed(x, 1))
            .when(a >= 1).then(_fixed(x, 2))
            .otherwise(_general4(x)))


@dataclass(frozen=True)
class Settings:
    """What a ranking is asked for: the weights, the filters, failed rows or not, the sort."""

    weights: dict[str, float]
    filters: dict[str, str] = field(default_factory=dict)
    include_failed: bool = False
    sort_key: str = "rank"
    sort_reverse: bool = False

    @property
    def rowset(self) -> tuple[Any, ...]:
        """What decides which rows are shown (the weights only reorder them)."""
        return tuple(sorted(self.filters.items())), self.include_failed


@dataclass(frozen=True)
class RowSet:
    """What depends on the rows shown only: widths of the texts that do not change with the
    weights, and the configuration column (the parameters that vary among those rows)."""

    widths: dict[str, int]
    config: pl.Series  # per loaded row (null where not shown)
    varying: list[str]


class Loaded:
    """Merged results and their per-row texts, made once per load (see the module docstring)."""

    def __init__(self, df: pl.DataFrame) -> None:
        self.df = df
        self.n = df.height
        self.values = df.select(value_expr(k, df.columns).alias(criterion_key(k)) for k in CRITERIA)
        texts = self.values.select(figure_text(pl.col(c)).alias(c) for c in self.values.columns)
        net = criterion_key("net_energy_j_per_token")
        if "net_energy_j_per_token" in df.columns:
            gross = ~df["net_energy_j_per_token"].is_finite().fill_null(False) & self.values[net].is_not_null()
            texts = texts.with_columns(pl.when(gross).then(pl.col(net) + " (gross)").otherwise(pl.col(net)))
        status = df["status"]
        texts = texts.with_columns(
            *(df[c].cast(pl.String).alias(c) for c in ("model", "board", "fleet_host") if c in df.columns),
            status.alias("status"),
            pl.when(status == "failed").then(pl.lit("red")).otherwise(None).alias("status:style"))
        self.texts = texts
        self.has_host = "fleet_host" in df.columns and df["fleet_host"].drop_nulls().len() > 0
        self.keys = df.select(pl.concat_str([pl.col("source").fill_null(""), pl.col("config_id")], separator="|")
                              ).to_series().to_numpy()
        self._rowsets: dict[tuple[Any, ...], RowSet] = {}
        self._lock = threading.Lock()

    def choices(self, column: str) -> list[str]:
        if column not in self.df.columns:
            return []
        return self.df[column].drop_nulls().cast(pl.String).unique().sort().to_list()

    def rowset(self, settings: Settings, ranking: Ranking) -> RowSet:
        with self._lock:
            hit = self._rowsets.get(settings.rowset)
        if hit is not None:
            return hit
        shown = self.texts[ranking.rows]
        widths = dict(zip(shown.columns, shown.select(pl.col(c).str.len_chars().max().fill_null(0)
                                                      for c in shown.columns).row(0))) if shown.height else {}
        varying = varying_parameters(ranking.table)
        config = scatter(self.n, ranking.rows, configuration_labels(ranking.table, varying))
        longest = config.str.len_chars().max()
        widths["config"] = longest if isinstance(longest, int) else 0
        out = RowSet(widths=widths, config=config, varying=varying)
        with self._lock:
            self._rowsets[settings.rowset] = out
        return out

    def position(self, key: str) -> int | None:
        """The loaded row number of a row identity (source|config_id), after a reload."""
        hits = np.flatnonzero(self.keys == key)
        return int(hits[0]) if hits.size else None


def scatter(n: int, rows: np.ndarray, values: pl.Series) -> pl.Series:
    """values (one per ranked row) placed at their loaded row numbers; null elsewhere."""
    out = pl.repeat(None, n, dtype=values.dtype, eager=True).alias(values.name)
    if len(rows):
        out = out.scatter(rows, values)
    return out


@dataclass
class RankedView:
    """One ranking as the table shows it (see the module docstring)."""

    ranking: Ranking
    settings: Settings
    loaded: Loaded
    frame: pl.DataFrame  # text columns per loaded row
    order: np.ndarray  # loaded row numbers, in display order
    widths: dict[str, int]
    varying: list[str]  # the parameters in the configuration column
    position_in_ranking: np.ndarray = field(repr=False)  # loaded row number -> row of ranking.table

    @property
    def n_failed(self) -> int:
        return int((self.ranking.table["status"] != "done").sum())

    def row(self, position: int) -> dict[str, Any]:
        """The ranking's row shown at a display position."""
        return self.ranking.table.row(int(self.position_in_ranking[self.order[position]]), named=True)

    def position_of(self, loaded_row: int) -> int | None:
        """Where a loaded row is shown now, or None when it is not."""
        hits = np.flatnonzero(self.order == loaded_row)
        return int(hits[0]) if hits.size else None

    def column_texts(self, key: str) -> list[str]:
        """A column's texts in display order, as drawn ("n/a" for a missing value)."""
        return [NA if v is None else v for v in self.frame[key].gather(self.order).to_list()]


def build_view(loaded: Loaded, settings: Settings) -> RankedView:
    """Rank with these settings and make the table's columns (runs in the ranking worker)."""
    ranking = rank(loaded.df, settings.weights, filters=settings.filters or None,
                   include_failed=settings.include_failed)
    t = ranking.table
    rows = ranking.rows
    rowset = loaded.rowset(settings, ranking)
    rank_text = pl.when(pl.col("rank").is_null()).then(None).otherwise(
        pl.col("rank").cast(pl.String) + pl.when(pl.col("pareto")).then(pl.lit("★")).otherwise(pl.lit("")))
    ranked = t.select(rank_text.alias("rank"), _fixed(pl.col("score"), 3).alias("score"),
                      pl.col("missing").fill_null(""),
                      pl.when(pl.col("pareto")).then(pl.lit("yellow")).otherwise(None).alias("rank:style"))
    frame = loaded.texts.with_columns(*(scatter(loaded.n, rows, ranked[c]) for c in ranked.columns),
                                      rowset.config.alias("config"))
    widths = {**rowset.widths, **dict(zip(ranked.columns, ranked.select(
        pl.col(c).str.len_chars().max().fill_null(0) for c in ranked.columns).row(0)))}
    position = np.zeros(loaded.n, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    order = display_order(loaded, ranking, frame, settings)
    return RankedView(ranking=ranking, settings=settings, loaded=loaded, frame=frame, order=order,
                      widths=widths, varying=rowset.varying, position_in_ranking=position)


def display_order(loaded: Loaded, ranking: Ranking, frame: pl.DataFrame, settings: Settings) -> np.ndarray:
    """Row numbers in display order: numbers largest first (rank smallest first), text A to Z,
    reversed on request; a missing value always last; ties in rank order."""
    rows = ranking.rows
    key = settings.sort_key
    if key == "rank" and not settings.sort_reverse:
        return rows
    if key in ("rank", "score"):
        values = ranking.table[key]
    elif key in loaded.values.columns:
        values = loaded.values[key].gather(rows)
    elif key in frame.columns:
        values = frame[key].gather(rows).str.to_lowercase()
    else:
        return rows
    descending = (values.dtype.is_numeric() and key != "rank") != settings.sort_reverse
    by = pl.DataFrame({"v": values, "i": np.arange(len(rows))})
    ordered = by.sort("v", descending=descending, nulls_last=True, maintain_order=True)["i"].to_numpy()
    return rows[ordered]
