"""Never lose a result: the runner killed with SIGKILL and resumed, a torn last line, a headless
run whose terminal goes away, a detached run."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edgetui.rundir.state import run_state
from edgetui.rundir.store import RunStore, read_jsonl, repair_torn_tail

from conftest import EDGETUI, REPO, run_cli, smollm2_profile, write_profile


def _wait_for(predicate, timeout: float = 240.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _counted(out: Path) -> list[dict]:
    return [r for r in read_jsonl(out / "repetitions.jsonl") if not r["warmup"]]


def test_sigkill_of_everything_then_resume_loses_and_duplicates_nothing(tmp_path, smollm2_path):
    profile = write_profile(tmp_path / "resume.toml", smollm2_profile("resume", gen_tokens=40))
    out = tmp_path / "out"
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out),
                             "--sysfs-root", str(tmp_path)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for(lambda: len(_counted(out)) >= 2, what="two finished repetitions")
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its inference child, mid-queue
    proc.wait()
    before = _counted(out)
    assert 2 <= len(before) < 6
    with (out / "repetitions.jsonl").open("a") as f:
        f.write('{"config_id": "torn-by-a-crash", "rep": 9')  # a write cut off by the crash
    assert run_state(out).status == "interrupted"
    status = run_cli("status", str(out))
    assert "interrupted" in status.stdout and f"edgetui run --resume {out}" in status.stdout

    resumed = run_cli("run", "--resume", str(out), "--headless", "--sysfs-root", str(tmp_path))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = _counted(out)
    keys = [(r["config_id"], r["rep"]) for r in after]
    assert len(keys) == 6 and len(set(keys)) == 6  # none lost, none duplicated
    assert after[: len(before)] == before  # what was on disk is untouched
    assert all(r["config_id"] != "torn-by-a-crash" for r in after)
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["status"], r["repetitions"]) for r in rows] == [("done", "3"), ("done", "3")]
    assert run_state(out).status == "finished"


def test_repair_cuts_only_the_torn_tail(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c":')
    assert repair_torn_tail(path) == len('{"c":')
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'
    assert repair_torn_tail(path) == 0
    assert [r for r in read_jsonl(path)] == [{"a": 1}, {"b": 2}]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is needed to close a terminal")
def test_headless_run_survives_its_terminal_closing(tmp_path, smollm2_path):
    profile = write_profile(tmp_path / "hup.toml", smollm2_profile("resume", gen_tokens=60))
    out = tmp_path / "out"
    session = f"edgetui-hup-{os.getpid()}"
    cmd = " ".join([*EDGETUI, "run", str(profile), "--headless", "--out", str(out), "--sysfs-root", str(tmp_path)])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30", f"cd {REPO} && {cmd}"],
                   check=True)
    try:
        _wait_for(lambda: len(_counted(out)) >= 1, what="a first repetition")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)  # the SSH drop
    _wait_for(lambda: run_state(out).status != "running", timeout=300, what="the queue to end")
    assert run_state(out).status == "finished"
    assert len(_counted(out)) == 6


def test_detached_run_returns_at_once_and_finishes(tmp_path, smollm2_path):
    profile = write_profile(tmp_path / "bg.toml", smollm2_profile("resume", gen_tokens=16, threads=(2,)))
    out = tmp_path / "out"
    started = time.monotonic()
    proc = run_cli("run", str(profile), "--headless", "--detach", "--out", str(out), "--sysfs-root", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "running in the background" in proc.stdout
    assert time.monotonic() - started < 30
    _wait_for(lambda: (out / "run.json").exists() and run_state(out).status != "running", timeout=300,
              what="the detached run to end")
    assert run_state(out).status == "finished"
    assert json.loads((out / "results.json").read_text())["rows"][0]["status"] == "done"


def test_results_from_an_incompatible_version_are_refused(tmp_path):
    store = RunStore(tmp_path)
    store.prepare()
    (tmp_path / "run.json").write_text(json.dumps({"schema": 99, "configs": []}))
    proc = run_cli("status", str(tmp_path))
    assert proc.returncode == 2
    assert "incompatible edgetui (schema 99" in proc.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs: a real filesystem that really fills up (needs root, as on CI here)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    with path.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_a_full_disk_stops_the_queue_with_a_clear_message_and_loses_nothing(tmp_path, small_disk, smollm2_path):
    profile = write_profile(tmp_path / "full.toml", smollm2_profile("resume", gen_tokens=40))
    out = small_disk / "out"
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out),
                             "--sysfs-root", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(_counted(out)) >= 1, what="a first repetition")
    _fill(small_disk / "filler")  # the disk is now full
    recorded = _counted(out)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stdout + stderr
    assert "Traceback" not in stderr
    assert "could not write to the results folder" in stderr and "No space left on device" in stderr
    assert _counted(out)[: len(recorded)] == recorded  # everything recorded before is intact

    (small_disk / "filler").unlink()
    resumed = run_cli("run", "--resume", str(out), "--headless", "--sysfs-root", str(tmp_path))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    keys = [(r["config_id"], r["rep"]) for r in _counted(out)]
    assert len(keys) == 6 and len(set(keys)) == 6


def test_skip_and_abort_through_the_control_file(tmp_path, smollm2_path):
    from edgetui.rundir.control import write_control

    text = smollm2_profile("resume", gen_tokens=200, extra_sweep="n_batch = [64, 128]")
    profile = write_profile(tmp_path / "ctl.toml", text)
    out = tmp_path / "out"
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out),
                             "--sysfs-root", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)

    def decoding(index: int) -> str | None:
        current = None
        for ev in read_jsonl(out / "events.jsonl"):
            if ev["ev"] == "config_start" and ev["index"] == index:
                current = ev["config_id"]
            if current and ev["ev"] == "progress" and ev["phase"] == "decode" and ev["config_id"] == current:
                return current
        return None

    _wait_for(lambda: decoding(1) or proc.poll() is not None, what="the first configuration to decode")
    assert proc.poll() is None, proc.stdout.read()
    write_control(out, skip=decoding(1))  # skip it mid-repetition
    _wait_for(lambda: decoding(2), what="the second configuration to decode")
    write_control(out, abort=True)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout
    assert "aborted by the user" in stdout
    outcomes = {r["config_id"]: r["status"] for r in read_jsonl(out / "configs.jsonl")}
    assert list(outcomes.values()) == ["skipped"]  # the aborted one is not an outcome: resume reruns it
    assert run_state(out).status == "aborted"
