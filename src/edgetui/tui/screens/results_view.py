"""What the results table shows, as polars columns: computed off the event loop (in the
screen's ranking worker) and handed to the table whole, so that a weight key costs one rank()
and a few vectorised columns, never a Python loop over the rows.

Figures are kept as numbers and written by edgetui.fmt.figure for the cells in view only (the
table widget formats them as it draws); their widths come from figure_width without formatting
every row. Loaded: per loaded row, what does not change with the weights (each criterion's
value, the model and board, the row's identity), made once per load.
RankedView: one ranking as the table shows it: the texts (rank, score, missing and the
configuration added), the display order (row numbers of the loaded frame), the text widths.
No Textual here: the screen and the table widget draw what this module computes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from edgetui.fmt import NA, figure
from edgetui.ranking.ci import ci95_columns, ci95_of
from edgetui.ranking.configuration import configuration_labels, varying_parameters
from edgetui.ranking.constraints import parse_constraints
from edgetui.ranking.criteria import CRITERIA
from edgetui.ranking.noise import rank_intervals, read_repetitions
from edgetui.ranking.rank import Ranking, rank, value_expr
from edgetui.ranking.sources import load_results
from edgetui.ranking.summary import answer_line
from edgetui.rundir.columns import PARAM_LABELS

FILTER_COLUMNS = ("model", "board", "engine")
# The results columns the console reads (the others are not even parsed; an export reads the
# files again whole): identity, what the table and the row details show, the swept parameters,
# every criterion's column (the trade-off plot reads them too) and the board's volume.
TEXT_COLUMNS = ("model", "board", "fleet_host")  # names shown as they are
CONSOLE_COLUMNS = ("config_id", "source", "status", "error", *TEXT_COLUMNS, "engine", "volume_cm3",
                   *PARAM_LABELS, *dict.fromkeys(c.column for c in CRITERIA.values()), "energy_j_per_token",
                   # the spread of each mean: rank intervals and mean ± ci95 (absent ones are skipped)
                   *dict.fromkeys(c for k in CRITERIA for c in ci95_columns(k)))
INTERVAL = "interval"  # the table's column of 95% rank intervals
TIED_MARK = " ="  # after the interval of a row tied for best
PENDING = "…"  # the interval while it is being computed
# What a console ranking's table carries besides its own columns (it is made on every weight key;
# RankedView.row adds the rest of the row from the loaded frame).
RANKED_COLUMNS = ("config_id", "source", "status")


def criterion_key(key: str) -> str:
    """The table's column key of a criterion."""
    return f"c:{key}"


def _fixed(x: pl.Expr, decimals: int) -> pl.Expr:
    """f"{x:.<decimals>f}" for |x| < 1e15: rounded (half to even, as Python), zeros padded."""
    parts = x.round(decimals).cast(pl.String).str.split_exact(".", 1)
    frac = parts.struct.field("field_1").fill_null("").str.pad_end(decimals, "0")
    return parts.struct.field("field_0") + pl.lit(".") + frac


# Below 1, figure() writes four significant digits with trailing zeros dropped: the widest text
# of each decade (0.1234, 0.01234, ...; 1.234e-05 below 1e-4).
_SMALL_WIDTHS = ((1e-1, 6), (1e-2, 7), (1e-3, 8), (1e-4, 9), (0.0, 9))


_RANGES = ((1000.0, float("inf")), (100.0, 1000.0), (1.0, 100.0))


def _width_stats(name: str) -> list[pl.Expr]:
    """One pass over a column: what figure_widths needs of it (see there)."""
    v = pl.col(name)
    a = v.abs()
    finite = v.is_not_null() & ~v.is_nan()
    out = [(~finite).any().alias(f"{name}|na"), (finite & (a < 1e-9)).any().alias(f"{name}|zero")]
    for i, (lo, hi) in enumerate(_RANGES):
        inside = finite & (a >= lo) & (a < hi)
        out.append(v.filter(inside & (v >= 0)).max().alias(f"{name}|{i}+"))
        out.append(v.filter(inside & (v < 0)).min().alias(f"{name}|{i}-"))
    small = finite & (a < 1.0) & (a >= 1e-9)
    out.append(a.filter(small).min().alias(f"{name}|small"))
    out.append((small & (v < 0)).any().alias(f"{name}|small-"))
    return out


