"""What the trade-off figure shows: one point per ranked row on two criteria, the Pareto front of
those two joined, the boards with their volume, and a note on the rows left out.

The console's plot (results screen, `g`) and `edgetui plot` both draw what `tradeoff_data` returns,
so the two figures never disagree. The points are the ranking's rows (after its filters, merged
boards included); a row without one of the two values is counted in the note, never put at zero.
Any criterion of criteria.CRITERIA can be an axis: a criterion added there is plottable at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from edgetui.errors import UserError
from edgetui.ranking.criteria import CRITERIA, Criterion, criterion_key
from edgetui.ranking.pareto import pareto_mask
from edgetui.ranking.rank import Ranking, value_expr

DEFAULT_X = "decode_tps"
DEFAULT_Y = "power_w"


def row_key(source: object, config_id: object) -> str:
    """A ranked row's identity across merged boards (the results screen keys its rows the same way)."""
    return f"{source or ''}|{config_id}"


@dataclass(frozen=True)
class PlotPoint:
    key: str  # row_key(source, config_id)
    config_id: str
    source: str
    board: str  # "unknown board" when the row names none
    model: str
    rank: int
    x: float
    y: float
    volume_cm3: float | None
    on_front: bool


@dataclass(frozen=True)
class BoardGroup:
    """The points of one board; its volume gives the mark size in the file, the legend in the console."""

    board: str
    volume_cm3: float | None
    n_points: int

    @property
    def label(self) -> str:
        vol = f"{self.volume_cm3:.0f} cm³" if self.volume_cm3 is not None else "volume n/a"
        return f"{self.board} ({vol})"


@dataclass
class TradeOffData:
    """The plotted rows as arrays and one narrow frame (a ranking of 100k rows stays cheap to redraw
    and to re-mark), in rank order.

    xs, ys: the two values; on_front: Pareto-optimal on x and y; group: index into groups;
    rows: key, model and rank per plotted row. front: indices of the front's points by increasing x.
    """

    x: Criterion
    y: Criterion
    xs: np.ndarray
    ys: np.ndarray
    on_front: np.ndarray
    group: np.ndarray
    rows: pl.DataFrame
    groups: list[BoardGroup]  # by volume (smallest first), boards without a volume last
    front: np.ndarray
    n_rows: int  # rows in the ranking
    missing_x: int  # rows without an x value (some may lack y too)
    missing_y: int
    n_left_out: int  # rows without x or without y
    highlighted_key: str | None = None  # asked to be marked, plotted or not
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.rows.height

    @property
    def keys(self) -> list[str]:
        return self.rows["key"].to_list()

    def point(self, i: int) -> PlotPoint:
        g = self.groups[int(self.group[i])]
        row = self.rows.row(i, named=True)
        source, _, config_id = row["key"].rpartition("|")
        return PlotPoint(key=row["key"], config_id=config_id, source=source, board=g.board, model=row["model"],
                         rank=row["rank"], x=float(self.xs[i]), y=float(self.ys[i]), volume_cm3=g.volume_cm3,
                         on_front=bool(self.on_front[i]))

    @property
    def points(self) -> list[PlotPoint]:
        return [self.point(i) for i in range(len(self))]

    @property
    def front_points(self) -> list[PlotPoint]:
        return [self.point(int(i)) for i in self.front]

    def index_of(self, key: str | None) -> int | None:
        """The position of a row_key among the plotted rows (None when not plotted)."""
        if key is None or not len(self):
            return None
        hits = (self.rows["key"] == key).arg_true()
        return int(hits[0]) if hits.len() else None

    @property
    def highlighted(self) -> PlotPoint | None:
        i = self.index_of(self.highlighted_key)
        return None if i is None else self.point(i)

    @property
    def x_title(self) -> str:
        return axis_title(self.x)

    @property
    def y_title(self) -> str:
        return axis_title(self.y)

    @property
    def front_label(self) -> str:
        return f"Pareto front ({arrow(self.x)} {short_name(self.x)}, {arrow(self.y)} {short_name(self.y)})"

    @property
    def note(self) -> str:
        """'12 rows without mean power not shown' ('' when every row is plotted)."""
        if not self.n_left_out:
            return ""
        n = self.n_left_out
        rows = f"{n} row{'s' if n != 1 else ''}"
        if self.missing_x and self.missing_y:
            return (f"{rows} not shown: {self.missing_x} without {self.x.label}, "
                    f"{self.missing_y} without {self.y.label}")
        label = self.x.label if self.missing_x else self.y.label
        return f"{rows} without {label} not shown"

    @property
    def highlighted_note(self) -> str:
        """Why the row asked to be marked is not on the plot ('' when it is, or none was asked)."""
        if self.highlighted_key is None or self.index_of(self.highlighted_key) is not None:
            return ""
        return "the highlighted row is not plotted (a value is missing)"


