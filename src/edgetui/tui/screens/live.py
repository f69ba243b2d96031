"""The live run screen: a view of a RunFollower's state, redrawn by the app's tick while it is the
screen on top (never while hidden or behind a dialog)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, RichLog, Static

from edgetui.fmt import NA
from edgetui.fmt import duration as fmt_duration
from edgetui.fmt import number as fmt_num
from edgetui.run.session import RunFollower
from edgetui.rundir.control import write_control
from edgetui.rundir.events import rep_label
from edgetui.rundir.follow import LOG_LINES, LiveState
from edgetui.sensors.base import NO_POWER
from edgetui.stats import ci95_half_width, mean
from edgetui.tui.dialogs import ConfirmScreen
from edgetui.tui.messages import GoBack, ResumeRun, ShowResults
from edgetui.tui.timeseries import TimeSeriesPlot

LOG_STYLES = {"error": "bold red", "warn": "yellow", "ok": "green", "": ""}
# The time series are drawn at most this often (every eighth tick): a plot round (its drawing and
# the frame that shows it) cost about as much CPU as all the texts of 4 s together, and a curve
# of minutes moves little in a few seconds.
PLOT_PERIOD_S = 4.0


def _lines(text: Text, width: int) -> int:
    """How many rows a text takes when wrapped at width (a close upper bound: words wrap early)."""
    return sum(max(1, -(-len(line) // width) + (1 if len(line) > width else 0)) for line in text.plain.split("\n"))


def _undetected(state: LiveState) -> str:
    reasons = [f"{s.get('backend')}: {s.get('reason')}" for s in state.manifest.get("sensors", [])
               if not s.get("detected") and s.get("backend") != "system"]
    return "; ".join(reasons)


# ---------------------------------------------------------------------- pane texts
def progress_text(f: RunFollower, now: float) -> Text:
    s = f.state
    t = Text()
    cur = s.current
    n = s.n_configs
    if s.run_start_t is None and cur is None:
        if f.died:
            t.append("The runner stopped before the run started.\n", style="bold red")
            t.append(f.died, style="red")
        else:
            t.append("starting the runner (checking models, fetching any missing bundled one)...", style="dim")
        return t
    if cur is not None:
        t.append(f"config {cur.index}/{cur.n or n or '?'} ", style="bold")
        t.append(cur.describe)  # its id is in the log line that started it
        outcome = s.outcomes.get(cur.config_id)
        if outcome is not None:
            t.append(f"  {outcome.status}", style=LOG_STYLES["error" if outcome.status == "failed" else "ok"])
        t.append("\n")
        if cur.rep is not None and outcome is None:
            if cur.rep_is_warmup:
                t.append("warm-up")
            elif cur.soak_s is not None:
                t.append(f"soak {fmt_duration(cur.soak_elapsed(now))} of {fmt_duration(cur.soak_s)}", style="bold")
                t.append(f" · rep {cur.reps_done + 1}")
            else:
                t.append(rep_label(cur.rep, cur.repetitions, cur.repetitions if cur.auto else None))
            t.append(" · ")
    else:
        t.append(f"{n if n is not None else '?'} configuration(s)\n")
    phase = s.phase or "?"
    t.append(f"{phase}", style="bold" if phase in ("decode", "prefill") else "")
    step = s.step_text()
    if step:  # quantizing a variant or the quality pass: a phase of its own, with its progress
        t.append(f" ({step})", style="bold")
    t.append(f" · elapsed {fmt_duration(s.elapsed(now))}")
    if f.active:
        t.append(f" · ETA ~{fmt_duration(s.eta(now))}")
    counts = s.counts()
    t.append(f" · done {counts['done']}")
    t.append(f" · failed {counts['failed']}", style="bold red" if counts["failed"] else "")
    t.append(f" · skipped {counts['skipped']}", style="yellow" if counts["skipped"] else "")
    if f.died:
        t.append("\nRUNNER STOPPED: ", style="bold red")
        t.append(f.died.splitlines()[0] + " (u resumes from the first repetition not on disk)", style="red")
    elif f.ended:
        status = (s.run_end.status if s.run_end else None) or s.manifest.get("status")
        t.append(f"\nrun {status}; v shows the ranking", style="bold green" if status == "finished" else "bold yellow")
    elif f.pause_requested:
        t.append("\nPAUSED" if s.phase == "paused" else "\npausing after this repetition...", style="bold yellow")
    return t


def tokens_texts(s: LiveState) -> tuple[Text, Text]:
    """Decode "now" is the live wall-clock rate between progress events while a repetition decodes;
    "last" is the engine's own figure for the last repetition; the means are over this
    configuration's counted repetitions (warm-up left out)."""
    cur = s.current
    d = Text()
    d.append("decode  ", style="bold")
    if s.decoding and s.decode_now is not None:
        d.append(f"{s.decode_now:.1f} now", style="bold")
    elif s.last_rep and s.last_rep.decode_tps is not None:
        d.append(f"{s.last_rep.decode_tps:.1f} last")
    else:
        d.append(f"{NA} yet", style="dim")
    if cur is not None and cur.decode_tps:  # the mean's 95% interval from the second repetition on
        half = ci95_half_width(cur.decode_tps)
        d.append(f" · mean {mean(cur.decode_tps):.1f}"
                 + (f" ± {half:.1f} (95%, {len(cur.decode_tps)} reps)" if half is not None else ""))
    p = Text()
    p.append("prefill ", style="bold")
    if s.last_rep and s.last_rep.prefill_tps is not None:
        p.append(f"{s.last_rep.prefill_tps:.1f} last")
    else:
        p.append(f"{NA} yet", style="dim")
    if cur is not None and cur.prefill_tps:
        p.append(f" · mean {mean(cur.prefill_tps):.1f}")
    if cur is not None and cur.ttft_ms:
        p.append(f" · TTFT {mean(cur.ttft_ms):.0f} ms")
    return d, p