def figure_widths(frame: pl.DataFrame) -> dict[str, int]:
    """For each float column, the widest text edgetui.fmt.figure gives its values, without
    formatting them all (one polars pass): from 1 up, a text grows with |value| within each of
    figure's ranges, so the largest |value| of each range and sign is formatted; below 1 the
    widest text the smallest value's decade can have is taken (never less than the true width)."""
    if frame.width == 0:
        return {}
    stats = frame.select([e for name in frame.columns for e in _width_stats(name)]).row(0, named=True)
    widths = {}
    for name in frame.columns:
        w = [len(NA)] if stats[f"{name}|na"] else []
        w += [len(figure(float(x))) for i in range(len(_RANGES)) for x in (stats[f"{name}|{i}+"],
                                                                          stats[f"{name}|{i}-"]) if x is not None]
        least = stats[f"{name}|small"]
        if least is not None:
            w.append(next(width for bound, width in _SMALL_WIDTHS if least >= bound) + int(stats[f"{name}|small-"]))
        if stats[f"{name}|zero"]:
            w.append(1)  # "0"
        widths[name] = max(w, default=len(NA))
    return widths


def figure_width(values: pl.Series) -> int:
    """figure_widths of one column."""
    return figure_widths(values.alias("v").to_frame())["v"]


@dataclass(frozen=True)
class Settings:
    """What a ranking is asked for: the weights, the filters, failed rows or not, the sort."""

    weights: dict[str, float]
    filters: dict[str, str] = field(default_factory=dict)
    include_failed: bool = False
    sort_key: str = "rank"
    sort_reverse: bool = False
    where: tuple[str, ...] = ()  # constraints, as typed (each checked before it is asked for)
    ci: bool = False  # figures shown as mean ± ci95

    @property
    def rowset(self) -> tuple[Any, ...]:
        """What decides which rows are shown (the weights only reorder them)."""
        return tuple(sorted(self.filters.items())), self.include_failed, self.where


@dataclass(frozen=True)
class RowSet:
    """What depends on the rows shown only: widths of the texts that do not change with the
    weights, and the configuration column (the parameters that vary among those rows)."""

    widths: dict[str, int]
    config: pl.Series  # per loaded row (null where not shown)
    varying: list[str]


class Loaded:
    """Merged results and their per-row cells, made once per load (see the module docstring)."""

    @classmethod
    def read(cls, paths: Sequence[str]) -> Loaded:
        notes: list[str] = []  # said by the screen once this load is shown (this runs in a worker)
        loaded = cls(load_results(paths, CONSOLE_COLUMNS, notes=notes))
        loaded.notes = notes
        return loaded

    def __init__(self, df: pl.DataFrame) -> None:
        self.df = df
        self.notes: list[str] = []
        self.n = df.height
        self.values = df.select(value_expr(k, df.columns).alias(criterion_key(k)) for k in CRITERIA)
        net = criterion_key("net_energy_j_per_token")
        cells = self.values
        if "net_energy_j_per_token" in df.columns:
            # the gross figure stands in where no idle baseline was measured, and says so
            gross = ~df["net_energy_j_per_token"].is_finite().fill_null(False) & self.values[net].is_not_null()
            cells = cells.with_columns(pl.when(gross).then(pl.lit(" (gross)")).otherwise(None).alias(net + ":suffix"))
        status = df["status"]
        self.cells = cells.with_columns(
            *(df[c].cast(pl.String).alias(c) for c in TEXT_COLUMNS if c in df.columns),
            status.alias("status"),
            pl.when(status == "failed").then(pl.lit("red")).otherwise(None).alias("status:style"))
        self.has_host = "fleet_host" in df.columns and df["fleet_host"].drop_nulls().len() > 0
        self.keys = df.select(pl.concat_str([pl.col("source").fill_null(""), pl.col("config_id")], separator="|")
                              ).to_series().to_numpy()
        self._rowsets: dict[tuple[Any, ...], RowSet] = {}
        self._ci: pl.DataFrame | None = None
        self._lock = threading.Lock()
        # each run folder's repetitions by configuration, read once per load (rank intervals)
        self.reps: dict[Any, dict[str, list[dict[str, Any]]]] = {}

    def ci_suffixes(self) -> pl.DataFrame:
        """Per loaded row and criterion, " ± half-width" (null where no interval is known): made on
        the first ± toggle, then kept."""
        with self._lock:
            if self._ci is not None:
                return self._ci
        halves = [ci95_of(self.df, key).alias(criterion_key(key)) for key in CRITERIA]
        halves = [h for h in halves if h.is_not_null().any()]
        out = pl.DataFrame(halves).select((pl.lit(" ± ") + _short_figure(pl.col(h.name))).alias(h.name)
                                                     for h in halves) if halves \
            else pl.DataFrame()
        with self._lock:
            self._ci = out
        return out

    def choices(self, column: str) -> list[str]:
        if column not in self.df.columns:
            return []
        return self.df[column].drop_nulls().cast(pl.String).unique().sort().to_list()

    def rowset(self, settings: Settings, ranking: Ranking) -> RowSet:
        with self._lock:
            hit = self._rowsets.get(settings.rowset)
        if hit is not None:
            return hit
        shown = self.cells[ranking.rows]
        widths = text_widths(shown.select(c for c in (*TEXT_COLUMNS, "status") if c in shown.columns))
        widths.update(figure_widths(shown.select(self.values.columns)))
        for key in self.values.columns:
            if key + ":suffix" in shown.columns and shown[key + ":suffix"].is_not_null().any():
                widths[key] += len(" (gross)")
        params = self.df.select(c for c in ("model", *PARAM_LABELS) if c in self.df.columns)[ranking.rows]
        varying = varying_parameters(params)
        config = scatter(self.n, ranking.rows, configuration_labels(params, varying))
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


