"""The console's fleet pane (`edgetui --fleet INVENTORY`), driven with the keyboard at 100x30:
one row per board before and during a run, read from a fleet run folder (here: two recorded run
folders standing as mirrors, no SSH), `r` starting the detached controller, and enter opening a
board's live screen, whose resume key refuses to start a local runner on a mirror."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from edgetui.fleet.layout import FleetDir
from edgetui.tui.app import EdgeApp
from edgetui.tui.screens import fleet as fleet_screen
from edgetui.tui.screens.live import LiveScreen
from edgetui.tui.screens.queue import QueueScreen

REPO = Path(__file__).resolve().parent.parent
RECORDED = REPO / "tests" / "fixtures" / "tui"


def fleet_dir(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    fd = FleetDir(root)
    root.mkdir()
    fd.write_manifest({"kind": "edgetui-fleet", "hosts": ["pi5", "orin", "gone"], "profiles": [],
                       "inventory": str(tmp_path / "hosts.ini"), "run_name": "x"})
    shutil.copytree(RECORDED / "run-rpi5", root / "pi5")
    shutil.copytree(RECORDED / "run-jetson", root / "orin")
    # orin is still measuring: its run has not ended yet
    manifest = json.loads((root / "orin" / "run.json").read_text())
    (root / "orin" / "run.json").write_text(json.dumps({**manifest, "status": "running"}))
    events = (root / "orin" / "events.jsonl").read_text().splitlines(keepends=True)
    (root / "orin" / "events.jsonl").write_text("".join(e for e in events if '"run_end"' not in e
                                                        and '"config_end"' not in e))
    fd.set_host("pi5", "collected", "finished on the board: 1 of 1 configurations done", say=False,
                remote_status="finished", clock_offset=0.0, last_seen=time.time())
    fd.set_host("orin", "following", "connected", say=False, remote_status="running", clock_offset=0.0,
                last_seen=time.time())
    fd.set_host("gone", "failed", "unreachable: Connection refused", say=False)
    return root


def make_app(tmp_path: Path) -> EdgeApp:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(REPO / "profiles" / "smoke.toml", profiles / "smoke.toml")
    return EdgeApp(profiles_dir=str(profiles), runs_dir=tmp_path / "runs", attach=False,
                   fleet=str(tmp_path / "hosts.ini"), fleet_hosts=["pi5", "orin", "gone"])


def cells(table: DataTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


@pytest.mark.asyncio
async def test_one_row_per_board_before_and_during_the_run(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        pane = screen.query_one(fleet_screen.FleetPane)
        table = pane.query_one("#fleet", DataTable)
        assert [str(k.value) for k in table.rows] == ["pi5", "orin", "gone"]
        assert cells(table, "gone")[2] == "not started"
        pane.follow(fleet_dir(tmp_path))
        await pilot.pause()
        pi5, orin, gone = cells(table, "pi5"), cells(table, "orin"), cells(table, "gone")
        assert pi5[2] == "collected" and "Raspberry Pi 5" in pi5[1] and pi5[3] == "1/1"
        assert orin[2] == "following" and "Jetson" in orin[1]
        assert gone[2] == "failed" and gone[3] == ""  # no run: no progress, not a zero
        assert pi5[5] == "n/a" or float(pi5[5]) >= 0  # power: a reading or n/a, never an invented zero


@pytest.mark.asyncio
async def test_enter_opens_the_boards_live_screen_and_resume_stays_the_fleets(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.screen.query_one(fleet_screen.FleetPane)
        root = fleet_dir(tmp_path)
        pane.follow(root)
        await pilot.pause()
        table = pane.query_one("#fleet", DataTable)
        table.focus()
        table.move_cursor(row=1)  # orin
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LiveScreen)
        assert app.follower is not None and app.follower.run_dir == root / "orin"
        assert getattr(app.follower, "remote", False)
        with pytest.raises(OSError, match="fleet resume"):
            app.follower.resume()
        await pilot.press("escape")
        table.move_cursor(row=2)  # gone: nothing to open
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)


@pytest.mark.asyncio
async def test_r_starts_the_controller_detached_with_the_queue(tmp_path, monkeypatch):
    started = []

    class Proc:
        pid = 4242

        def poll(self):
            return None

    def fake_launch(inventory, profiles, out):
        started.append((inventory, [Path(p).name for p in profiles], out))
        FleetDir(out).root.mkdir(parents=True, exist_ok=True)
        return Proc()

    monkeypatch.setattr(fleet_screen, "launch_controller", fake_launch)
    app = make_app(tmp_path)
    app.fleet_out = str(tmp_path / "fleet-out")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("space")  # queue smoke
        await pilot.press("r")
        await pilot.pause()
        assert started == [(str(tmp_path / "hosts.ini"), ["smoke.toml"], tmp_path / "fleet-out")]
        pane = app.screen.query_one(fleet_screen.FleetPane)
        assert pane.fleet_dir == tmp_path / "fleet-out"
        await pilot.press("r")  # the fleet run is in progress: not a second one
        await pilot.pause()
        assert len(started) == 1


def test_launch_controller_is_a_detached_headless_fleet_run(tmp_path, monkeypatch):
    calls = []

    def fake_popen(cmd, **kw):
        calls.append((cmd, kw))
        return object()

    monkeypatch.setattr(fleet_screen.subprocess, "Popen", fake_popen)
    fleet_screen.launch_controller("hosts.ini", [Path("profiles/smoke.toml")], tmp_path / "f")
    cmd, kw = calls[0]
    assert cmd[2:5] == ["edgetui", "fleet", "run"] and cmd[-3:] == ["--out", str(tmp_path / "f"), "--headless"]
    assert kw["start_new_session"] and (tmp_path / "f" / "controller.log").exists()
    assert json.dumps(cmd)  # plain strings only


@pytest.mark.asyncio
async def test_the_results_screen_shows_each_rows_inventory_host(tmp_path):
    from edgetui.fleet.merge import merge
    from edgetui.tui.screens.results import ResultsScreen

    root = fleet_dir(tmp_path)
    shutil.copytree(RECORDED / "run-rpi5", root / "pi5-twin")  # an identical board, another host
    merge(root, ["pi5", "pi5-twin", "orin"])
    app = EdgeApp(results=[str(root)], runs_dir=tmp_path / "runs", attach=False)
    async with app.run_test(size=(140, 30)) as pilot:
        for _ in range(50):  # the ranking is made in a worker
            await pilot.pause(0.1)
            screen = app.screen
            if isinstance(screen, ResultsScreen) and screen.view is not None:
                break
        assert isinstance(screen, ResultsScreen) and screen.view is not None
        assert ("fleet_host", "host\n") in screen.columns()
        from collections import Counter

        shown = Counter(screen.view.column_texts("fleet_host"))
        rows = json.loads((root / "results.json").read_text())["rows"]
        assert shown == Counter(r["fleet_host"] for r in rows if r["status"] == "done")
        assert shown["pi5"] == shown["pi5-twin"] >= 1  # the twins stay apart, row for row
