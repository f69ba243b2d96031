"""The results screen's trade-off plot: what ranking.plotdata.tradeoff_data returns (the same
figure `edgetui plot` writes), drawn with textual-plot's PlotWidget.

One mark per plotted configuration, a marker and colour per board (the legend gives its volume),
the Pareto front of the two criteria joined in red, the table's highlighted row marked "@", the
y title above and the x title below the axes, and a note on the rows left out for a missing value.
A terminal cell holds one mark: points are reduced to one per cell-sized bucket per board before
drawing, so a ranking of 100k rows draws as fast as one of 100."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget

from edgetui.ranking.plotdata import TradeOffData
from edgetui.tui.axes import padded

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

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data: TradeOffData | None = None
        self._drawn: tuple[object, ...] | None = None

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

    def show(self, data: TradeOffData) -> None:
        """Draw this figure (a new ranking, new axes, or another highlighted row)."""
        self.data = data
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