def _short_figure(v: pl.Expr) -> pl.Expr:
    """A half-width as text with about three significant digits (vectorised, for every row; null stays null)."""
    a = v.abs()
    return (pl.when(a >= 100).then(v.round(0).cast(pl.Int64).cast(pl.String))
            .when(a >= 10).then(_fixed(v, 1)).when(a >= 1).then(_fixed(v, 2)).otherwise(_fixed(v, 3)))


def text_widths(frame: pl.DataFrame) -> dict[str, int]:
    """The longest text of each column (0 for none)."""
    if frame.height == 0 or frame.width == 0:
        return {c: 0 for c in frame.columns}
    return {c: int(w or 0) for c, w in zip(frame.columns, frame.select(
        pl.col(c).str.len_chars().max().fill_null(0) for c in frame.columns).row(0))}


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
    answer: str = ""  # the ranking's answer in words (ranking.summary), the screen's top line

    @property
    def has_intervals(self) -> bool:
        return "rank_lo" in self.ranking.table.columns

    @property
    def n_failed(self) -> int:
        return int((self.ranking.table["status"] != "done").sum())

    def row(self, position: int) -> dict[str, Any]:
        """The row shown at a display position: its results columns and the ranking's."""
        loaded_row = int(self.order[position])
        ranked = self.ranking.table.row(int(self.position_in_ranking[loaded_row]), named=True)
        return {**self.loaded.df.row(loaded_row, named=True), **ranked}

    def position_of(self, loaded_row: int) -> int | None:
        """Where a loaded row is shown now, or None when it is not."""
        hits = np.flatnonzero(self.order == loaded_row)
        return int(hits[0]) if hits.size else None

    def column_texts(self, key: str) -> list[str]:
        """A column's texts in display order, as drawn ("n/a" for a missing value)."""
        values = self.frame[key].gather(self.order).to_list()
        suffixes = (self.frame[key + ":suffix"].gather(self.order).to_list() if key + ":suffix" in self.frame.columns
                    else [None] * len(values))
        return [NA if v is None else (figure(v) if isinstance(v, float) else v) + (x or "")
                for v, x in zip(values, suffixes)]