def plot_columns(x: str, y: str) -> list[str]:
    """The results columns tradeoff_data reads besides the ranking's own (rank): a caller that ranked
    a narrow table widens it with these only."""
    cols = ["source", "config_id", "board", "model", "volume_cm3", CRITERIA[criterion_key(x)].column,
            CRITERIA[criterion_key(y)].column]
    if "net_energy_j_per_token" in (criterion_key(x), criterion_key(y)):
        cols.append("energy_j_per_token")  # the gross figure where no idle baseline was measured
    return list(dict.fromkeys(cols))


def axis_title(c: Criterion) -> str:
    """'decode (tok/s), higher is better'."""
    return f"{c.label} ({c.unit}), {c.direction}"


def short_name(c: Criterion) -> str:
    return c.label.split(" (")[0]


def arrow(c: Criterion) -> str:
    return "↑" if c.higher_is_better else "↓"


def plot_axis(name: str, where: str) -> str:
    """The criterion key for an axis (a key or its results column); UserError naming every valid one."""
    try:
        return criterion_key(name)
    except UserError as exc:
        raise UserError(exc.message, where=where) from None


def tradeoff_data(ranking: Ranking, x: str = DEFAULT_X, y: str = DEFAULT_Y, *,
                  highlight: str | None = None) -> TradeOffData:
    """The figure of a ranking on criteria x and y (keys or results column names).

    highlight: a row_key to mark (the console's cursor row; `edgetui plot` marks the best score).
    """
    xk, yk = plot_axis(x, "--x"), plot_axis(y, "--y")
    if xk == yk:
        raise UserError(f"x and y are the same criterion ({xk}): choose two", where="--y")
    xc, yc = CRITERIA[xk], CRITERIA[yk]
    t = ranking.table
    cols = t.columns
    values = t.select(value_expr(xk, cols).alias("_x"), value_expr(yk, cols).alias("_y"))
    xs = values["_x"].to_numpy().astype(np.float64)  # missing -> NaN
    ys = values["_y"].to_numpy().astype(np.float64)
    has_x, has_y = ~np.isnan(xs), ~np.isnan(ys)
    complete = has_x & has_y
    idx = np.flatnonzero(complete)
    xs, ys = xs[idx], ys[idx]
    on_front = pareto_mask(np.column_stack([xs, ys]), [xc.higher_is_better, yc.higher_is_better])

    def text(name: str, missing: str) -> pl.Expr:
        return pl.col(name).cast(pl.String).fill_null(missing) if name in cols else pl.lit(missing)

    source = pl.col("source").cast(pl.String).fill_null("") if "source" in cols else pl.lit("")
    rows = t.select(
        pl.concat_str([source, text("config_id", "")], separator="|").alias("key"),
        text("model", "unknown model").alias("model"),
        (pl.col("rank").cast(pl.Int64).fill_null(0) if "rank" in cols else pl.lit(0)).alias("rank"),
        text("board", "unknown board").alias("board"),
        (pl.col("volume_cm3").cast(pl.Float64) if "volume_cm3" in cols else pl.lit(None, pl.Float64)).alias("vol"),
    )[idx]
    groups, group = _groups(rows)
    front = np.flatnonzero(on_front)
    front = front[np.lexsort((ys[front], xs[front]))]
    return TradeOffData(
        x=xc, y=yc, xs=xs, ys=ys, on_front=on_front, group=group, rows=rows.select("key", "model", "rank"),
        groups=groups, front=front, n_rows=t.height, missing_x=int((~has_x).sum()),
        missing_y=int((~has_y).sum()), n_left_out=int((~complete).sum()), highlighted_key=highlight,
        sources=ranking.sources)


def _groups(rows: pl.DataFrame) -> tuple[list[BoardGroup], np.ndarray]:
    """The boards (by volume, smallest first; without a volume last) and each point's board index."""
    per_board = rows.group_by("board").agg(pl.col("vol").drop_nulls().first(), pl.len().alias("n"))
    groups = sorted((BoardGroup(b, v, int(n)) for b, v, n in per_board.iter_rows()),
                    key=lambda g: (g.volume_cm3 is None, g.volume_cm3 or 0.0, g.board))
    index = rows["board"].replace_strict([g.board for g in groups], list(range(len(groups))),
                                         return_dtype=pl.Int64)
    return groups, index.to_numpy()


def best_row_key(ranking: Ranking) -> str | None:
    """The row with the best score (rank 1, first in the table), or None for an empty ranking."""
    t = ranking.table
    if t.height == 0:
        return None
    first = t.row(0, named=True)
    return row_key(first.get("source"), first.get("config_id"))
