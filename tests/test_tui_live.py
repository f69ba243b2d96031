"""The live screen on a recorded run cut mid-way (fixed data, frozen clock): panes, keys that
write control.json, no redraw while hidden or behind a dialog, a dead runner shown as such."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import RichLog, Static

from edgetui.run.session import RunFollower
from edgetui.tui.app import EdgeApp
from edgetui.tui.dialogs import ConfirmScreen, HelpScreen
from edgetui.tui.screens.live import LiveScreen, power_text, temperature_text
from edgetui.tui.timeseries import TimeSeriesPlot

from fixtures.tui.scenes import alive, copy_run, cut_mid_decode


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


def text(screen, widget_id: str) -> str:
    return str(screen.query_one(f"#{widget_id}", Static).render())


@pytest.mark.asyncio
async def test_panes_show_progress_rates_power_temperature_memory_and_the_failure(cut_run, tmp_path):
    run_dir, t_cut = cut_run
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=alive)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await open_live(app, pilot, run_dir)
        progress = text(live, "progress-text")
        assert "config 4/5" in progress and "rep 2/2" in progress
        assert "done 2" in progress and "failed 1" in progress
        assert "ETA ~" in progress
        decode = text(live, "decode-text")
        assert decode.startswith("decode  ") and "now" in decode and "mean" in decode
        power = text(live, "power-text")
        assert "6.40 W now" in power and "jetson:VDD_IN (module, measured)" in power
        # the other rails, not the total twice
        assert "VDD_CPU_GPU_CV 1.78 · VDD_SOC 1.42 W" in power and "VDD_IN 6.40" not in power
        temp = text(live, "temperature-text")
        assert "48.6 C" in temp and "tj-thermal" in temp and "not throttled" in temp
        memory = text(live, "memory-text")
        assert "inference RSS" in memory and "MB" in memory and "GB used" in memory
        log = live.query_one("#log", RichLog)
        logged = "\n".join(str(strip.text) for strip in log.lines)
        assert "FAILED: EngineError: cannot connect" in logged
        assert live.query_one("#power-plot", TimeSeriesPlot).display


@pytest.mark.asyncio
async def test_pause_skip_and_abort_write_control_json(cut_run, tmp_path):
    from edgetui.rundir.control import read_request

    run_dir, t_cut = cut_run
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=alive)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_live(app, pilot, run_dir)
        control = run_dir / "control.json"
        await pilot.press("p")
        assert read_request(control).pause is True
        await pilot.press("p")
        assert read_request(control).pause is False
        await pilot.press("s")
        assert read_request(control).skip == app.follower.state.current.config_id
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert read_request(control).abort is False
        await pilot.press("x", "y")
        assert read_request(control).abort is True


@pytest.mark.asyncio
async def test_nothing_redraws_behind_a_dialog_or_while_hidden(cut_run, tmp_path, monkeypatch):
    run_dir, t_cut = cut_run
    now = [t_cut + 2.0]
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: now[0], alive=alive)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(app, pilot, run_dir)
        calls = []
        real = live.redraw
        monkeypatch.setattr(live, "redraw", lambda changed=True: (calls.append(changed), real(changed)))
        app.tick()
        assert calls  # on top: drawn
        calls.clear()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        with (run_dir / "events.jsonl").open("a") as f:
            f.write(json.dumps({"ev": "phase", "phase": "cooldown", "seconds": 1, "t": t_cut + 3}) + "\n")
        now[0] += 5
        app.tick()
        assert calls == []  # read, but not drawn
        assert app.follower.state.phase == "cooldown"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is live and "cooldown" in text(live, "progress-text")  # drawn again on return


@pytest.mark.asyncio
async def test_a_read_that_arrives_while_the_panes_are_torn_down_draws_nothing_and_raises_nothing(cut_run, tmp_path):
    """Quitting the console while a run is followed: the worker's last read may be handled after
    the live screen's panes are gone (seen as NoMatches ending the console with a traceback)."""
    run_dir, t_cut = cut_run
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=alive)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await open_live(app, pilot, run_dir)
        await live.query("#progress, #grid").remove()  # what the screen's teardown does first
        live.redraw()  # no NoMatches
        await pilot.pause()
        assert app.is_running and app.screen is live


@pytest.mark.asyncio
async def test_a_dead_runner_is_shown_with_its_log_and_resume_is_offered(cut_run, tmp_path):
    run_dir, t_cut = cut_run
    (run_dir / "runner.log").write_text("loading models\nKilled\n")
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=lambda pid: False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.follower = RunFollower(run_dir, alive=lambda pid: False, clock=app.clock)
        app.show_live()
        await pilot.pause()
        app.tick()
        await pilot.pause()
        live = app.screen
        assert app.follower.died is not None
        progress = text(live, "progress-text")
        assert "RUNNER STOPPED" in progress and "u resumes" in progress
        assert live.check_action("resume", ()) is True
        assert live.check_action("pause", ()) is False and live.check_action("skip", ()) is False
        logged = "\n".join(str(strip.text) for strip in live.query_one("#log", RichLog).lines)
        assert "Killed" in logged


def test_pane_texts_say_na_with_the_reason_not_zero():
    from edgetui.rundir.follow import LiveState

    s = LiveState({"power_source": "no power sensor (hwmon: no hwmon chips; rapl: no RAPL zones)",
                   "sensors": [{"backend": "thermal", "detected": False, "reason": "no thermal zones"},
                               {"backend": "system", "detected": True, "reason": "psutil"}]})
    s.feed_sample({"t": 1, "phase": "idle", "power_w": None, "temp_c_max": None, "throttled": None, "v": {}})
    power = str(power_text(s))
    assert power.startswith("n/a: no power sensor") and "rapl: no RAPL zones" in power and "0.00 W" not in power
    temp = str(temperature_text(s))
    assert temp.startswith("n/a: no temperature sensor") and "thermal: no thermal zones" in temp
    assert "throttling: n/a" in temp


@pytest.mark.asyncio
async def test_a_followed_run_is_read_by_a_worker_thread_and_drawn_on_the_loop(cut_run, tmp_path):
    import threading

    from edgetui.tui.messages import RunRead

    run_dir, t_cut = cut_run
    app = EdgeApp(profiles_dir=str(tmp_path), runs_dir=run_dir.parent, clock=lambda: t_cut + 2.0, alive=alive)
    readers: set[str] = set()
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):  # attached at start-up: the worker reads, the app folds and draws
            await pilot.pause(0.05)
            if isinstance(app.screen, LiveScreen) and "config 4/5" in text(app.screen, "progress-text"):
                break
        live = app.screen
        assert isinstance(live, LiveScreen) and "config 4/5" in text(live, "progress-text")
        f = app.follower
        read = f.read

        def watched_read():
            readers.add(threading.current_thread().name)
            return read()

        f.read = watched_read
        with (run_dir / "events.jsonl").open("a") as out:
            out.write(json.dumps({"ev": "warning", "message": "written after the attach", "t": t_cut + 1}) + "\n")
        for _ in range(100):  # (a read already under way when read was wrapped may bring the line first)
            await pilot.pause(0.05)
            if readers and any("written after the attach" in line.text for line in f.state.log):
                break
        assert any("written after the attach" in line.text for line in f.state.log)
        assert readers and threading.main_thread().name not in readers  # never read on the event loop
    assert RunRead(f).can_replace(RunRead(f))  # a pending read of the same run is superseded...
    other = RunFollower(run_dir, alive=alive)
    assert not RunRead(other).can_replace(RunRead(f))  # ...never one of another run
