"""An SSH drop, as a person would meet it: the console runs a queue in a terminal (tmux), the
terminal goes away mid-queue (the tmux session is killed: the console gets its hang-up), the
queue goes on to its end, and the next `edgetui` attaches to the run or shows its results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgetui.rundir.state import runner_alive as pid_alive  # a live edgetui runner with this pid (not a zombie)

from conftest import smollm2_profile

pytestmark = [pytest.mark.model, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

PROFILE = smollm2_profile("drop", description="two short configurations", prompt_tokens=32, gen_tokens=64)


class Tmux:
    def __init__(self, name: str, socket: Path) -> None:
        self.name = name
        self.base = ["tmux", "-S", str(socket)]

    def start(self, command: str, size: tuple[int, int] = (100, 30)) -> None:
        subprocess.run([*self.base, "new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]),
                        command], check=True)

    def screen(self) -> str:
        out = subprocess.run([*self.base, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def pane_pid(self) -> int:
        out = subprocess.run([*self.base, "list-panes", "-t", self.name, "-F", "#{pane_pid}"], capture_output=True,
                             text=True, check=True)
        return int(out.stdout.split()[0])

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-session", "-t", self.name], capture_output=True)

    def kill_server(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def the_run(runs: Path) -> Path | None:
    dirs = [d for d in runs.glob("*") if (d / "run.json").exists()]
    return dirs[0] if dirs else None


def manifest(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def mid_queue(runs: Path) -> Path | None:
    run_dir = the_run(runs)
    if run_dir is None or manifest(run_dir).get("status") != "running":
        return None
    events = (run_dir / "events.jsonl").read_text() if (run_dir / "events.jsonl").exists() else ""
    return run_dir if '"ev":"rep_end"' in events else None


@pytest.fixture
def setting(tmp_path, smollm2_path):
    runs = tmp_path / "runs"
    profile = tmp_path / "drop.toml"
    profile.write_text(PROFILE)
    tmux = Tmux("edgetui-drop", tmp_path / "tmux.sock")
    env = f"env EDGETUI_RUNS_DIR={runs} PYTHONPATH={Path(__file__).resolve().parents[1] / 'src'}"
    yield runs, profile, tmux, env
    tmux.kill_server()
    run_dir = the_run(runs)
    pid = manifest(run_dir).get("runner_pid") if run_dir else None
    if pid and pid_alive(pid):  # a failed test must not leave a runner behind
        os.kill(pid, 9)


def drop_mid_queue(runs: Path, profile: Path, tmux: Tmux, env: str) -> tuple[Path, int]:
    tmux.start(f"cd {profile.parent} && {env} {sys.executable} -m edgetui run {profile}")
    run_dir = wait_until(lambda: mid_queue(runs), 240, "the queue to be under way")
    console_pid = tmux.pane_pid()
    wait_until(lambda: "Progress" in tmux.screen(), 30, "the live screen")
    tmux.kill()  # the terminal goes away: the console gets SIGHUP
    wait_until(lambda: not pid_alive_any(console_pid), 30, "the console to end with its terminal")
    runner = manifest(run_dir)["runner_pid"]
    assert pid_alive(runner), "the runner must outlive the terminal"
    assert manifest(run_dir)["status"] == "running"
    return run_dir, runner


def pid_alive_any(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_after_a_drop_the_queue_finishes_and_edgetui_shows_its_results(setting):
    runs, profile, tmux, env = setting
    run_dir, runner = drop_mid_queue(runs, profile, tmux, env)
    wait_until(lambda: manifest(run_dir).get("status") == "finished", 300, "the queue to finish")
    rows = json.loads((run_dir / "results.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["done", "done"]
    assert all(r["repetitions"] == 3 for r in rows)
    # the next edgetui opens the ranking of the run that ended while no console watched
    tmux.start(f"cd {profile.parent} && {env} {sys.executable} -m edgetui")
    screen = wait_until(lambda: (s := tmux.screen()) and "Weights" in s and "smollm2-135m-q4_1" in s and s, 30,
                        "the results screen")
    assert "Ranking" in screen


def test_after_a_drop_edgetui_attaches_to_the_run_in_progress(setting):
    runs, profile, tmux, env = setting
    run_dir, runner = drop_mid_queue(runs, profile, tmux, env)
    tmux.start(f"cd {profile.parent} && {env} {sys.executable} -m edgetui")
    screen = wait_until(lambda: (s := tmux.screen()) and "Progress" in s and s, 30, "the live screen")
    assert run_dir.name in screen  # the live screen of that run
    assert "Pause/resume" in screen  # and its keys
    # it follows the run to its end, then the ranking opens by itself
    wait_until(lambda: "Ranking" in tmux.screen(), 300, "the results screen after the queue ends")
    assert manifest(run_dir)["status"] == "finished"
    assert not pid_alive(runner)
