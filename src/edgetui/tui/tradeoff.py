"""The results screen's trade-off plot: what ranking.plotdata.tradeoff_data returns (the same
figure `edgetui plot` writes), drawn with textual-plot's PlotWidget.

One mark per plotted configuration, a marker and colour per board (the legend gives its volume),
the Pareto front of the two criteria joined in red, the table's highlighted row marked "@", the
y title above and the x title below the axes, and a note on the rows left out for a missing value.
A terminal cell holds one mark: points are reduced to one per cell-sized bucket per board before
drawing, so a ranking of 100k rows draws as fast as one of 100.

The pane owns its state: the axes (x and y step through the criteria with values), the figure it
shows, and whether it is shown. It follows the screen's reactive `view` (RankingChanged: a new
ranking or order) and `highlighted` (RowChanged: the cursor's row) through data_bind; the screen
never draws it. The figure is built when either changes and drawn once per turn of the loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from rich.text import Text
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget

from edgetui.ranking.criteria import CRITERIA
from edgetui.ranking.plotdata import DEFAULT_X, DEFAULT_Y, TradeOffData, plot_columns, row_key, tradeoff_data
from edgetui.tui.axes import padded
from edgetui.tui.screens.results_view import RankedView, criterion_key

MARKERS = ("o", "+", "x", "*", "#", "%", "=", "&")
COLOURS = ("cyan", "green", "yellow", "bright_blue", "bright_white", "magenta", "bright_cyan", "bright_green")
FRONT_STYLE = "bold red"
HIGHLIGHT = "@"
HIGHLIGHT_STYLE = "bold black on yellow"
PAD = 0.06  # of each axis range, so marks at the extremes stay off the frame


def with_values(values: pl.DataFrame, keys: Sequence[str], column: Callable[[str], str] = str) -> list[str]:
    """The criteria (keys; column(key) their column in `values`) with a finite value in at least one
    row: an axis of any other draws nothing (mean power without a power sensor)."""
    out = []
    for k in keys:
        col = values.get_column(column(k)) if column(k) in values.columns else None
        if col is not None and col.dtype.is_numeric() and bool(col.cast(pl.Float64).is_finite().fill_null(False).any()):
            out.append(k)
    return out


def next_axis(keys: Sequence[str], current: str, other: str, usable: Sequence[str]) -> str:
    """The criterion after `current` that is not the other axis and has values (any, when none has)."""
    pool = [k for k in keys if k in usable] or list(keys)
    order = list(keys)
    start = order.index(current) if current in order else -1
    for step in range(1, len(order) + 1):
        k = order[(start + step) % len(order)]
        if k in pool and k != other:
            return k
    return current


def opening_axes(keys: Sequence[str], x: str, y: str, usable: Sequence[str]) -> tuple[str, str]:
    """x and y as asked where they have values, else the first criteria that have."""
    if x not in usable and usable:
        x = next_axis(keys, x, y, usable)
    if y not in usable and usable:
        y = next_axis(keys, keys[-1], x, usable)  # the first in the declared order
    return x, y


class _Plot(PlotWidget, can_focus=False):
    """Not focusable: its zoom and pan keys (+, -, arrows) would take the results screen's."""


def reduce_to_cells(xs: np.ndarray, ys: np.ndarray, bounds: tuple[float, float, float, float],
                    cells: tuple[int, int]) -> np.ndarray:
    """Indices of one point per (cell-sized) bucket, in the original order of the first of each."""
    if xs.size == 0:
        return np.zeros(0, dtype=np.int64)
    x0, x1, y0, y1 = bounds
    w, h = max(cells[0], 1), max(cells[1], 1)
    cx = np.clip(((xs - x0) / ((x1 - x0) or 1.0) * w).astype(np.int64), 0, w)
    cy = np.clip(((ys - y0) / ((y1 - y0) or 1.0) * h).astype(np.int64), 0, h)
    _, first = np.unique(cx * (h + 1) + cy, return_index=True)
    return np.sort(first)


