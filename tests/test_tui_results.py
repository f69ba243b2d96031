"""The results screen on recorded runs of two boards (fixed data): merging, n/a for missing
values, Pareto marks, weights from the keyboard and typed, filters, sorting, failed rows, and a
bad results path shown inline."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select, Static

from edgetui.tui.app import EdgeApp
from edgetui.tui.dialogs import InputScreen
from edgetui.tui.screens.results import FilterScreen, ResultsScreen, fmt_value
from fixtures.tui.scenes import copy_run


@pytest.fixture
def two_boards(tmp_path: Path, monkeypatch) -> list[str]:
    copy_run("run-jetson", tmp_path)
    copy_run("run-rpi5", tmp_path)
    monkeypatch.chdir(tmp_path)
    return ["run-jetson", "run-rpi5"]


async def open_results(app: EdgeApp, pilot) -> ResultsScreen:
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ResultsScreen)
    return screen


def column(screen: ResultsScreen, key: str) -> list[str]:
    """A column's texts in the order the table shows the rows (whether or not it is scrolled into view)."""
    table = screen.query_one("#ranking", DataTable)
    return [screen.cells[row.key.value][key].text for row in table.ordered_rows]


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
        await pilot.press("i")
        statuses = column(screen, "status")
        assert len(statuses) == 6 and statuses.count("failed") == 1
        await pilot.press("i")
        assert len(column(screen, "rank")) == 5

        await pilot.press("f")
        dialog = app.screen
        assert isinstance(dialog, FilterScreen)
        dialog.query_one("#filter-board", Select).value = "Raspberry Pi 5 8 GB"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert column(screen, "board") == ["Raspberry Pi 5 8 GB"]
        assert screen.ranking.filters == {"board": ["Raspberry Pi 5 8 GB"]}
        await pilot.press("f", "ctrl+r")
        await pilot.pause()
        assert len(column(screen, "rank")) == 5

        await pilot.press("o")  # rank -> score
        assert screen.sort_key == "score"
        scores = [float(s) for s in column(screen, "score")]
        assert scores == sorted(scores, reverse=True)
        await pilot.press("o")  # -> model
        assert screen.sort_key == "model"
        models = column(screen, "model")
        assert models == sorted(models)
        await pilot.press("O")
        assert column(screen, "model") == sorted(models, reverse=True)


@pytest.mark.asyncio
async def test_weights_change_the_ranking_at_once_and_can_be_typed(two_boards, tmp_path):
    app = EdgeApp(results=two_boards, profiles_dir=str(tmp_path), attach=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_results(app, pilot)
        # TTFT (lower is better) alone: the order follows time to first token
        await pilot.press("j", "j", "space", "k", "k", "space")
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
        await pilot.press("enter")
        await pilot.pause()
        assert screen.ranking.weights == {"decode_tps": 3.0, "rss_mb": 1.0}
        headers = [str(c.label) for c in screen.query_one("#ranking", DataTable).columns.values()]
        assert "decode ×3\ntok/s" in headers and "RSS ×1\nMB" in headers


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
        table = screen.query_one("#ranking", DataTable)
        shown = [str(k.value) for k in table.columns]
        assert shown[:4] == ["rank", "score", "model", "c:decode_tps"]
        width = sum(c.get_render_width(table) for c in table.columns.values())
        assert width <= table.size.width  # nothing cut at the right edge
        assert screen.hidden_right > 0
        await pilot.press("l")
        after = [str(k.value) for k in table.columns]
        assert after[:2] == ["rank", "score"] and "model" not in after
        await pilot.press("h")
        assert [str(k.value) for k in table.columns] == shown