def power_text(s: LiveState) -> Text:
    t = Text()
    sample = s.sample or {}
    src = s.power
    if not s.power_seen:
        # the headline first ("no power sensor", or the source that gave nothing yet), then as much
        # of the reasons as the pane has room for (all of it is in the log)
        if src is None:
            head, why = "no power reading yet", ""
        elif src.backend is None:
            head, why = NO_POWER, "; ".join(src.reasons)
        else:
            head = f"{src.backend}:{src.name}" if src.name else src.backend
            why = f"{src.scope}, {src.method}" if src.scope else ""
        t.append(NA, style="bold")
        t.append(f": {head}")
        if why:
            t.append("\n" + why, style="dim")
        return t
    t.append(f"{fmt_num(sample.get('power_w'), 2, 'W')} now", style="bold")
    t.append(f" · mean {fmt_num(mean(s.power_history), 2, 'W')}")
    t.append(f"\n{s.power_source}", style="dim")  # the source, what it covers, measured or not
    t.append(f"\nenergy so far {fmt_num(s.energy_reps_j, 1, 'J')}")
    if s.power_w_idle is not None:
        t.append(f" · idle {s.power_w_idle:.2f} W")
    # the other rails, largest first (the total is the figure above)
    total = (src.backend, src.name) if src is not None else None
    rails = [(name, v) for backend, name, v in s.readings("power") if (backend, name) != total][:3]
    if rails:
        t.append("\n" + " · ".join(f"{name} {v:.2f}" for name, v in rails) + " W")
    return t


def temperature_text(s: LiveState) -> Text:
    t = Text()
    sample = s.sample or {}
    temp = sample.get("temp_c_max")
    why = ""
    if temp is None and s.temp_peak is None:
        t.append(NA, style="bold")
        t.append(": no temperature sensor")
        why = _undetected(s)
    else:
        t.append(f"{fmt_num(temp, 1, 'C')}", style="bold")
        t.append(f" hottest {sample.get('temp_zone') or NA}")
        t.append(f"\npeak {fmt_num(s.temp_peak, 1, 'C')} · ")
    thr = sample.get("throttled") if sample else None
    if why:
        t.append("\n")
    if thr:
        t.append("THROTTLING NOW", style="bold reverse red")
    elif s.throttle_events:
        t.append(f"throttled {s.throttle_events}x this run", style="bold yellow")
    elif s.throttled_now is None:
        t.append("throttling: n/a (no throttle sensor)", style="dim")
    else:
        t.append("not throttled", style="green")
    zones = s.readings("temperature")[:3]
    if zones:
        t.append("\n" + " · ".join(f"{name} {v:.1f}" for _, name, v in zones), style="dim")
    freq = cpufreq_line(s)
    if freq is not None:
        t.append("\n")
        t.append_text(freq)
    if why:  # last: the pane shows as much of it as fits (all of it is in `edgetui sensors`)
        t.append(f"\n{why}", style="dim")
    return t


