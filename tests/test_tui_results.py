"""The results screen on recorded runs of two boards (fixed data): merging, n/a for missing
values, Pareto marks, weights from the keyboard and typed, filters, sorting, failed rows, and a
bad results path shown inline."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from edgetui.tui.app import EdgeApp
from edgetui.tui.dialogs import InputScreen
from edgetui.tui.screens.results import FilterScreen, ResultsScreen, fmt_value
from edgetui.tui.widgets.frame_table import FrameTable

from fixtures.tui.scenes import copy_run
from result_rows import make_row, write_run


@pytest.fixture
def two_boards(tmp_path: Path, monkeypatch) -> list[str]:
    copy_run("run-jetson", tmp_path)
    copy_run("run-rpi5", tmp_path)
    monkeypatch.chdir(tmp_path)
    return ["run-jetson", "run-rpi5"]


async def settle(pilot) -> None:
    """Let the ranking worker finish and its answer be drawn."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def open_results(app: EdgeApp, pilot) -> ResultsScreen:
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ResultsScreen)
    return screen


def column(screen: ResultsScreen, key: str) -> list[str]:
    """A column's texts in the order the table shows the rows (whether or not it is scrolled into view)."""
    return screen.view.column_texts(key)


@pytest.mark.asyncio
async def test_two_boards_merge_into_one_ranking_with_missing_values_as_na(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        assert screen.ranking.sources == two_boards
        # the failed configuration is left out; with decode alone, the fastest is the Pareto front
        assert column(screen, "rank") == ["1★", "2", "3", "4", "5"]
        boards = column(screen, "board")
        assert {"Jetson Orin Nano Super Developer Kit (8 GB)", "Raspberry Pi 5 8 GB"} == set(boards)
        # the Pi run had no power reading: its energy per token is n/a, never 0
        pi = boards.index("Raspberry Pi 5 8 GB")
        assert column(screen, "c:energy_j_per_token")[pi] == "n/a"
        assert column(screen, "c:decode_tps")[0] != "n/a"
        policy = str(screen.query_one("#policy", Static).render())
        assert "normalisation:" in policy and "missing values:" in policy


@pytest.mark.asyncio
async def test_failed_rows_filters_and_sorting(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_results(app, pilot)
        await press(pilot, "i")
        statuses = column(screen, "status")
        assert len(statuses) == 6 and statuses.count("failed") == 1
        await press(pilot, "i")
        assert len(column(screen, "rank")) == 5

        await pilot.press("f")
        dialog = app.screen
        assert isinstance(dialog, FilterScreen)
        dialog.query_one("#filter-board", Select).value = "Raspberry Pi 5 8 GB"
        await press(pilot, "ctrl+s")
        assert column(screen, "board") == ["Raspberry Pi 5 8 GB"]
        assert screen.ranking.filters == {"board": ["Raspberry Pi 5 8 GB"]}
        await press(pilot, "f", "ctrl+r")
        assert len(column(screen, "rank")) == 5

        await press(pilot, "o")  # rank -> score
        assert screen.sort_key == "score"
        scores = [float(s) for s in column(screen, "score")]
        assert scores == sorted(scores, reverse=True)
        await press(pilot, "o")  # -> model
        assert screen.sort_key == "model"
        models = column(screen, "model")
        assert models == sorted(models)
        await press(pilot, "O")
        assert column(screen, "model") == sorted(models, reverse=True)


@pytest.mark.asyncio
async def test_weights_change_the_ranking_at_once_and_can_be_typed(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_results(app, pilot)
        # TTFT (lower is better) alone: the order follows time to first token
        await press(pilot, "j", "j", "space", "k", "k", "space")
        assert screen.ranking.weights == {"ttft_ms": 1.0}
        ttft = [float(v) for v in column(screen, "c:ttft_ms")]
        assert ttft == sorted(ttft)

        await pilot.press("w")
        dialog = app.screen
        assert isinstance(dialog, InputScreen)
        dialog.query_one(Input).value = "speed=3"
        await pilot.press("enter")
        assert 'unknown criterion "speed"' in str(dialog.query_one("#dialog-error", Static).render())
        dialog.query_one(Input).value = "decode_tps=3,rss_mb=1"
        await press(pilot, "enter")
        assert screen.ranking.weights == {"decode_tps": 3.0, "rss_mb": 1.0}
        headers = [h for _, h in screen.columns()]
        assert "decode ×3\ntok/s" in headers and "RSS ×1\nMB" in headers
        assert "decode ×3\ntok/s" in [c.header for c in screen.query_one("#ranking", FrameTable).columns]


@pytest.mark.asyncio
async def test_a_bad_results_path_is_told_inline(tmp_path):
    app = EdgeApp(results=[str(tmp_path / "nowhere")], profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_results(app, pilot)
        assert screen.ranking is None
        assert "no such results file or folder" in str(screen.query_one("#row-details", Static).render())
        assert screen.check_action("export", ()) is False


def test_values_are_formatted_without_inventing_zeros():
    assert fmt_value(None) == "n/a"
    assert fmt_value(float("nan")) == "n/a"
    assert fmt_value(-1.4e-17) == "0"
    assert fmt_value(0.09926) == "0.09926"
    assert fmt_value(124.452) == "124.5"
    assert fmt_value(1252.98) == "1,253"


@pytest.mark.asyncio
async def test_narrow_tables_show_whole_columns_and_scroll_by_column(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_results(app, pilot)
        await pilot.pause()
        table = screen.query_one("#ranking", FrameTable)
        shown = table.column_keys
        # the configuration (what differs between rows of one model) right after the model, and
        # the first criterion still in view: the names give it room
        assert shown[:5] == ["rank", "score", "model", "config", "c:decode_tps"]
        width = sum(c.render_width for c in table.columns)
        assert width <= table.scrollable_content_region.width  # nothing cut at the right edge
        assert screen.hidden_right > 0
        await press(pilot, "l")
        after = table.column_keys
        assert after[:2] == ["rank", "score"] and "model" not in after
        await press(pilot, "h")
        assert table.column_keys == shown


def demo_rows():
    """The demo's four configurations (two models at 1 and 2 threads), as the runner writes them."""
    rows = []
    for model, quant, speed in (("smollm2-135m-q4_1", "Q4_1", 60.0), ("gemma3-270m-q4_k_m", "Q4_K_M", 30.0)):
        for threads in (1, 2):
            rows.append(make_row(f"{model[:6]}-t{threads}", model=model, quant=quant, n_threads=threads,
                                 n_ctx=512, prompt_tokens=128, gen_tokens=128,
                                 decode_tps_mean=speed * (1 + threads) / 2, ttft_ms_mean=400.0 / threads))
    return rows


@pytest.mark.asyncio
async def test_the_configuration_column_tells_the_demo_rows_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "demo", demo_rows())
    app = EdgeApp(results=["demo"], profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_results(app, pilot)
        shown = list(zip(column(screen, "model"), column(screen, "config")))
        # the same model at 1 and 2 threads: without the configuration column these looked alike
        assert shown == [("smollm2-135m-q4_1", "t2"), ("smollm2-135m-q4_1", "t1"),
                         ("gemma3-270m-q4_k_m", "t2"), ("gemma3-270m-q4_k_m", "t1")]
        assert len(set(shown)) == 4
        assert screen.query_one("#ranking", FrameTable).column_keys[:4] == ["rank", "score", "model", "config"]


@pytest.mark.asyncio
async def test_a_reweight_on_thousands_of_rows_goes_to_the_top_and_says_where_the_row_went(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    n = 3000
    # decode speed and time to first token disagree: the order changes with the weights
    rows = [make_row(f"cfg{i:05d}", n_threads=1 + i % 8, decode_tps_mean=10.0 + (i * 7919) % n,
                     ttft_ms_mean=50.0 + (i * 104729) % n) for i in range(n)]
    write_run(tmp_path / "big", rows)
    app = EdgeApp(results=["big"], profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        table = screen.query_one("#ranking", FrameTable)
        assert table.row_count == n
        table.focus()
        table.move_cursor(1234)
        await pilot.press("down", "down")
        before = screen.highlighted_row()
        assert table.cursor_row == 1236
        screen.query_one("#weights").focus()
        await press(pilot, "j", "j", "space")  # time to first token counts too
        assert screen.ranking.weights == {"decode_tps": 1.0, "ttft_ms": 1.0}
        # the view goes to the top: the new best rows, not the old row at its new rank far down
        assert table.cursor_row == 0 and int(table.scroll_y) == 0
        assert screen.highlighted_row()["rank"] == 1
        # and the status line says where the row highlighted before went
        position = screen.view.position_of(screen.view.loaded.position(f"{before['source']}|{before['config_id']}"))
        rank = screen.view.row(position)["rank"]
        assert rank != 1
        subtitle = str(screen.query_one("#ranking-pane").border_subtitle)
        assert f"{before['config_id']} (highlighted before) now #{rank}" in subtitle


def test_figure_widths_are_found_without_formatting_every_row_and_never_cut_a_figure():
    import numpy as np
    import polars as pl

    from edgetui.tui.screens.results_view import figure_width

    rng = np.random.default_rng(11)
    for _ in range(200):
        scale = 10 ** rng.uniform(-11, 8)
        values = rng.uniform(-scale if rng.random() < 0.3 else 0, scale, int(rng.integers(1, 50)))
        widest = max(len(fmt_value(float(v))) for v in values)
        width = figure_width(pl.Series(values))
        assert width >= widest  # a figure is never cut
        if np.abs(values).min() >= 1:
            assert width == widest  # from 1 up, exactly its width
        else:
            assert width <= widest + 4
    assert figure_width(pl.Series([999.96, 12.0])) == len(fmt_value(999.96)) == len("1000.0")
    assert figure_width(pl.Series([None], dtype=pl.Float64)) == len("n/a")
    assert figure_width(pl.Series([None, 1.5], dtype=pl.Float64)) == len("1.50")


@pytest.mark.asyncio
async def test_the_weights_pane_asks_and_shows_only_what_is_ranked(two_boards, tmp_path):
    """The pane posts WeightsPane.Asked; the screen ranks and sets the pane's weights, or refuses
    and the pane goes on showing the ranked ones. A criterion switched off and on gets its weight back."""
    from edgetui.tui.widgets.weights_pane import WeightsPane

    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_results(app, pilot)
        pane = screen.query_one(WeightsPane)
        pane.ask("rss_mb", 3.0)  # what the pane's keys do: show the weights and post Asked
        assert pane.weights == {"decode_tps": 1.0, "rss_mb": 3.0} and screen.ranking.weights == {"decode_tps": 1.0}
        await settle(pilot)
        assert pane.weights == screen.ranking.weights == {"decode_tps": 1.0, "rss_mb": 3.0}
        pane.ask("rss_mb", 0)
        await press(pilot, "plus")  # decode x2
        assert pane.weights == screen.ranking.weights == {"decode_tps": 2.0}
        await press(pilot, "space")  # the only criterion off: refused, nothing changes
        assert pane.weights == screen.ranking.weights == {"decode_tps": 2.0}
        assert str(pane.table.get_cell("decode_tps", "on")) == "[x]"
        await press(pilot, "j", "space", "k", "space")  # prefill on, decode off
        assert pane.weights == screen.ranking.weights == {"prefill_tps": 1.0}
        await press(pilot, "space")  # decode back on, with the weight it had
        assert pane.weights == screen.ranking.weights == {"decode_tps": 2.0, "prefill_tps": 1.0}
