"""The live screen during a soak (a run folder written by hand, a frozen clock): the window's
progress, the decode rate per repetition and the hottest zone from the window's start, the moment
throttling began marked, and each cpufreq policy's clock in the temperature pane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Static

from edgetui.profiles.plan import Configuration
from edgetui.run.session import RunFollower
from edgetui.rundir.events import ConfigStart, Phase, RepEnd, RepStart, RunStart
from edgetui.rundir.follow import LiveState
from edgetui.tui.app import EdgeApp
from edgetui.tui.screens.live import LiveScreen, soak_text, temperature_text
from edgetui.tui.timeseries import TimeSeriesPlot

from fixtures.tui.scenes import RUNNER_PID, alive

SOAK_S = 60.0
W0 = 1000.0  # the window's start: the first counted repetition's rep_start
THROTTLE_AT = W0 + 7.0


def _config() -> dict:
    return Configuration(profile="soak", engine="llama_cpp", engine_url=None, model="smollm2", model_name=None,
                         model_path=None, n_threads=2, n_gpu_layers=0, n_ctx=128, n_batch=64, flash_attn="auto",
                         kv_cache_type="f16", prompt_tokens=8, prompt=None, gen_tokens=8, repetitions=3, warmup=1,
                         soak_s=SOAK_S).to_dict()


def _events(cfg: dict) -> list[dict]:
    cid = cfg["config_id"]
    evs = [RunStart(t=990.0, n_configs=1, pid=RUNNER_PID), ConfigStart(t=990.5, config_id=cid, index=1, n=1,
           describe="smollm2 soak60s", config=cfg), Phase(t=990.6, phase="load", config_id=cid),
           RepStart(t=998.0, config_id=cid, rep=0, warmup=True), RepEnd(t=1000.0, config_id=cid, rep=0, warmup=True,
                                                                      decode_tps=31.0)]
    for i in range(6):  # counted repetitions of 2 s each, slower from the fourth
        t = W0 + 2.0 * i
        evs.append(RepStart(t=t, config_id=cid, rep=i, warmup=False))
        evs.append(RepEnd(t=t + 2.0, config_id=cid, rep=i, warmup=False, decode_tps=30.0 if i < 3 else 20.0))
    evs.append(RepStart(t=W0 + 12.0, config_id=cid, rep=6, warmup=False))
    return [e.record() for e in evs]


def _samples() -> list[dict]:
    out = []
    for k in range(int((W0 + 12.5 - 995.0) * 10)):
        t = 995.0 + k / 10
        held = t >= THROTTLE_AT
        s = {"t": t, "phase": "decode", "temp_c_max": 60.0 + (t - 995.0), "temp_zone": "cpu-thermal",
             "throttled": held, "cpu_mhz": {"policy0": 1500.0 if held else 2400.0}, "cpu_max_mhz": {"policy0": 2400.0},
             "cpu_held": ["policy0"] if held else []}
        if held:
            s["throttle_source"] = ["cpufreq"]
        out.append(s)
    return out


def _state() -> LiveState:
    cfg = _config()
    state = LiveState({"configs": [cfg]})
    state.feed_events(_events(cfg))
    state.feed_samples(_samples())
    return state


def test_the_view_model_follows_the_window_and_the_first_throttled_sample():
    s = _state()
    cur = s.current
    assert cur is not None and cur.soak_s == SOAK_S and cur.soak_start_t == W0
    assert cur.throttle_t == pytest.approx(THROTTLE_AT)
    assert cur.soak_elapsed(W0 + 12.5) == pytest.approx(12.5)
    assert cur.soak_elapsed(W0 + 999) == SOAK_S  # never past the window
    ts, vs = s.series["rep_decode"].config.points()
    assert ts == [W0 + 2.0 * i for i in range(6)] and vs == [30.0] * 3 + [20.0] * 3
    assert s.eta(W0 + 12.5) == pytest.approx(SOAK_S - 12.5)  # the window, whatever the pace
    text = soak_text(s, W0 + 12.5).plain
    assert text == ("soak 12s of 1m00s (21%) · 6 repetitions · decode first 30.0, last 20.0 tok/s\n"
                    "throttling from 7s into the soak")
    log = "\n".join(line.text for line in s.log)
    assert "THROTTLING" in log and "(cpufreq: policy0 held down)" in log
    assert "rep 6/?: decode 20.0" in log and "/3" not in log  # not the profile's repetitions: what fits


def test_a_sample_between_two_repetitions_does_not_end_a_throttling():
    s = _state()
    assert s.throttle_events == 1
    t = W0 + 12.6
    held = {"phase": "decode", "throttled": True, "throttle_source": ["cpufreq"], "cpu_held": ["policy0"]}
    s.feed_samples([{"t": t, "phase": "between", "throttled": False}, {"t": t + 0.1, **held}])
    assert s.throttle_events == 1 and s.throttled_now
    s.feed_samples([{"t": t + 0.2, "phase": "decode", "throttled": False}, {"t": t + 0.3, **held}])
    assert s.throttle_events == 2  # a decode sample at full clock did end it


def test_the_temperature_pane_lists_each_policy_clock_and_marks_a_held_one():
    temp = temperature_text(_state())
    assert "CPU GHz 0: 1.50/2.40" in temp.plain
    assert any("red" in str(span.style) for span in temp.spans)


def _run_dir(tmp_path: Path) -> Path:
    run_dir = tmp_path / "runs" / "20260301-101500-soak"
    run_dir.mkdir(parents=True)
    cfg = _config()
    (run_dir / "run.json").write_text(json.dumps({"configs": [cfg], "status": "running", "runner_pid": RUNNER_PID,
                                                  "created": "2026-03-01T10:15:00+00:00", "sensors": []}))
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _events(cfg)))
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in _samples()))
    return run_dir


@pytest.mark.asyncio
async def test_the_soak_pane_shows_progress_and_both_curves_from_the_window_start(tmp_path):
    run_dir = _run_dir(tmp_path)
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: W0 + 12.5, alive=alive)
    async with app.run_test(size=(120, 40)) as pilot:
        app.follower = RunFollower(run_dir, alive=alive, clock=app.clock)
        app.show_live()
        await pilot.pause()
        app.tick()
        await pilot.pause()
        live = app.screen
        assert isinstance(live, LiveScreen)
        assert live.query_one("#soak").display
        progress = str(live.query_one("#progress-text", Static).render())
        assert "soak 12s of 1m00s · rep 7 · decode" in progress
        assert "throttling from" in str(live.query_one("#soak-text", Static).render())
        decode = live.query_one("#soak-decode-plot", TimeSeriesPlot)
        temp = live.query_one("#soak-temp-plot", TimeSeriesPlot)
        assert decode.display and temp.display
        series, origin, scope, _end, mark = decode._last or (None,) * 5
        assert origin == W0 and mark == pytest.approx(THROTTLE_AT) and scope == "soak window"
        assert temp._last is not None and temp._last[1] == W0
        assert "CPU GHz" in str(live.query_one("#temperature-text", Static).render())


@pytest.mark.asyncio
async def test_the_soak_pane_is_hidden_without_a_soak(tmp_path):
    run_dir = _run_dir(tmp_path)
    manifest = json.loads((run_dir / "run.json").read_text())
    manifest["configs"][0]["soak_s"] = None
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    for e in events:
        if e["ev"] == "config_start":
            e["config"]["soak_s"] = None
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: W0 + 12.5, alive=alive)
    async with app.run_test(size=(120, 40)) as pilot:
        app.follower = RunFollower(run_dir, alive=alive, clock=app.clock)
        app.show_live()
        await pilot.pause()
        app.tick()
        await pilot.pause()
        assert not app.screen.query_one("#soak").display
        assert "rep 7/3" in str(app.screen.query_one("#progress-text", Static).render())