def cpufreq_line(s: LiveState) -> Text | None:
    """Each cpufreq policy's clock now over its allowed ceiling, GHz; those held down in bold red."""
    sample = s.sample or {}
    cur, top = sample.get("cpu_mhz") or {}, sample.get("cpu_max_mhz") or {}
    if not cur:
        return None
    held = set(sample.get("cpu_held") or ())
    t = Text("CPU GHz ", style="dim")
    for i, (policy, mhz) in enumerate(cur.items()):
        if i:
            t.append(" · ", style="dim")
        ceiling = f"/{top[policy] / 1000:.2f}" if policy in top else ""
        t.append(f"{policy.removeprefix('policy')}: {mhz / 1000:.2f}{ceiling}",
                 style="bold red" if policy in held else "dim")
    return t


def soak_text(s: LiveState, now: float) -> Text:
    """A soak in flight: the window gone, the decode rate held, and when throttling began."""
    cur = s.current
    t = Text()
    if cur is None or cur.soak_s is None:
        return t
    elapsed = cur.soak_elapsed(now)
    t.append("soak ", style="bold")
    if elapsed is None:
        t.append(f"of {fmt_duration(cur.soak_s)} starts after the warm-up", style="dim")
        return t
    share = elapsed / cur.soak_s if cur.soak_s else 1.0
    t.append(f"{fmt_duration(elapsed)} of {fmt_duration(cur.soak_s)} ({100 * share:.0f}%)")
    t.append(f" · {cur.reps_done} repetitions")
    if cur.decode_tps:
        t.append(f" · decode first {cur.decode_tps[0]:.1f}, last {cur.decode_tps[-1]:.1f} tok/s")
    if cur.throttle_t is not None and cur.soak_start_t is not None:
        t.append(f"\nthrottling from {fmt_duration(cur.throttle_t - cur.soak_start_t)} into the soak",
                 style="bold red")
    elif s.throttled_now is not None:
        t.append("\nno throttling seen in the window", style="green")
    return t


def memory_text(s: LiveState) -> Text:
    t = Text()
    sample = s.sample or {}
    rss = sample.get("rss_mb")
    t.append("inference RSS ", style="bold")
    if rss is None:
        t.append(f"{NA} (no inference process now)", style="dim")
    else:
        t.append(f"{rss:.0f} MB", style="bold")
        t.append(f" · peak {fmt_num(s.rss_peak, 0, 'MB')}")
    used, total = sample.get("mem_used_mb"), sample.get("mem_total_mb")
    t.append("\nsystem ")
    if used is None or not total:
        t.append(NA, style="dim")
    else:
        t.append(f"{used / 1024:.1f} of {total / 1024:.1f} GB used ({100 * used / total:.0f}%)")
    return t


