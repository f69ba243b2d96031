"""End to end through the console, on the real SmolLM2 model: queue the smoke profile, run it as a
detached runner, follow it live, land on the results screen by itself, change weights, and
export the ranking to TOML and CSV (asking before overwriting)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from edgetui.tomlread import tomllib
from edgetui.tui.app import EdgeApp
from edgetui.tui.dialogs import ConfirmScreen, InputScreen
from edgetui.tui.screens.live import LiveScreen
from edgetui.tui.screens.results import ResultsScreen
from edgetui.tui.widgets.frame_table import FrameTable

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 300


async def wait_for(pilot, predicate, timeout: float = RUN_TIMEOUT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.25)


async def press(pilot, *keys: str) -> None:
    """Each key, then the ranking worker's answer drawn."""
    for key in keys:
        await pilot.press(key)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def export(pilot, app, path: Path) -> None:
    await pilot.press("e")
    dialog = app.screen
    assert isinstance(dialog, InputScreen)
    assert dialog.query_one(Input).value.startswith("edgetui-ranking-")  # a default is offered
    dialog.query_one(Input).value = str(path)
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()  # the export is written by a worker
    await pilot.pause()


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.asyncio
async def test_queue_run_results_weights_and_export(tmp_path, smollm2_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("EDGETUI_RUNS_DIR", str(runs))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "smoke.toml").write_text((REPO / "profiles" / "smoke.toml").read_text())
    app = EdgeApp(profiles_dir=str(profiles))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("space", "r")
        await pilot.pause()
        live = app.screen
        assert isinstance(live, LiveScreen)
        follower = live.follower
        assert follower.run_dir.parent == runs and follower.process is not None

        # the live screen follows the runner's files until the queue ends, then the ranking opens
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen) and app.screen.ranking is not None,
                       what="the results screen")
        state = follower.state
        assert state.counts() == {"done": 1, "failed": 0, "skipped": 0}
        assert len(state.current.decode_tps) == 3 and all(v > 0 for v in state.current.decode_tps)
        assert follower.process.wait(timeout=30) == 0
        assert (follower.run_dir / "console_seen").exists()
        # this machine has no power sensor: the pane says n/a and why, never 0 W
        from edgetui.tui.screens.live import power_text

        assert str(power_text(state)).startswith("n/a: no power sensor")

        results = app.screen
        table = results.query_one("#ranking", FrameTable)
        assert table.row_count == 1
        assert results.ranking.weights == {"decode_tps": 1.0}
        policy = str(results.query_one("#policy", Static).render())
        assert "min-max per criterion" in policy and "missing value" in policy

        # weights: the cursor starts on decode; j to prefill, space counts it, + raises it to 2
        await press(pilot, "j", "space", "plus")
        assert results.ranking.weights == {"decode_tps": 1.0, "prefill_tps": 2.0}
        headers = [c.header for c in table.columns]
        assert "prefill ×2\ntok/s" in headers
        await press(pilot, "k", "minus")  # decode's weight to 0: off
        assert results.ranking.weights == {"prefill_tps": 2.0}

        toml_path = tmp_path / "ranking.toml"
        await export(pilot, app, toml_path)
        doc = tomllib.loads(toml_path.read_text())
        assert doc["ranking"]["weights"] == {"prefill_tps": 2.0}
        assert "min-max" in doc["ranking"]["normalisation"]
        [row] = doc["rows"]
        assert row["rank"] == 1 and row["config_id"] == state.current.config_id
        assert row["decode_tps_mean"] > 0

        csv_path = tmp_path / "ranking.csv"
        await export(pilot, app, csv_path)
        data = list(csv.DictReader(csv_path.open()))  # a plain CSV, its settings beside it
        assert len(data) == 1 and data[0]["rank"] == "1"
        meta = tomllib.loads((tmp_path / "ranking.csv.meta.toml").read_text())["ranking"]
        assert meta["weights"] == {"prefill_tps": 2.0}

        # the same path again: asked first; "n" keeps the file, "y" overwrites it
        await press(pilot, "j", "space")  # prefill is the only criterion left: switching it off is refused
        assert results.ranking.weights == {"prefill_tps": 2.0}
        await press(pilot, "k", "space")  # decode back on, at the weight it had
        before = toml_path.read_text()
        await export(pilot, app, toml_path)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert toml_path.read_text() == before
        await export(pilot, app, toml_path)
        await pilot.press("y")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert tomllib.loads(toml_path.read_text())["ranking"]["weights"] == {"decode_tps": 1.0, "prefill_tps": 2.0}
