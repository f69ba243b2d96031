"""The results screen: the ranking (edgetui.ranking.rank, the same code as `edgetui rank`) in a
table that shows any number of rows, a weights editor beside it, filters, sorting and export.

Nothing is ranked on the event loop: every change of weights, filters or failed rows starts the
ranking worker (one at a time; a newer request replaces an older one), which loads the results
when asked, ranks them and builds the table's texts (results_view), then posts Ranked; the
screen swaps the table's frame and keeps the cursor on the configuration it was on.

The screen is made of panes that own their state (tui/widgets, tui/tradeoff): the weights pane
(its cursor, the weights a switched-off criterion had; it asks for new weights with
WeightsPane.Asked), the trade-off plot (its axes and figure), the score explanation and the answer
line. Messages go up (a pane asks, the table's cursor moves, the screen posts RankingChanged and
RowChanged); what to show goes down as reactive attributes: the screen's own `ranked`,
`highlighted` and `plotting`, which the plot follows through data_bind (the screen never draws
it), and the `weights`, `ranking` and `answer` the screen sets on the other panes.

polars comes in with this module, which the app imports only when results are first shown."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import get_current_worker

from edgetui.errors import UserError
from edgetui.fmt import NA
from edgetui.fmt import figure as fmt_value
from edgetui.ranking.constraints import check, parse_constraints, split_line
from edgetui.ranking.criteria import CRITERIA, DEFAULT_WEIGHTS, validate_weights
from edgetui.ranking.plotdata import TradeOffData
from edgetui.ranking.rank import Ranking
from edgetui.ranking.sources import load_results
from edgetui.tui.messages import GoBack, ResultsChanged
from edgetui.tui.screens.results_columns import catalogue
from edgetui.tui.screens.results_compare import CompareFlow
from edgetui.tui.screens.results_export import ExportFlow
from edgetui.tui.screens.results_filter import FilterScreen
from edgetui.tui.screens.results_view import (
    FILTER_COLUMNS,
    INTERVAL,
    Intervals,
    Loaded,
    RankedView,
    Settings,
    build_view,
    display_order,
    interval_columns,
    with_intervals,
)
from edgetui.tui.tradeoff import TradeOffPlot
from edgetui.tui.widgets.answer_line import AnswerLine
from edgetui.tui.widgets.frame_table import FrameTable
from edgetui.tui.widgets.ranking_pane import RankingPane, identity_of
from edgetui.tui.widgets.score_explanation import ScoreExplanation
from edgetui.tui.widgets.weights_pane import WeightsPane

__all__ = ["FilterScreen", "ResultsScreen", "fmt_value"]

PLOT_BESIDE_WIDTH = 160  # from this width the plot goes beside the table, else below a short table
INTERVALS_AFTER_KEYS_S = 0.6  # rank intervals start once the keys have paused this long


class ConstraintsInput(Input):
    """The constraints line (c): escape closes it without a change."""

    BINDINGS = [Binding("escape", "close", "Close", show=False, id="results.constraints_close")]

    def action_close(self) -> None:
        screen = self.screen
        if isinstance(screen, ResultsScreen):
            screen.close_constraints()


class ResultsScreen(Screen):
    CSS_PATH = "results.tcss"
    TITLE = "Results"
    AUTO_FOCUS = "#weights"

    BINDINGS = [
        Binding("j", "cursor(1)", "Down", show=False, id="results.down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="results.up"),
        Binding("space", "toggle_criterion", "On/off", id="results.toggle",
                tooltip="count the highlighted criterion in the score, or not"),
        Binding("plus,equals_sign", "weight(1)", "Raise weight", id="results.weight_up",
                tooltip="raise the highlighted criterion's weight"),
        Binding("minus", "weight(-1)", "Lower weight", show=False, id="results.weight_down",
                tooltip="lower the highlighted criterion's weight"),
        Binding("w", "type_weights", "Type weights", show=False, id="results.type_weights",
                tooltip="type weights as decode_tps=3,ttft_ms=1 (as `edgetui rank --weights`)"),
        Binding("o", "sort_next", "Sort", id="results.sort", tooltip="sort by the next column"),
        Binding("O", "sort_reverse", "Reverse", show=False, id="results.sort_reverse", tooltip="reverse the sort"),
        Binding("f", "filter", "Filter", id="results.filter", tooltip="keep one model, board or engine"),
        Binding("i", "include_failed", "Failed rows", show=False, id="results.include_failed",
                tooltip="show failed and skipped configurations (never scored above measured ones)"),
        Binding("e", "export", "Export", id="results.export", tooltip="write the ranking to .toml or .csv"),
        Binding("c", "constraints", "Constraints", id="results.constraints",
                tooltip="rank only rows meeting power_w<=5, kld<0.05, ... (as `edgetui rank --where`)"),
        Binding("n", "toggle_ci", "± ci95", show=False, id="results.ci",
                tooltip="show each mean with its 95% half-width over the repetitions, or not"),
        Binding("v", "compare", "Compare", id="results.compare",
                tooltip="compare these results with another run from the run list (as `edgetui compare`)"),
        Binding("g", "plot", "Plot", id="results.plot",
                tooltip="the trade-off plot of two criteria (decode against power first), or back to the table"),
        Binding("x", "plot_axis('x')", "Plot x", show=False, id="results.plot_x",
                tooltip="plot the next ranking criterion across"),
        Binding("y", "plot_axis('y')", "Plot y", show=False, id="results.plot_y",
                tooltip="plot the next ranking criterion up"),
        Binding("f5", "reload", "Reload", show=False, id="results.reload", tooltip="read the results files again"),
        Binding("h", "columns(-1)", "Columns left", show=False, id="results.columns_left",
                tooltip="show the columns to the left (rank and score stay)"),
        Binding("l", "columns(1)", "Columns right", show=False, id="results.columns_right",
                tooltip="show the columns to the right"),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="results.next_pane"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, id="results.previous_pane"),
        Binding("escape", "back", "Back", id="results.back"),
    ]

    class Ranked(Message):
        """From the ranking worker: the view for request `request`."""

        def __init__(self, request: int, view: RankedView) -> None:
            super().__init__()
            self.request = request
            self.view = view

    class NotRanked(Message):
        """From the ranking worker: why request `request` gave no ranking."""

        def __init__(self, request: int, message: str, loading: bool) -> None:
            super().__init__()
            self.request = request
            self.message = message
            self.loading = loading

    class IntervalsReady(Message):
        """From the ranking worker: the rank intervals of request `request`'s ranking."""

        def __init__(self, request: int, intervals: Intervals) -> None:
            super().__init__()
            self.request = request
            self.intervals = intervals

    class RankingChanged(Message):
        """The table shows a new ranking (weights, filters, failed rows, a reload, a sort)."""

        def __init__(self, view: RankedView, highlighted: dict[str, Any] | None) -> None:
            super().__init__()
            self.view = view
            self.ranking = view.ranking
            self.highlighted = highlighted

    RowChanged = RankingPane.RowChanged  # posted by the ranking pane

    # what the panes follow (data_bind): the ranking of the last RankingChanged, the row of the
    # last RowChanged, whether the plot is shown (g); always_update: a view holds polars frames
    ranked: reactive[RankedView | None] = reactive(None, always_update=True, init=False)
    highlighted: reactive[dict[str, Any] | None] = reactive(None, init=False)
    plotting: reactive[bool] = reactive(False, init=False)

    def __init__(self, paths: Sequence[str | Path]) -> None:
        super().__init__()
        self.paths = [str(p) for p in paths]
        self.loaded: Loaded | None = None
        self.view: RankedView | None = None  # what the table shows (with its intervals once computed)
        self.weights: dict[str, float] = dict(DEFAULT_WEIGHTS)
        self.filters: dict[str, str] = {}
        self.where: list[str] = []  # constraints, as typed (c)
        self.ci = False  # mean ± ci95 (n)
        self.compares = CompareFlow(self)
        self.include_failed = False
        self.sort_key = "rank"
        self.sort_reverse = False
        self.error: str | None = None
        self.exports = ExportFlow(self, self.ranking_to_export)
        self._request = 0  # the latest ranking asked for; older answers are dropped
        self._keep: str | None = None  # the identity (source|config_id) the cursor stays on
        # after a re-rank (weights, filters): the view goes to the top, and the status line gives the
        # new rank of the row highlighted before (its identity, then the text)
        self._reranked_from: str | None = None

    # ------------------------------------------------------------------ what others read
    @property
    def ranking(self) -> Ranking | None:
        return self.view.ranking if self.view is not None else None

    @property
    def df(self) -> Any:
        return self.loaded.df if self.loaded is not None else None

    @property
    def plot_data(self) -> TradeOffData | None:
        """What the plot shows (None while it is hidden)."""
        return self.query_one("#plot", TradeOffPlot).data

    @property
    def last_export(self) -> Path | None:
        return self.exports.last_export

    def ranking_to_export(self) -> Ranking | None:
        """The ranking shown, with every results column: the files are read again whole (the
        console reads only the columns it shows). Runs in the export's worker thread."""
        view = self.view
        if view is None:
            return None
        full = load_results(self.paths)
        if not full.select("source", "config_id").equals(view.loaded.df.select("source", "config_id")):
            raise UserError("the results changed since they were ranked: reload them (F5) and export again")
        return view.ranking.widened(full)

    def highlighted_row(self) -> dict[str, Any] | None:
        """The ranking's row under the cursor, or None."""
        return self.ranking_pane.highlighted_row() if self.view is not None else None

    @property
    def hidden_right(self) -> int:
        return self.ranking_pane.hidden_right

    def settings(self) -> Settings:
        return Settings(weights=dict(self.weights), filters=dict(self.filters), include_failed=self.include_failed,
                        sort_key=self.sort_key, sort_reverse=self.sort_reverse, where=tuple(self.where), ci=self.ci)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with RankingPane(id="ranking-pane", classes="pane"):
                yield AnswerLine(id="answer")  # the ranking's answer in words
                with Container(id="table-and-plot"):
                    yield FrameTable(id="ranking", zebra_stripes=True, header_height=2, null_text=NA)
                    yield TradeOffPlot(id="plot").data_bind(view=ResultsScreen.ranked,
                                                            highlighted=ResultsScreen.highlighted,
                                                            shown=ResultsScreen.plotting)
                yield Static(id="row-details")
                yield ConstraintsInput(id="constraints", placeholder="power_w<=5, kld<0.05  (enter: apply · "
                                       "empty: none · escape: close)")
            yield WeightsPane(wide=self.app.size.width >= 140, id="weights-pane", classes="pane")
        yield ScoreExplanation(id="policy-pane")
        yield Footer(compact=True)

    @property
    def ranking_pane(self) -> RankingPane:
        return self.query_one("#ranking-pane", RankingPane)

    @property
    def weights_pane(self) -> WeightsPane:
        return self.query_one("#weights-pane", WeightsPane)

    @property
    def explanation(self) -> ScoreExplanation:
        return self.query_one("#policy-pane", ScoreExplanation)

    def on_mount(self) -> None:
        self._fit(self.size.width, self.size.height)
        self.weights_pane.weights = dict(self.weights)
        self.load()

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)
        if self.view is not None:
            self.call_after_refresh(self.draw_table)  # the columns that fit change with the width

    def _fit(self, width: int, height: int) -> None:
        self.set_class(width >= 140, "wide")
        self.weights_pane.wide = width >= 140
        self.explanation.roomy = width >= 140 or height >= 40
        self.set_class(width >= PLOT_BESIDE_WIDTH, "plot-beside")
        self.set_class(height < 40, "short")  # with the plot on, the policy pane gives it its rows
        self.set_class(height < 32, "compact")  # and the table keeps two rows, the row details none

    # ------------------------------------------------------------------ ranking, off the loop
    def load(self) -> None:
        """Read the results files again (in the worker) and rank them."""
        row = self.highlighted_row() if self.is_mounted and self.view is not None else None
        self._keep = identity_of(row)
        if self.view is None:
            self.ranking_pane.say(Text(f"reading {len(self.paths)} results file(s)…", style="dim"))
        self._start(load=True)

    def rerank(self) -> bool:
        """Rank again with the current settings; False (and the message shown) when refused."""
        if self.loaded is None:
            if self.error:
                self.show_error(self.error)
            return False
        try:
            validate_weights(self.weights)
        except UserError as exc:
            self.notify(exc.message, title="Not ranked", severity="error")
            return False
        row = self.highlighted_row()
        self._keep = None
        self._reranked_from = f"{row.get('source') or ''}|{row.get('config_id')}" if row else ""
        self._start(load=False)
        return True

    def _start(self, *, load: bool) -> None:
        self._request += 1
        self._rank_worker(self._request, self.settings(), None if load else self.loaded)

    @work(thread=True, exclusive=True, group="ranking")
    def _rank_worker(self, request: int, settings: Settings, loaded: Loaded | None) -> None:
        worker = get_current_worker()
        loading = loaded is None
        try:
            if loaded is None:
                loaded = Loaded.read(self.paths)
            view = build_view(loaded, settings)
        except UserError as exc:
            if not worker.is_cancelled:
                self.post_message(self.NotRanked(request, str(exc) if loading else exc.message, loading))
            return
        if worker.is_cancelled:
            return
        self.post_message(self.Ranked(request, view))
        # then the rank intervals (a second or more at 100,000 rows): the table is shown meanwhile, and a
        # newer ranking stops this one between blocks of resamples. After a key (not a load) they wait
        # for the keys to pause: a burst of weight changes is not slowed by intervals no one will see
        def cancelled() -> bool:
            return worker.is_cancelled or request != self._request

        if not loading:
            deadline = time.monotonic() + INTERVALS_AFTER_KEYS_S
            while time.monotonic() < deadline:
                if cancelled():
                    return
                time.sleep(0.05)
        intervals = interval_columns(view, cancelled=cancelled)
        if intervals is not None and not worker.is_cancelled:
            self.post_message(self.IntervalsReady(request, intervals))

    def on_results_screen_ranked(self, message: Ranked) -> None:
        if message.request != self._request:
            return  # an answer to settings since changed
        if self.loaded is not message.view.loaded:
            self.refresh_bindings()  # export, filter and sort become available (check_action)
            for note in message.view.loaded.notes:
                self.notify(note, title="Results", severity="warning", timeout=10)
        self.loaded, self.view, self.error = message.view.loaded, message.view, None
        self.draw_table(keep=self._keep)
        self.explanation.ranking = message.view.ranking
        self.post_message(self.RankingChanged(message.view, self.highlighted_row()))

    def on_results_screen_intervals_ready(self, message: IntervalsReady) -> None:
        if message.request != self._request or self.view is None:
            return
        row = self.highlighted_row()
        self.view = with_intervals(self.view, message.intervals)
        self.draw_table(keep=identity_of(row))
        self.explanation.ranking = self.view.ranking

    def on_results_screen_not_ranked(self, message: NotRanked) -> None:
        if message.request != self._request:
            return
        if message.loading:
            self.loaded, self.view, self.error = None, None, message.message
            self.refresh_bindings()
            self.show_error(message.message)
        else:
            self.notify(message.message, title="Not ranked", severity="error")

    def show_error(self, message: str) -> None:
        self.ranking_pane.clear(message)
        self.explanation.ranking = None

    # ------------------------------------------------------------------ drawing

    def columns(self) -> list[tuple[str, str]]:
        """Every (column key, header) in display order (see results_columns.catalogue)."""
        if self.view is None:
            return catalogue(self.weights, self.include_failed, with_config=False)
        return self.ranking_pane.columns()

    def draw_table(self, keep: str | None = None) -> None:
        """Show the view in the ranking pane, the cursor on the row it was on (`keep`: a row
        identity after a reload or a new order), or at the top after a re-rank."""
        if self.view is None:
            return
        reranked_from, self._reranked_from = self._reranked_from, None
        self.ranking_pane.show(self.view, keep=keep, reranked_from=reranked_from)
        self._keep = None

    def resort(self) -> None:
        """A new sort key or direction: only the order changes (no re-rank)."""
        if self.view is None:
            return
        row = self.highlighted_row()
        settings = dataclasses.replace(self.view.settings, sort_key=self.sort_key, sort_reverse=self.sort_reverse)
        order = display_order(self.view.loaded, self.view.ranking, self.view.frame, settings)
        self.view = dataclasses.replace(self.view, settings=settings, order=order)
        self.draw_table(keep=identity_of(row))
        self.post_message(self.RankingChanged(self.view, self.highlighted_row()))

    # ------------------------------------------------------------------ what the panes follow
    def on_results_screen_ranking_changed(self, message: RankingChanged) -> None:
        self.highlighted = message.highlighted
        self.ranked = message.view

    def on_ranking_pane_row_changed(self, message: RankingPane.RowChanged) -> None:
        self.highlighted = message.row

    def on_weights_pane_asked(self, message: WeightsPane.Asked) -> None:
        before = self.weights
        self.weights = dict(message.weights)
        if not self.rerank():
            self.weights = before
            self.weights_pane.weights = dict(before)  # the pane showed what it asked: back to what is ranked

    @property
    def plot_on(self) -> bool:
        return self.plotting

    def watch_plotting(self, on: bool) -> None:
        self.set_class(on, "plot")
        self.refresh_bindings()  # x and y apply only with the plot shown
        if self.view is not None:
            self.call_after_refresh(self.draw_table)  # the table's width changed: other columns fit

    def action_plot(self) -> None:
        self.plotting = not self.plotting

    def action_plot_axis(self, axis: str) -> None:
        nxt = self.query_one("#plot", TradeOffPlot).step_axis(axis)
        self.notify(f"plot {axis}: {CRITERIA[nxt].label} ({CRITERIA[nxt].unit})", timeout=3)

    def on_frame_table_header_selected(self, event: FrameTable.HeaderSelected) -> None:
        if event.key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = event.key, False
        self.resort()

    # ------------------------------------------------------------------ actions
    def action_cursor(self, step: int) -> None:
        focused = self.focused
        if isinstance(focused, FrameTable):
            focused.action_cursor(step)
            return
        table = focused if isinstance(focused, DataTable) else self.weights_pane.table
        (table.action_cursor_down if step > 0 else table.action_cursor_up)()

    def action_toggle_criterion(self) -> None:
        self.weights_pane.toggle()

    def action_weight(self, step: int) -> None:
        self.weights_pane.step(step)

    def action_type_weights(self) -> None:
        self.weights_pane.type_weights()

    def action_sort_next(self) -> None:
        keys = [k for k, _ in self.columns() if k not in ("missing", INTERVAL)]  # intervals follow the rank
        i = keys.index(self.sort_key) if self.sort_key in keys else -1
        self.sort_key = keys[(i + 1) % len(keys)]
        self.sort_reverse = False
        self.resort()

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.resort()

    def action_columns(self, step: int) -> None:
        self.ranking_pane.scroll_columns(step)

    def action_filter(self) -> None:
        if self.loaded is None:
            return
        loaded = self.loaded
        choices = {col: loaded.choices(col) for col in FILTER_COLUMNS}

        def done(filters: dict[str, str] | None) -> None:
            if filters is None:
                return
            before = dict(self.filters)
            self.filters = filters
            if not self.rerank():
                self.filters = before

        self.app.push_screen(FilterScreen(choices, self.filters), done)

    def action_include_failed(self) -> None:
        self.include_failed = not self.include_failed
        self.rerank()
        self.notify("failed and skipped rows shown" if self.include_failed else "failed and skipped rows hidden")

    def action_reload(self) -> None:
        self.load()

    def on_results_changed(self, message: ResultsChanged) -> None:
        if self.paths == [str(message.run_dir)]:
            self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("export", "filter", "sort_next", "sort_reverse", "include_failed", "constraints", "toggle_ci",
                      "compare") and self.loaded is None:
            return False
        if action.split("(")[0] == "plot_axis":  # the palette asks with the binding's whole action text
            return self.plot_on
        return True

    def action_constraints(self) -> None:
        line = self.query_one("#constraints", ConstraintsInput)
        line.value = ", ".join(self.where)
        self.set_class(True, "constraining")
        line.focus()

    def close_constraints(self) -> None:
        self.set_class(False, "constraining")
        self.query_one("#ranking", FrameTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "constraints":
            return
        event.stop()
        texts = split_line(event.value)
        try:
            parsed = parse_constraints(texts)
            if self.loaded is not None:
                for c in parsed:
                    check(c, self.loaded.df.schema)
        except UserError as exc:
            self.notify(exc.message, title="Constraint not understood", severity="error", timeout=8)
            return  # the line stays open to be corrected
        before = list(self.where)
        self.where = texts
        if not self.rerank():
            self.where = before
            return
        self.close_constraints()

    def action_toggle_ci(self) -> None:
        self.ci = not self.ci
        self.rerank()
        self.notify("figures shown as mean ± 95% half-width" if self.ci else "figures shown as means", timeout=3)

    def action_compare(self) -> None:
        self.compares.start()

    def action_export(self) -> None:
        if self.ranking is not None:
            self.exports.start()

    def action_back(self) -> None:
        self.post_message(GoBack())
