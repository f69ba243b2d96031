"""The live panes' time series: bounded series in the core (rundir.series, fed by LiveState), and
the plots of the live screen (this configuration, the whole run on `t`, a sparkline at 80x24)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Sparkline, Static

from edgetui.run.session import RunFollower
from edgetui.rundir.follow import LiveState
from edgetui.rundir.series import QUANTITIES, LiveSeries, Series
from edgetui.tui.app import EdgeApp
from edgetui.tui.screens.live import PLOT_PERIOD_S, LiveScreen
from edgetui.tui.timeseries import TimeSeriesPlot, _Plot

from fixtures.tui.scenes import alive, copy_run, cut_mid_decode


# ---------------------------------------------------------------------- core
def test_a_series_stays_bounded_and_keeps_the_whole_span_at_a_coarser_step():
    s = Series(max_points=8)
    for i in range(1000):
        s.add(float(i), float(i % 10))
    ts, vs = s.points()
    assert len(ts) <= 8 + 1  # the bucket still filling is one more point
    assert ts[0] < 64 and ts[-1] > 900  # from the start to now, not the last few samples only
    assert s.bucket >= 128
    assert all(0.0 <= v <= 9.0 for v in vs)  # means of the samples, never made up


def test_merged_points_are_means_of_neighbours():
    s = Series(max_points=4)
    for t, v in [(0, 0.0), (1, 2.0), (2, 4.0), (3, 6.0)]:
        s.add(t, v)
    assert s.points() == ([0.5, 2.5], [1.0, 5.0])
    s.add(4, 8.0)  # half of the next bucket of two
    assert s.points() == ([0.5, 2.5, 4.0], [1.0, 5.0, 8.0])


def test_a_missing_reading_is_a_gap_and_a_new_configuration_clears_only_its_own_series():
    ls = LiveSeries()
    ls.add(1.0, 5.0)
    ls.add(2.0, None)
    ls.add(None, 7.0)
    assert ls.config.points() == ([1.0], [5.0])
    before = ls.config.version
    ls.new_config()
    assert ls.config.points() == ([], []) and ls.config.version != before
    assert ls.run.points() == ([1.0], [5.0])


def test_live_state_feeds_every_series_with_the_runner_times():
    st = LiveState()
    st.feed_event({"ev": "config_start", "config_id": "a", "index": 1, "n": 2, "t": 10.0})
    st.feed_event({"ev": "progress", "phase": "decode", "config_id": "a", "rep": 0, "warmup": False,
                   "tokens": 10, "t": 11.0})
    st.feed_event({"ev": "progress", "phase": "decode", "config_id": "a", "rep": 0, "warmup": False,
                   "tokens": 30, "t": 12.0})
    st.feed_event({"ev": "rep_end", "config_id": "a", "rep": 0, "warmup": False, "decode_tps": 19.0,
                   "prefill_tps": 80.0, "t": 12.5})
    st.feed_sample({"t": 12.6, "power_w": 6.5, "temp_c_max": 50.0, "rss_mb": 300.0})
    st.feed_sample({"t": 12.7, "power_w": None, "temp_c_max": 51.0, "rss_mb": 301.0})
    assert st.series["decode"].config.points() == ([12.0], [20.0])  # the live rate between progress events
    assert st.series["prefill"].config.points() == ([12.5], [80.0])
    assert st.series["power"].config.points() == ([12.6], [6.5])  # no reading: no point
    assert st.series["temp"].config.points()[1] == [50.0, 51.0]
    st.feed_event({"ev": "config_start", "config_id": "b", "index": 2, "n": 2, "t": 20.0})
    assert all(not ls.config.t for ls in st.series.values())
    assert st.series["rss"].run.points()[1] == [300.0, 301.0]
    assert set(st.series) == set(QUANTITIES)


# ---------------------------------------------------------------------- the live screen
@pytest.fixture
def cut_run(tmp_path: Path) -> tuple[Path, float]:
    run_dir = copy_run("run-jetson", tmp_path / "runs", "20260301-101500-small")
    return run_dir, cut_mid_decode(run_dir)


async def open_live(app: EdgeApp, pilot, run_dir: Path) -> LiveScreen:
    app.follower = RunFollower(run_dir, alive=alive, clock=app.clock)
    app.show_live()
    await pilot.pause()
    app.tick()
    await pilot.pause()
    assert isinstance(app.screen, LiveScreen)
    return app.screen


def caption(plot: TimeSeriesPlot) -> str:
    return str(plot.query_one(".caption", Static).render())


@pytest.mark.asyncio
async def test_the_plots_show_this_configuration_then_the_whole_run_on_t(cut_run, tmp_path):
    run_dir, t_cut = cut_run
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=alive)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(app, pilot, run_dir)
        state = app.follower.state
        power = live.query_one("#power-plot", TimeSeriesPlot)
        assert power.display and caption(power) == "power (W) · this config"
        assert caption(live.query_one("#memory-plot", TimeSeriesPlot)) == "inference RSS (MB) · this config"
        drawn = power.query_one(_Plot)._datasets[0]
        # seconds since this configuration started, one point per sample of it
        assert drawn.x.min() >= 0 and len(drawn.x) == len(state.series["power"].config.points()[0])
        assert "this config" in live.query_one("#tokens").border_title
        await pilot.press("t")
        assert caption(power) == "power (W) · whole run"
        assert "whole run" in live.query_one("#tokens").border_title
        whole = power.query_one(_Plot)._datasets[0]
        assert len(whole.x) > len(drawn.x) and whole.x.max() > drawn.x.max()
        await pilot.press("t")
        assert caption(power) == "power (W) · this config"


@pytest.mark.asyncio
async def test_a_plot_is_redrawn_only_when_its_series_moved(cut_run, tmp_path, monkeypatch):
    run_dir, t_cut = cut_run
    now = [t_cut + 2.0]
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: now[0], alive=alive)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(app, pilot, run_dir)
        plot = live.query_one("#temperature-plot", TimeSeriesPlot)
        draws = []
        real = plot._draw
        monkeypatch.setattr(plot, "_draw", lambda *a: (draws.append(a), real(*a)))
        live.redraw(True)
        assert draws == []  # nothing new since the last tick
        with (run_dir / "samples.jsonl").open("a") as f:
            f.write(json.dumps({"t": t_cut + 0.1, "phase": "decode", "temp_c_max": 60.0}) + "\n")
        now[0] += PLOT_PERIOD_S / 4  # the next tick: the texts are drawn, the plots wait their period
        app.tick()
        await pilot.pause()
        assert draws == [] and "60.0 C" in str(live.query_one("#temperature-text", Static).render())
        now[0] += PLOT_PERIOD_S  # a tick with nothing new: the reading that waited is drawn now
        app.tick()
        await pilot.pause()
        assert len(draws) == 1 and max(draws[0][1]) == 60.0


@pytest.mark.asyncio
async def test_a_redraw_draws_the_canvases_at_once_each_refreshed_once(cut_run, tmp_path, monkeypatch):
    """The curve is on the plot's canvases when show() returns, so it reaches the screen in the
    frame that follows, not a frame later; and a canvas asks for one repaint, not one per pixel."""
    from textual_hires_canvas import Canvas

    run_dir, t_cut = cut_run
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=alive)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(app, pilot, run_dir)
        plot = live.query_one("#temperature-plot", TimeSeriesPlot)
        canvas = plot.query_one("#plot", Canvas)
        before = ["".join(row) for row in canvas._buffer]
        refreshes = []
        real = Canvas.refresh


        def counted(self, *a, **k):  # a repaint asked for, not one held back by batch_refresh
            if not self._refreshes_pending:
                refreshes.append(self)
            return real(self, *a, **k)

        monkeypatch.setattr(Canvas, "refresh", counted)
        series = Series()
        for i in range(40):
            series.add(t_cut - 40 + i, 40.0 + (i % 7))  # a saw-tooth, unlike the recorded curve
        plot.show(series, t_cut - 40, "this config", t_cut)
        assert ["".join(row) for row in canvas._buffer] != before  # drawn now, before any frame
        assert len(refreshes) <= len(plot.query(Canvas))


@pytest.mark.asyncio
async def test_at_80x24_each_series_is_a_sparkline_with_its_unit_and_range(cut_run, tmp_path):
    run_dir, t_cut = cut_run
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=alive)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(app, pilot, run_dir)
        power = live.query_one("#power-plot", TimeSeriesPlot)
        assert power.display and power.size.height == 1
        assert str(power.query_one(".compact-caption", Static).render()).startswith("W 6.4–6.4, ")
        assert power.query_one(Sparkline).data
        assert not power.query_one(_Plot).display
        assert not live.query_one("#memory-plot", TimeSeriesPlot).display  # a minor plot, left out
        log = live.query_one("#log-pane")
        assert log.region.height >= 3 and log.region.bottom <= 23  # the log keeps its lines


@pytest.mark.asyncio
@pytest.mark.parametrize("values", [[6.400896, 6.400896000000001, 6.400896], [0.0, 0.0], [1e6, 1e6 + 1e-7]])
async def test_a_flat_series_or_one_flat_but_for_float_noise_is_drawn(values):
    from textual.app import App

    series = Series()
    for i, v in enumerate(values):
        series.add(float(i), v)

    class One(App):
        def compose(self):
            yield TimeSeriesPlot("power", id="p")

    app = One()
    async with app.run_test(size=(60, 10)) as pilot:  # a render error would end the app and raise here
        plot = app.query_one(TimeSeriesPlot)
        plot.show(series, 0.0, "this config")
        await pilot.pause()
        inner = plot.query_one(_Plot)
        assert inner._y_max - inner._y_min >= 1.0 - 1e-9  # a band around the value, not a zero range
        assert inner._y_min < values[0] < inner._y_max


def test_the_live_screen_does_not_bring_in_polars():
    """The live screen stays light (the console's RSS while following a run): polars is for results."""
    import subprocess
    import sys

    code = "import sys, edgetui.tui.screens.live; print('polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
