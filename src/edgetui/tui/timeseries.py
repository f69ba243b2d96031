"""A live pane's time series (rundir.series.Series): a caption with the unit and the span shown,
then textual-plot's PlotWidget with seconds since the configuration (or the run) started on x.
In the compact layout (80x24) the plot's frame and ticks would leave no room for the data: the
same series is drawn as a one-row Sparkline instead, the caption giving its range and span.

It redraws only when the live screen's tick asks (the console's fixed low rate), and only when
the series moved since the last draw: never per sample."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Sparkline, Static
from textual_hires_canvas import Canvas
from textual_plot import DurationFormatter, HiResMode, PlotWidget

from edgetui.fmt import duration as fmt_duration
from edgetui.rundir.series import QUANTITIES, Series
from edgetui.tui.axes import padded

TICK_SPACING = 9  # columns per x tick label ("12.5s" and a gap)


class _TimeTicks(DurationFormatter):
    """Duration ticks (their labels carry s, min or h), no more than the width holds."""

    max_ticks = 5

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return super().get_ticks(min_, max_, min(max_ticks, self.max_ticks))


class _Plot(PlotWidget, can_focus=False):
    """Not focusable: its zoom and pan keys would take the live screen's."""


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


class TimeSeriesPlot(Widget):
    DEFAULT_CSS = """
    TimeSeriesPlot {
        height: 6;
        layout: vertical;
    }
    TimeSeriesPlot.empty {
        display: none;
    }
    TimeSeriesPlot > .caption {
        height: 1;
        width: auto;
        color: $text-muted;
    }
    TimeSeriesPlot > .row {
        height: 1;
        display: none;
    }
    TimeSeriesPlot > .row > .compact-caption {
        width: auto;
        color: $text-muted;
    }
    TimeSeriesPlot > .row > Sparkline {
        width: 1fr;
        height: 1;
        margin-left: 1;
    }
    TimeSeriesPlot > _Plot {
        height: 1fr;
    }
    TimeSeriesPlot.compact {
        height: 1;
    }
    TimeSeriesPlot.compact > .caption, TimeSeriesPlot.compact > _Plot {
        display: none;
    }
    TimeSeriesPlot.compact > .row {
        display: block;
    }
    """

    def __init__(self, quantity: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.quantity = quantity
        self.what, self.unit = QUANTITIES[quantity]
        self._drawn: tuple[object, ...] | None = None
        self._captions: dict[str, str] = {}  # the text each caption shows now
        self._last: tuple[Series, float | None, str, float | None, float | None] | None = None
        self._ticks = _TimeTicks()
        self.add_class("empty")

    def compose(self) -> ComposeResult:
        yield Static(classes="caption")
        with Horizontal(classes="row"):
            yield Static(classes="compact-caption")
            yield Sparkline([])
        yield _Plot(allow_pan_and_zoom=False)

    def on_mount(self) -> None:
        plot = self.query_one(_Plot)
        # the unit is in the caption above, the time unit in the tick labels: one row of ticks
        plot.margin_top = 0
        plot.margin_bottom = 1
        plot.margin_left = 6
        plot.set_x_formatter(self._ticks)

    def set_compact(self, compact: bool) -> None:
        if compact != self.has_class("compact"):
            self.set_class(compact, "compact")
            self._drawn = None  # the other view has not drawn this series yet

    def on_resize(self) -> None:
        if self._last is not None:  # the ticks that fit changed: draw the same series again
            self.show(*self._last)

    def show(self, series: Series, origin: float | None, scope: str, end: float | None = None,
             mark: float | None = None) -> None:
        """Draw `series` with x = seconds since origin (or its first point) up to end (or its last
        point); scope names the span ("this configuration", "the run so far"); mark: a moment to
        draw a vertical line at (throttling's start)."""
        self._last = (series, origin, scope, end, mark)
        compact = self.has_class("compact")
        key = (id(series), series.version, origin, scope, end, compact, self.size.width, mark)
        if key == self._drawn:
            return
        self._drawn = key
        ts, vs = series.points()
        if origin is not None and ts and ts[0] < origin:  # before the span shown (a soak's warm-up)
            kept = [(t, v) for t, v in zip(ts, vs) if t >= origin]
            ts, vs = [t for t, _ in kept], [v for _, v in kept]
        self.set_class(not ts, "empty")  # no reading yet is not a flat zero line
        if not ts:
            return
        t0 = origin if origin is not None else ts[0]
        xs = [max(0.0, t - t0) for t in ts]
        span = max(xs[-1], (end - t0) if end is not None else 0.0, 1.0)
        lo, hi = min(vs), max(vs)
        if compact:
            self._caption("compact-caption", f"{self.unit} {_fmt(lo)}–{_fmt(hi)}, {fmt_duration(span)}")
            self.query_one(Sparkline).data = list(vs)
            return
        self._caption("caption", f"{self.what} ({self.unit}) · {scope}")
        self._draw(xs, vs, span, lo, hi, mark - t0 if mark is not None and mark >= t0 else None)

    def _caption(self, name: str, text: str) -> None:
        """A caption updated only when its text changed, with a new layout (the whole screen's)
        only when its width did: a layout on every draw cost more than the plots."""
        old = self._captions.get(name)
        if old == text:
            return
        self._captions[name] = text
        self.query_one(f".{name}", Static).update(text, layout=old is None or cell_len(old) != cell_len(text))

    def _draw(self, xs: Sequence[float], vs: Sequence[float], span: float, lo: float, hi: float,
              mark: float | None = None) -> None:
        """The curve drawn now, onto the plot's canvases, each refreshed once: left to itself,
        textual-plot draws in its render() during a frame and its canvases repaint in a second
        frame, every pixel set asking for a refresh of its own (the two frames were most of what a
        plot cost the console)."""
        plot = self.query_one(_Plot)
        self._ticks.max_ticks = max(2, (self.size.width - plot.margin_left) // TICK_SPACING)
        canvases = list(plot.query(Canvas))
        with ExitStack() as batch:
            for canvas in canvases:
                batch.enter_context(canvas.batch_refresh())
            plot.clear()
            plot.set_xlimits(0.0, span)
            plot.set_ylimits(*padded(lo, hi, 0.1))  # a flat line sits mid-pane, not on the frame
            plot.plot(xs, vs, line_style="bold", hires_mode=HiResMode.BRAILLE)
            if mark is not None:
                plot.add_v_line(mark, line_style="red")
            # textual-plot 0.10 (pinned): once its canvases have their sizes, render() draws the
            # plot; before that (or after a resize) the frame's own render() does, as before
            if not plot._needs_canvas_resize and all(c._canvas_size == c.size for c in canvases if c.size):
                plot.render()