class LiveScreen(Screen):
    CSS_PATH = "live.tcss"
    TITLE = "Live run"

    BINDINGS = [
        Binding("p", "pause", "Pause/resume", id="live.pause", tooltip="pause between repetitions, or go on"),
        Binding("s", "skip", "Skip config", id="live.skip", tooltip="stop this configuration; the queue goes on"),
        Binding("x", "abort", "Abort queue", id="live.abort", tooltip="stop the whole queue (asks first)"),
        Binding("v", "results", "Results", id="live.results", tooltip="rank what has finished so far"),
        Binding("t", "series_scope", "Run so far", show=False, id="live.series_scope",
                tooltip="plot the whole run so far, or only the configuration in flight"),
        Binding("u", "resume", "Resume run", id="live.resume",
                tooltip="start a runner that continues from the first repetition not on disk"),
        Binding("escape", "back", "Queue", id="live.back", tooltip="back to the queue; the run goes on"),
    ]

    def __init__(self, follower: RunFollower, *, clock: Callable[[], float]) -> None:
        super().__init__()
        self.follower = follower
        self.clock = clock  # the runner's events' clock (a frozen one in tests)
        self._log_seq = 0
        self._texts: dict[str, Text] = {}
        self.whole_run = False  # the plots show the run so far (t), else the configuration in flight
        self._plots_at: float | None = None  # when the plots were last drawn (the app's clock)
        self._plots_due = False  # a series moved since then
        self._keys_state: tuple[bool | None, ...] = ()
        # the widgets drawn on every tick, found once (a query per tick cost more than the drawing)
        self._widgets: dict[str, Widget] = {}
        self._grid_plots: list[TimeSeriesPlot] = []
        self._soak_plot_widgets: list[TimeSeriesPlot] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="progress", classes="pane"):
            yield Static(id="progress-text")
        with Vertical(id="soak", classes="pane"):  # shown while a soak runs
            yield Static(id="soak-text")
            with Horizontal(id="soak-plots"):
                yield TimeSeriesPlot("rep_decode", id="soak-decode-plot")
                yield TimeSeriesPlot("temp", id="soak-temp-plot")
        with Grid(id="grid"):
            with Vertical(id="tokens", classes="pane"):
                yield Static(id="decode-text")
                yield TimeSeriesPlot("decode", id="decode-plot")
                yield Static(id="prefill-text")
                yield TimeSeriesPlot("prefill", id="prefill-plot", classes="minor")
            with Vertical(id="power", classes="pane"):
                yield Static(id="power-text")
                yield TimeSeriesPlot("power", id="power-plot")
            with Vertical(id="temperature", classes="pane"):
                yield Static(id="temperature-text")
                yield TimeSeriesPlot("temp", id="temperature-plot")
            with Vertical(id="memory", classes="pane"):
                yield Static(id="memory-text")
                yield TimeSeriesPlot("rss", id="memory-plot", classes="minor")
        with Vertical(id="log-pane", classes="pane"):
            yield RichLog(id="log", max_lines=LOG_LINES, wrap=True, markup=False, auto_scroll=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        titles = {"#progress": f"Progress · {self.follower.run_dir.name}", "#tokens": self._tokens_title(),
                  "#soak": "Soak · decode per repetition and the hottest zone, from the window's start",
                  "#power": "Power", "#temperature": "Temperature", "#memory": "Memory", "#log-pane": "Log"}
        for sel, title in titles.items():
            self.query_one(sel).border_title = title
        self._grid_plots = list(self.query("#grid TimeSeriesPlot").results(TimeSeriesPlot))
        self._soak_plot_widgets = list(self.query("#soak TimeSeriesPlot").results(TimeSeriesPlot))
        self._fit(self.size.width, self.size.height)
        self.redraw()

    def _tokens_title(self) -> str:
        if self.whole_run:
            return "Tokens/s · whole run (t: this config)"
        return "Tokens/s · this config (t: whole run)"

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        self.set_class(width >= 160, "wide")
        self.set_class(height >= 40, "tall")
        self.set_class(height < 32, "compact")
        for plot in self.query(TimeSeriesPlot):
            plot.set_compact(height < 32)

    def on_screen_resume(self) -> None:
        self.redraw()
        self._plots(self.follower.state, force=True)

    # ------------------------------------------------------------------ drawing
    def _set(self, widget_id: str, value: Text) -> None:
        """Update a Static only when its text changed (no repaint for an unchanged pane), and ask for
        a new layout only when its height may change: a layout every tick costs more than the rest
        of the redraw together, and the point of this screen is to leave the CPU to the model."""
        old = self._texts.get(widget_id)
        if old == value:
            return
        self._texts[widget_id] = value
        widget = self._widget(widget_id)
        assert isinstance(widget, Static)
        width = widget.content_size.width
        same_height = old is not None and width > 0 and _lines(old, width) == _lines(value, width)
        widget.update(value, layout=not same_height)

    def _widget(self, widget_id: str) -> Widget:
        """A widget of this screen by its id, found once."""
        widget = self._widgets.get(widget_id)
        if widget is None:
            widget = self._widgets[widget_id] = self.query_one(f"#{widget_id}")
        return widget

    def _plots(self, s: LiveState, force: bool = False) -> None:
        """The time series, at most every PLOT_PERIOD_S (unless forced: a new scope, the screen
        shown again), each only when it moved (TimeSeriesPlot.show checks)."""
        now = self.clock()
        if not force and self._plots_at is not None and now - self._plots_at < PLOT_PERIOD_S:
            self._plots_due = True
            return
        self._plots_due = False
        if self.whole_run:
            origin, scope = s.run_start_t, "whole run"
        else:
            origin, scope = (s.current.started_t if s.current else None), "this config"
        shown = {key: (ls.run if self.whole_run else ls.config) for key, ls in s.series.items()}
        # every plot of the screen ends at the latest reading, so their time axes line up
        end = max((series.t[-1] for series in shown.values() if series.t), default=None)
        for plot in self._grid_plots:
            plot.show(shown[plot.quantity], origin, scope, end)
        self._soak_plots(s, end)
        if end is not None:  # the period starts with the first draw that had something to draw
            self._plots_at = now

    def _soak_plots(self, s: LiveState, end: float | None) -> None:
        """The soak's curves from its window's start, throttling's first sample marked on both."""
        start, throttle_t = s.soak_series()
        if start is None:
            return
        for plot in self._soak_plot_widgets:
            plot.show(s.series[plot.quantity].config, start, "soak window", end, mark=throttle_t)

    def redraw(self, changed: bool = True) -> None:
        try:
            self._redraw(changed)
        except NoMatches:  # a read that arrived while the console closes: the panes are gone, nothing to draw
            if self.is_attached and self.query("#progress-text"):
                raise

    def _redraw(self, changed: bool) -> None:
        f = self.follower
        s = f.state
        now = self.clock()
        self._set("progress-text", progress_text(f, now))
        if not changed:
            if self._plots_due:  # what arrived while the plots waited for their period
                self._plots(s)
            return
        w = self._widget
        decode, prefill = tokens_texts(s)
        self._set("decode-text", decode)
        self._set("prefill-text", prefill)
        self._set("power-text", power_text(s))
        w("power-text").set_class(not s.power_seen, "na")
        self._set("temperature-text", temperature_text(s))
        w("temperature-text").set_class(s.temp_peak is None, "na")
        self._set("memory-text", memory_text(s))
        soaking = s.current is not None and s.current.soak_s is not None
        w("soak").set_class(soaking, "soaking")
        if soaking:
            self._set("soak-text", soak_text(s, now))
        self._plots(s)
        log = w("log")
        assert isinstance(log, RichLog)
        for line in s.log:
            if line.seq > self._log_seq:
                log.write(Text(line.text, style=LOG_STYLES.get(line.style, "")), expand=True)
                self._log_seq = line.seq
        # the footer shows only the keys that apply; rebuild it only when that changes (a refresh
        # of the bindings recomposes the footer: never per tick)
        keys_state = (f.active, f.died is not None, s.current is not None, self.check_action("results", ()))
        if keys_state != self._keys_state:
            self._keys_state = keys_state
            self.refresh_bindings()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        f = self.follower
        if action in ("pause", "abort"):
            return f.active
        if action == "skip":
            return f.active and f.state.current is not None
        if action == "resume":
            return f.died is not None
        if action == "results":
            return f.store.has_results()
        return True

    def action_pause(self) -> None:
        paused = not self.follower.pause_requested
        write_control(self.follower.run_dir, pause=paused)
        self.notify("pausing after this repetition" if paused else "going on")
        self.redraw(False)

    def action_skip(self) -> None:
        cur = self.follower.state.current
        if cur is None:
            return
        write_control(self.follower.run_dir, skip=cur.config_id)
        self.notify(f"skipping {cur.config_id}; the queue goes on")

    def action_abort(self) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                write_control(self.follower.run_dir, abort=True)
                self.notify("aborting the queue; finished repetitions are kept")

        self.app.push_screen(ConfirmScreen(
            "Abort the queue?",
            "The configuration in flight stops and nothing after it runs. Every repetition already "
            "finished stays on disk and in the results.", yes="Abort", no="Keep running"), answer)

    def action_results(self) -> None:
        self.post_message(ShowResults([self.follower.run_dir]))

    def action_series_scope(self) -> None:
        self.whole_run = not self.whole_run
        self.query_one("#tokens").border_title = self._tokens_title()
        self._plots(self.follower.state, force=True)

    def action_resume(self) -> None:
        self.post_message(ResumeRun())

    def action_back(self) -> None:
        self.post_message(GoBack())
