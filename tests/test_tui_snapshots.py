"""Snapshots of each screen on fixed data (recorded runs, a frozen clock), at 80x24 and 200x50.
Update after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update` and
look at the SVGs in tests/__snapshots__/ before committing them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgetui.run.session import RunFollower
from edgetui.tui.app import EdgeApp

from fixtures.tui.scenes import HERE, alive, copy_run, cut_mid_decode

SIZES = [(80, 24), (200, 50)]
BAD = 'name = "typo"\nrepetitons = 3\n\n[[models]]\nname = "smollm2-135m-q4_1"\n'


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    profiles = tmp_path / "profiles"
    shutil.copytree(HERE / "profiles", profiles)
    (profiles / "typo.toml").write_text(BAD)
    return tmp_path


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_queue_screen(snap_compare, workdir, size):
    app = EdgeApp(profiles_dir="profiles", runs_dir=workdir / "runs", attach=False)
    # queue "small", then highlight the profile with an error so its message shows in the details
    assert snap_compare(app, press=["space", "j"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_live_screen(snap_compare, workdir, size):
    run_dir = copy_run("run-jetson", workdir / "runs", "20260301-101500-small")
    t_cut = cut_mid_decode(run_dir)
    app = EdgeApp(profiles_dir="profiles", runs_dir=workdir / "runs", attach=False, clock=lambda: t_cut + 2.0,
                  alive=alive)

    async def start(pilot):
        app.follower = RunFollower(run_dir, alive=alive, clock=app.clock)
        app.show_live()
        await pilot.pause()
        app.tick()
        await pilot.pause()

    assert snap_compare(app, run_before=start, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_results_screen(snap_compare, workdir, size):
    copy_run("run-jetson", workdir)
    copy_run("run-rpi5", workdir)
    app = EdgeApp(results=["run-jetson", "run-rpi5"], profiles_dir="profiles", attach=False)

    async def rank_with_ttft(pilot):
        # decode x2, and TTFT counted too: two criteria, so the Pareto marks mean something; each
        # key's ranking is made by the screen's worker, so wait for it before the next
        for key in (None, "plus", "j", "j", "space"):
            if key:
                await pilot.press(key)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

    assert snap_compare(app, run_before=rank_with_ttft, terminal_size=size)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_results_screen_with_the_trade_off_plot(snap_compare, workdir, size):
    copy_run("run-jetson", workdir)
    copy_run("run-rpi5", workdir)
    app = EdgeApp(results=["run-jetson", "run-rpi5"], profiles_dir="profiles", attach=False)

    async def plot(pilot):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()

    # decode against mean power; the Pi 5 row (no power sensor) is counted in the note
    assert snap_compare(app, run_before=plot, terminal_size=size)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_profile_builder(snap_compare, workdir, size, monkeypatch):
    from test_discover import write_gguf

    from edgetui.profiles import draft

    monkeypatch.setattr(draft, "default_threads", lambda: 4)  # a 4-core board, whatever runs the test
    write_gguf(workdir / "models" / "tiny-Q8_0.gguf")
    (workdir / "models" / "notes.gguf").write_text("not a model\n")
    app = EdgeApp(profiles_dir="profiles", runs_dir=workdir / "runs", attach=False,
                  model_folders=[("folder", workdir / "models")], ollama_url=None, available_bytes=8 * 10**9)

    async def build(pilot):
        await pilot.press("n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for ch in "pi-sweep":
            await pilot.press(ch)
        await pilot.press("tab", "space", "down", "space")  # both bundled models
        await pilot.pause()

    # the two bundled models picked, a GGUF found in ./models and a file that is not one; three
    # thread counts up to the 4 cores; the plan of 6 configurations with its estimates
    assert snap_compare(app, run_before=build, terminal_size=size)
