"""The runner killed (SIGKILL, runner and model child together) under the console's eyes: the live
screen says it stopped, with the end of its log; `u` starts a runner that continues from the first
repetition not on disk; the queue ends with every repetition recorded once."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from edgetui.tui.app import EdgeApp
from edgetui.tui.screens.live import LiveScreen
from edgetui.tui.screens.results import ResultsScreen

from conftest import smollm2_profile

PROFILE = smollm2_profile("resume", description="two configurations, long enough to be killed in the middle",
                          prompt_tokens=32, gen_tokens=64)


async def wait_for(pilot, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.2)


def reps_on_disk(run_dir: Path) -> list[tuple[str, int]]:
    path = run_dir / "repetitions.jsonl"
    if not path.exists():
        return []
    return [(r["config_id"], r["rep"]) for r in map(json.loads, path.read_text().splitlines()) if r]


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_killed_runner_is_shown_and_u_resumes_without_duplicates(tmp_path, smollm2_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("EDGETUI_RUNS_DIR", str(runs))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "resume.toml").write_text(PROFILE)
    app = EdgeApp(profiles_dir=str(profiles))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("space", "r")
        await pilot.pause()
        live = app.screen
        assert isinstance(live, LiveScreen)
        f = live.follower
        await wait_for(pilot, lambda: len(reps_on_disk(f.run_dir)) >= 2, 240, "two repetitions on disk")
        os.killpg(f.process.pid, signal.SIGKILL)  # the runner and its model child, as an OOM kill of all would
        await wait_for(pilot, lambda: f.died is not None, 30, "the console to see the runner gone")
        assert "signal 9" in f.died or "SIGKILL" in f.died
        assert live.check_action("resume", ()) is True
        before = reps_on_disk(f.run_dir)

        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen) and app.screen.ranking is not None,
                       300, "the resumed queue to end")
        after = reps_on_disk(f.run_dir)
        assert after[: len(before)] == before  # nothing recorded was lost or rewritten
        assert len(after) == len(set(after)) == 6  # 2 configurations x 3 repetitions, none twice
        rows = json.loads((f.run_dir / "results.json").read_text())["rows"]
        assert [r["status"] for r in rows] == ["done", "done"]
        assert app.screen.query_one("#ranking").row_count == 2