def build_view(loaded: Loaded, settings: Settings) -> RankedView:
    """Rank with these settings and make the table's columns (runs in the ranking worker); the
    rank intervals follow (interval_columns), the table shows them pending till then."""
    ranking = rank(loaded.df, settings.weights, filters=settings.filters or None,
                   include_failed=settings.include_failed, columns=RANKED_COLUMNS,
                   where=parse_constraints(settings.where))
    t = ranking.table
    rows = ranking.rows
    rowset = loaded.rowset(settings, ranking)
    rank_text = pl.when(pl.col("rank").is_null()).then(None).otherwise(
        pl.col("rank").cast(pl.String) + pl.when(pl.col("pareto")).then(pl.lit("★")).otherwise(pl.lit("")))
    ranked = t.select(rank_text.alias("rank"), _fixed(pl.col("score"), 3).alias("score"),
                      pl.col("missing").fill_null(""),
                      pl.when(pl.col("pareto")).then(pl.lit("yellow")).otherwise(None).alias("rank:style"),
                      pl.lit(PENDING).alias(INTERVAL))
    frame = loaded.cells.with_columns(*(scatter(loaded.n, rows, ranked[c]) for c in ranked.columns),
                                      rowset.config.alias("config"))
    widths = {**rowset.widths, **text_widths(ranked.select("rank", "score", "missing", INTERVAL))}
    if settings.ci:
        frame, widths = _with_ci(loaded, frame, widths, rows)
    position = np.zeros(loaded.n, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    order = display_order(loaded, ranking, frame, settings)
    return RankedView(ranking=ranking, settings=settings, loaded=loaded, frame=frame, order=order,
                      widths=widths, varying=rowset.varying, position_in_ranking=position,
                      answer=answer_line(ranking, [best_label(loaded, ranking, rowset.config)], pending=True))


def _with_ci(loaded: Loaded, frame: pl.DataFrame, widths: dict[str, int],
             rows: np.ndarray) -> tuple[pl.DataFrame, dict[str, int]]:
    """Each criterion's cells followed by " ± half-width" where it is known (before a " (gross)")."""
    ci = loaded.ci_suffixes()
    if ci.width == 0:
        return frame, widths
    widths = dict(widths)
    cols = []
    for key in ci.columns:
        suffix = key + ":suffix"
        parts = [pl.col(key + ":ci"), *([pl.col(suffix)] if suffix in frame.columns else [])]
        cols.append(pl.concat_str(parts, ignore_nulls=True).alias(suffix))
        longest = ci[key].gather(rows).str.len_chars().max() if len(rows) else 0
        widths[key] = widths.get(key, 0) + (longest if isinstance(longest, int) else 0)
    frame = frame.with_columns(ci.rename({c: c + ":ci" for c in ci.columns})).with_columns(cols)
    return frame.drop([c + ":ci" for c in ci.columns]), widths


def best_label(loaded: Loaded, ranking: Ranking, config: pl.Series) -> str:
    """The model and configuration of the row ranked first ("smollm2 t2"), for the answer line."""
    if not len(ranking.rows):
        return ""
    i = int(ranking.rows[0])
    model = loaded.df["model"][i] if "model" in loaded.df.columns else None
    return " ".join(str(p) for p in (model, config[i]) if p) or str(loaded.df["config_id"][i])


@dataclass(frozen=True)
class Intervals:
    """The rank intervals of a view's ranking, as the table shows them (from interval_columns)."""

    ranking: Ranking  # with rank_lo, rank_hi, tied_best
    columns: list[pl.Series]  # per loaded row: the interval text and its style
    width: int
    answer: str


def interval_columns(view: RankedView, cancelled: Any = None) -> Intervals | None:
    """Compute the rank intervals of the view's ranking (ranking.noise; in the ranking worker,
    after the table is shown); None when `cancelled()` says a newer ranking was asked for."""
    loaded = view.loaded
    ranking = rank_intervals(view.ranking, loaded.df, repetitions=read_repetitions(view.ranking, loaded.reps),
                             cancelled=cancelled)
    if ranking is None:
        return None
    t = ranking.table
    text = t.select(pl.concat_str([pl.col("rank_lo").cast(pl.String), pl.lit(".."), pl.col("rank_hi").cast(pl.String),
                                   pl.when(pl.col("tied_best")).then(pl.lit(TIED_MARK)).otherwise(pl.lit(""))])
                    .alias(INTERVAL)).to_series()
    style = t.select(pl.when(pl.col("tied_best")).then(pl.lit("bold green")).otherwise(None)
                     .alias(INTERVAL + ":style")).to_series()
    longest = text.str.len_chars().max()
    rowset = loaded.rowset(view.settings, view.ranking)
    return Intervals(ranking=ranking, columns=[scatter(loaded.n, ranking.rows, text),
                                               scatter(loaded.n, ranking.rows, style)],
                     width=longest if isinstance(longest, int) else 0,
                     answer=answer_line(ranking, [best_label(loaded, ranking, rowset.config)]))


def with_intervals(view: RankedView, intervals: Intervals) -> RankedView:
    """The view (as sorted now) with its rank intervals shown."""
    frame = view.frame.with_columns(intervals.columns)
    return dataclasses.replace(view, ranking=intervals.ranking, frame=frame,
                               widths={**view.widths, INTERVAL: intervals.width}, answer=intervals.answer)


def display_order(loaded: Loaded, ranking: Ranking, frame: pl.DataFrame, settings: Settings) -> np.ndarray:
    """Row numbers in display order: numbers largest first (rank smallest first), text A to Z,
    reversed on request; a missing value always last; ties in rank order."""
    rows = ranking.rows
    key = "rank" if settings.sort_key == INTERVAL else settings.sort_key  # an interval sorts as its rank
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