class TradeOffPlot(Widget):
    DEFAULT_CSS = """
    TradeOffPlot {
        layout: vertical;
        height: 1fr;
    }
    TradeOffPlot > .y-title, TradeOffPlot > .legend, TradeOffPlot > .note {
        height: auto;
    }
    TradeOffPlot > .note {
        color: $warning;
    }
    TradeOffPlot > _Plot {
        height: 1fr;
        min-height: 6;
    }
    """

    # bound to the results screen's (data_bind): always_update, as a view holds polars frames
    view: reactive[RankedView | None] = reactive(None, always_update=True, init=False)
    highlighted: reactive[dict | None] = reactive(None, init=False)
    shown: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.axes = (DEFAULT_X, DEFAULT_Y)  # criteria keys across and up
        self.data: TradeOffData | None = None  # the figure shown (None while the plot is hidden)
        self._drawn: tuple[object, ...] | None = None
        self._draw_pending = False

    def compose(self) -> ComposeResult:
        yield Static(classes="legend")
        yield Static(classes="y-title")
        yield _Plot(allow_pan_and_zoom=False)
        yield Static(classes="note")

    def on_mount(self) -> None:
        plot = self.query_one(_Plot)
        plot.margin_top = 0  # the y title is the line above the plot, where it is never cut
        plot.margin_left = 8

    def on_resize(self) -> None:
        self._draw()  # the buckets are cell-sized: a new size reduces again

    # ------------------------------------------------------------------ what it follows
    def watch_shown(self, shown: bool) -> None:
        if shown and self.view is not None:  # never an axis without values (no power sensor)
            self.axes = opening_axes(list(CRITERIA), *self.axes, self._usable())
        self._build()

    def watch_view(self) -> None:  # RankingChanged
        self._build()

    def watch_highlighted(self, row: dict | None) -> None:  # RowChanged
        if self.data is not None:
            self.data.highlighted_key = self._key(row)
            self._schedule()

    def step_axis(self, axis: str) -> str:
        """The next criterion with values on this axis (x or y); returns its key."""
        keys = list(CRITERIA)  # the declared criteria in their order, those without a value stepped over
        x, y = self.axes
        mine, other = (x, y) if axis == "x" else (y, x)
        nxt = next_axis(keys, mine, other, self._usable() if self.view is not None else keys)
        self.axes = (nxt, y) if axis == "x" else (x, nxt)
        self._build()
        return nxt

    def _usable(self) -> list[str]:
        assert self.view is not None
        return with_values(self.view.loaded.values, list(CRITERIA), criterion_key)

    @staticmethod
    def _key(row: dict | None) -> str | None:
        return row_key(row.get("source"), row.get("config_id")) if row else None

    def _build(self) -> None:
        """The figure of the ranking shown (ranking.plotdata, as `edgetui plot`), the cursor's row marked."""
        view = self.view
        if not self.shown or view is None:
            self.data = None
            return
        x, y = self.axes
        # the console ranks a narrow table: the plot reads the criteria, board and volume of its
        # rows from the loaded results
        df = view.loaded.df
        ranking = view.ranking.widened(df.select(c for c in plot_columns(x, y) if c in df.columns))
        self.data = tradeoff_data(ranking, x, y, highlight=self._key(self.highlighted))
        self._schedule()

    def _schedule(self) -> None:
        """Draw once the handler that changed the ranking or the row is done: a new ranking and
        its highlighted row, set one after the other, are drawn once."""
        if not self._draw_pending:
            self._draw_pending = True
            self.call_later(self._draw_now)

    def _draw_now(self) -> None:
        self._draw_pending = False
        self._draw()

    @property
    def note(self) -> str:
        return str(self.query_one(".note", Static).render())

    def _draw(self) -> None:
        data = self.data
        if data is None or not self.is_mounted:
            return
        plot = self.query_one(_Plot)
        key = (id(data), data.highlighted_key, plot.size)
        if key == self._drawn:
            return
        self._drawn = key
        self.query_one(".legend", Static).update(self._legend(data))
        self.query_one(".y-title", Static).update(Text(f"↑ {data.y_title}", style="bold"))
        notes = [n for n in (data.note, data.highlighted_note) if n]
        note = self.query_one(".note", Static)
        note.update("; ".join(notes))
        note.display = bool(notes)
        plot.clear()
        plot.set_xlabel(f"{data.x_title} →")
        if not len(data):
            plot.set_xlimits(0.0, 1.0)
            plot.set_ylimits(0.0, 1.0)
            return
        x0, x1 = padded(float(data.xs.min()), float(data.xs.max()), PAD)
        y0, y1 = padded(float(data.ys.min()), float(data.ys.max()), PAD)
        plot.set_xlimits(x0, x1)
        plot.set_ylimits(y0, y1)
        cells = (max(plot.size.width - plot.margin_left, 1), max(plot.size.height - plot.margin_bottom, 1))
        if data.front.size > 1:  # the front first, so that the marks are drawn over it
            plot.plot(data.xs[data.front], data.ys[data.front], line_style="red", hires_mode=HiResMode.BRAILLE)
        for g in range(len(data.groups)):
            mine = np.flatnonzero(data.group == g)
            keep = mine[reduce_to_cells(data.xs[mine], data.ys[mine], (x0, x1, y0, y1), cells)]
            plot.scatter(data.xs[keep], data.ys[keep], marker=MARKERS[g % len(MARKERS)],
                         marker_style=COLOURS[g % len(COLOURS)])
        for g in range(len(data.groups)):
            on = data.front[data.group[data.front] == g]
            if on.size:
                plot.scatter(data.xs[on], data.ys[on], marker=MARKERS[g % len(MARKERS)], marker_style=FRONT_STYLE)
        h = data.highlighted
        if h is not None:
            plot.scatter([h.x], [h.y], marker=HIGHLIGHT, marker_style=HIGHLIGHT_STYLE)

    @staticmethod
    def _legend(data: TradeOffData) -> Text:
        t = Text()
        for g, group in enumerate(data.groups):
            t.append(MARKERS[g % len(MARKERS)], style=f"bold {COLOURS[g % len(COLOURS)]}")
            t.append(f" {group.label}  ")
        t.append("─ ", style=FRONT_STYLE)
        t.append(f"{data.front_label} ({data.front.size})  ")
        h = data.highlighted
        if h is not None:
            t.append(HIGHLIGHT, style=HIGHLIGHT_STYLE)
            t.append(f" #{h.rank} {h.model}")
        shown = f"  ·  {len(data)} of {data.n_rows} shown"
        t.append(shown, style="dim")
        return t
