"""The results screen's trade-off plot (g): the same figure as `edgetui plot` (ranking.plotdata),
its note on rows without a value, the highlighted row marked, axes chosen among the declared
criteria, and a plot that follows the ranking (filter, weights, merged boards)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Static

from edgetui.ranking.criteria import CRITERIA
from edgetui.ranking.plotdata import row_key
from edgetui.tui.app import EdgeApp
from edgetui.tui.dialogs import HelpScreen
from edgetui.tui.palette import ScreenActions
from edgetui.tui.screens.results import ResultsScreen
from edgetui.tui.screens.results_view import criterion_key
from edgetui.tui.tradeoff import HIGHLIGHT, TradeOffPlot, _Plot, reduce_to_cells, with_values
from edgetui.tui.widgets.frame_table import FrameTable

from fixtures.tui.scenes import copy_run
from result_rows import make_row, write_run


@pytest.fixture
def two_boards(tmp_path: Path, monkeypatch) -> list[str]:
    copy_run("run-jetson", tmp_path)
    copy_run("run-rpi5", tmp_path)  # recorded without a power sensor
    monkeypatch.chdir(tmp_path)
    return ["run-jetson", "run-rpi5"]


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def open_results(app: EdgeApp, pilot) -> ResultsScreen:
    await settle(pilot)
    assert isinstance(app.screen, ResultsScreen)
    return app.screen


def plot_of(screen: ResultsScreen) -> TradeOffPlot:
    return screen.query_one("#plot", TradeOffPlot)


def legend(screen: ResultsScreen) -> str:
    return str(plot_of(screen).query_one(".legend", Static).render())


@pytest.mark.asyncio
async def test_g_shows_the_plot_with_its_note_on_rows_without_power_and_hides_it_again(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        assert not plot_of(screen).display
        await press(pilot, "g")
        plot = plot_of(screen)
        assert plot.display and screen.query_one("#ranking", FrameTable).display  # below a short table
        data = screen.plot_data
        assert (data.x.key, data.y.key) == ("decode_tps", "power_w")
        # the Pi 5 run has no power: its row is counted, not drawn at 0 W
        assert data.n_rows == 5 and len(data) == 4 and not np.any(data.ys == 0)
        assert plot.note == "1 row without mean power not shown"
        assert "mean power (W), lower is better" in str(plot.query_one(".y-title", Static).render())
        assert plot.query_one(_Plot)._x_label == "decode (tok/s), higher is better →"
        assert "Pareto front (↑ decode, ↓ mean power)" in legend(screen) and "cm³" in legend(screen)
        await press(pilot, "g")
        assert not plot_of(screen).display and screen.plot_data is None


@pytest.mark.asyncio
async def test_the_highlighted_row_is_marked_and_follows_the_cursor(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        await press(pilot, "g")
        first = screen.highlighted_row()
        assert screen.plot_data.highlighted.key == row_key(first["source"], first["config_id"])
        drawn = plot_of(screen).query_one(_Plot)._datasets[-1]
        assert drawn.marker == HIGHLIGHT and drawn.x[0] == pytest.approx(first["decode_tps_mean"])
        screen.query_one("#ranking", FrameTable).focus()
        # down to the Pi 5 row, which has no power: not plotted, and the plot says so
        boards = [screen.view.row(i)["board"] for i in range(5)]
        for _ in range(boards.index("Raspberry Pi 5 8 GB")):
            await press(pilot, "j")
        assert screen.highlighted_row()["board"] == "Raspberry Pi 5 8 GB"
        assert screen.plot_data.highlighted is None
        assert "the highlighted row is not plotted" in plot_of(screen).note
        assert all(d.marker != HIGHLIGHT for d in plot_of(screen).query_one(_Plot)._datasets)


@pytest.mark.asyncio
async def test_x_and_y_step_through_the_declared_criteria(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        assert screen.check_action("plot_axis", ("x",)) is False  # only with the plot shown
        await press(pilot, "g")
        keys = list(CRITERIA)
        usable = with_values(screen.loaded.values, keys, criterion_key)
        assert "power_w" in usable and set(usable) < set(keys)  # some criteria have no value in these runs
        seen_x = []
        for _ in range(len(keys)):
            await press(pilot, "x")
            seen_x.append(screen.plot_data.x.key)
        # every criterion with a value but the one on y, then round again; those without are stepped over
        assert set(seen_x) == set(usable) - {"power_w"} and screen.plot_data.y.key == "power_w"
        await press(pilot, "y")
        after = keys[keys.index("power_w") + 1:] + keys[:keys.index("power_w")]
        assert screen.plot_data.y.key == next(k for k in after if k in usable and k != screen.plot_data.x.key)
        assert screen.plot_data.y.key != screen.plot_data.x.key


@pytest.mark.asyncio
async def test_without_a_power_sensor_the_plot_opens_on_a_criterion_that_has_values(tmp_path, monkeypatch):
    copy_run("run-rpi5", tmp_path)  # recorded without a power sensor: mean power is empty
    monkeypatch.chdir(tmp_path)
    app = EdgeApp(results=["run-rpi5"], profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        keys = list(CRITERIA)
        usable = with_values(screen.loaded.values, keys, criterion_key)
        assert "power_w" not in usable
        await press(pilot, "g")
        data = screen.plot_data
        assert data.x.key == "decode_tps"
        assert data.y.key == next(k for k in keys if k in usable and k != "decode_tps")  # the first with values
        assert len(data) == 1  # the run's one row, drawn
        for _ in range(len(keys)):
            await press(pilot, "y")
            assert screen.plot_data.y.key in usable and len(screen.plot_data) == 1


@pytest.mark.asyncio
async def test_the_plot_follows_a_filter_and_a_weight_change(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        await press(pilot, "g")
        before = screen.plot_data
        screen.filters = {"board": "Raspberry Pi 5 8 GB"}
        screen.rerank()
        await settle(pilot)
        assert screen.plot_data is not before and screen.plot_data.n_rows == 1 and len(screen.plot_data) == 0
        assert plot_of(screen).note.startswith("1 row without mean power not shown")
        screen.filters = {}
        screen.rerank()
        await settle(pilot)
        assert len(screen.plot_data) == 4
        # a weight change re-ranks: the plot is drawn again from the new ranking, with its new best row
        await press(pilot, "j", "j", "space")  # TTFT counted too
        assert screen.plot_data.n_rows == 5 and screen.ranking.weights.get("ttft_ms") == 1
        first = screen.highlighted_row()
        assert screen.plot_data.highlighted_key == row_key(first["source"], first["config_id"])


@pytest.mark.asyncio
async def test_merged_boards_get_a_marker_each_with_their_volume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "a", [make_row("x", board="Pi 5", volume_cm3=81.0, decode_tps_mean=10.0, power_w_mean=6.0)])
    write_run(tmp_path / "b", [make_row("x", board="Orin", volume_cm3=690.0, decode_tps_mean=30.0, power_w_mean=12.0),
                               make_row("y", board="Orin", volume_cm3=690.0, decode_tps_mean=20.0, power_w_mean=14.0)])
    app = EdgeApp(results=["a", "b"], profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_results(app, pilot)
        await press(pilot, "g")
        assert screen.has_class("plot-beside")
        text = legend(screen)
        assert "Pi 5 (81 cm³)" in text and "Orin (690 cm³)" in text
        assert [p.config_id for p in screen.plot_data.front_points] == ["x", "x"]  # one per board
        assert plot_of(screen).note == ""  # every row plotted: no note


@pytest.mark.asyncio
async def test_help_and_the_palette_offer_the_plot(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "[results.plot]" in str(app.screen.query_one("VerticalScroll Static", Static).render())
        await press(pilot, "escape")
        names = [hit.text async for hit in ScreenActions(screen).discover()]
        assert "Plot" in names and "Plot x" not in names  # the axes only once the plot is shown
        hits = [hit async for hit in ScreenActions(screen).search("plot")]
        await hits[0].command()
        await settle(pilot)
        assert plot_of(screen).display
        names = [hit.text async for hit in ScreenActions(screen).discover()]
        assert {"Plot x", "Plot y"} <= set(names)


def test_one_point_per_cell_is_kept_for_large_rankings():
    rng = np.random.default_rng(1)
    xs, ys = rng.random(100_000), rng.random(100_000)
    keep = reduce_to_cells(xs, ys, (0.0, 1.0, 0.0, 1.0), (80, 20))
    assert 0 < keep.size <= 81 * 21
    cells = {(int(x * 80), int(y * 20)) for x, y in zip(xs, ys)}
    assert {(int(xs[i] * 80), int(ys[i] * 20)) for i in keep} == cells  # no cell left empty


def test_axis_limits_of_a_range_flat_but_for_float_noise_have_a_width():
    from edgetui.tui.axes import padded

    lo, hi = padded(6.400896, 6.400896000000001, 0.06)
    assert hi - lo >= 0.5 and lo < 6.400896 < hi
    assert padded(0.0, 10.0, 0.06) == pytest.approx((-0.6, 10.6))


@pytest.mark.asyncio
async def test_the_plot_follows_ranking_changed_and_row_changed_by_itself(two_boards, tmp_path, monkeypatch):
    """The plot pane is bound to the screen's ranking and highlighted row: the messages alone move
    it, with nothing of the screen drawing it (the screen's old draw_plot is gone)."""
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        await press(pilot, "g")
        plot = plot_of(screen)
        assert not hasattr(screen, "draw_plot")
        view = screen.view
        # a ranking with another order: the plot builds its figure again from the message's view
        second = next(view.row(i) for i in range(1, 5) if view.row(i)["power_w_mean"] is not None)
        screen.post_message(ResultsScreen.RankingChanged(view, second))
        await settle(pilot)
        assert plot.view is view and plot.data.highlighted_key == row_key(second["source"], second["config_id"])
        drawn = plot.query_one(_Plot)._datasets[-1]
        assert drawn.marker == HIGHLIGHT and drawn.x[0] == pytest.approx(second["decode_tps_mean"])
        # another row under the cursor: only the mark moves (the same figure, re-marked)
        first, data = view.row(0), plot.data
        screen.post_message(ResultsScreen.RowChanged(first))
        await settle(pilot)
        assert plot.data is data and data.highlighted_key == row_key(first["source"], first["config_id"])
        assert plot.query_one(_Plot)._datasets[-1].x[0] == pytest.approx(first["decode_tps_mean"])
        # no row: no mark
        screen.post_message(ResultsScreen.RowChanged(None))
        await settle(pilot)
        assert all(d.marker != HIGHLIGHT for d in plot.query_one(_Plot)._datasets)
