"""The runner under faults (issue 22): an error of its own is recorded as "crashed" and offered
for resume; a folder deleted and made again under a live runner gets nothing from it; the
inference child dies with its runner, and a resume refuses while an old child computes; a model
file gone mid-queue fails that configuration only; the console reaps the runner it starts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from edgetui.profiles.schema import load_profiles
from edgetui.run import runner as runner_mod
from edgetui.run.child import InferenceChild
from edgetui.run.launch import launch_runner
from edgetui.run.runner import RunCrashed, Runner
from edgetui.run.session import RunFollower
from edgetui.rundir.lock import FolderChanged, RunFolderLock
from edgetui.rundir.state import run_state, run_to_open
from edgetui.rundir.store import RunStore, read_jsonl

from conftest import EDGETUI, REPO, run_cli, smollm2_profile, write_profile
from fixtures.tui.scenes import copy_run


def wait_for(predicate, timeout: float = 240.0, what: str = "condition", step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def counted(out: Path) -> list[dict]:
    return [r for r in read_jsonl(out / "repetitions.jsonl") if not r.get("warmup")]


def events(out: Path) -> list[dict]:
    return list(read_jsonl(out / "events.jsonl"))


# ------------------------------------------------------------------ High 5: crashed, not finished
def test_an_unexpected_error_records_crashed_with_its_traceback_and_the_run_resumes(tmp_path, smollm2_path,
                                                                                    monkeypatch):
    profile = write_profile(tmp_path / "crash.toml", smollm2_profile("crash", gen_tokens=8, threads=(1,),
                                                                     repetitions=3, warmup=0))
    out = tmp_path / "out"
    real_row = runner_mod.repetition_row
    calls = []

    def row_then_fault(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyError("a bug of the runner's own")
        return real_row(*args, **kw)

    monkeypatch.setattr(runner_mod, "repetition_row", row_then_fault)
    runner = Runner(load_profiles([profile]), out, sysfs_root=str(tmp_path))
    runner.prepare(progress=lambda s: None)
    with pytest.raises(RunCrashed) as exc:
        runner.run()
    assert "KeyError" in str(exc.value) and f"edgetui run --resume {out}" in str(exc.value)

    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "crashed"
    assert manifest["error"].startswith("KeyError:") and "a bug of the runner's own" in manifest["error"]
    [end] = [e for e in events(out) if e["ev"] == "run_end"]
    assert end["status"] == "crashed" and end["error"] == manifest["error"]
    log = (out / "runner.log").read_text()
    assert "Traceback" in log and "row_then_fault" in log and "a bug of the runner's own" in log

    state = run_state(out)
    assert state.status == "crashed" and state.resumable
    status = run_cli("status", str(out))
    assert "crashed (KeyError" in status.stdout and f"edgetui run --resume {out}" in status.stdout
    assert run_to_open(tmp_path).path == out  # the console offers it at start
    follower = RunFollower(out, attach=True)
    follower.poll()
    assert follower.died and "crashed" in follower.died and "KeyError" in follower.died  # `u` resumes

    monkeypatch.setattr(runner_mod, "repetition_row", real_row)
    resumed = run_cli("run", "--resume", str(out), "--headless", "--sysfs-root", str(tmp_path))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert run_state(out).status == "finished"
    assert sorted(r["rep"] for r in counted(out)) == [0, 1, 2]
    while follower.poll() or follower.events.pending:  # a console that watched it: the resume is no crash
        pass
    assert follower.died is None and follower.state.run_end.status == "finished"


def test_the_command_line_says_a_crash_in_one_line_with_exit_1(tmp_path, smollm2_path):
    """A crash in `edgetui run --headless`: one line naming it and the resume, no traceback."""
    profile = write_profile(tmp_path / "crash.toml", smollm2_profile("crash", gen_tokens=4, threads=(1,),
                                                                     repetitions=1, warmup=0))
    out = tmp_path / "out"
    code = ("import sys; from edgetui.run import runner\n"
            "def boom(*a, **k): raise ZeroDivisionError('injected')\n"
            "runner.repetition_row = boom\n"
            "from edgetui.cli import main; sys.exit(main(sys.argv[1:]))\n")
    res = subprocess.run([sys.executable, "-c", code, "run", str(profile), "--headless", "--out", str(out),
                          "--sysfs-root", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "the runner crashed: ZeroDivisionError: injected" in res.stderr
    assert "Traceback" in (out / "runner.log").read_text()
    assert json.loads((out / "run.json").read_text())["status"] == "crashed"


# ------------------------------------------------------------------ High 6: the folder made again
def test_a_store_writes_only_into_the_folder_it_locked(tmp_path):
    out = tmp_path / "run"
    lock = RunFolderLock(out)
    lock.acquire()
    store = RunStore(out)
    store.bind(lock)
    store.append_rep({"config_id": "a", "rep": 0})
    shutil.rmtree(out)
    out.mkdir()  # made again: another runner's, or the user's
    for write in (lambda: store.append_rep({"config_id": "a", "rep": 1}), lambda: store.write_results([]),
                  lambda: store.write_manifest({"status": "running"}), lambda: store.open_append("events.jsonl")):
        with pytest.raises(FolderChanged, match="removed and made again"):
            write()
    assert list(out.iterdir()) == []
    lock.release()


def test_a_runner_whose_folder_is_deleted_and_made_again_writes_nothing_into_the_new_one(tmp_path, smollm2_path):
    first = write_profile(tmp_path / "first.toml", smollm2_profile("first", gen_tokens=200, threads=(1,),
                                                                   repetitions=4, warmup=0))
    second = write_profile(tmp_path / "second.toml", smollm2_profile("second", gen_tokens=8, threads=(2,),
                                                                     repetitions=2, warmup=0))
    out = tmp_path / "out"
    old = subprocess.Popen([*EDGETUI, "run", str(first), "--headless", "--out", str(out), "--sysfs-root",
                            str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(counted(out)) >= 1, what="the first runner's first repetition")
        shutil.rmtree(out)
        out.mkdir()  # at once: the old runner is mid-repetition, and writes next into what is here now
        new = run_cli("run", str(second), "--headless", "--out", str(out), "--sysfs-root", str(tmp_path))
        stdout, stderr = old.communicate(timeout=300)
    finally:
        if old.poll() is None:
            old.kill()
            old.wait()
    assert new.returncode == 0, new.stdout + new.stderr
    assert old.returncode == 2, stdout + stderr
    assert "Traceback" not in stderr and f"the results folder {out} was removed" in stderr, stderr
    assert "writes nothing more there" in stderr
    manifest = json.loads((out / "run.json").read_text())
    second_ids = {c["config_id"] for c in manifest["configs"]}
    assert {r["profile"] for r in counted(out)} == {"second"} and len(counted(out)) == 2
    assert {r["config_id"] for r in read_jsonl(out / "configs.jsonl")} == second_ids
    assert [e["pid"] for e in events(out) if e["ev"] == "run_start"] == [manifest["runner_pid"]]
    assert [p["name"] for p in manifest["profiles"]] == ["second"] and manifest["status"] == "finished"
    assert all(r["profile"] == "second" for r in json.loads((out / "results.json").read_text())["rows"])


# ------------------------------------------------------------------ Medium 7: the child dies with its runner
def test_the_inference_child_dies_with_its_runner(tmp_path, smollm2_path):
    # a long prefill: the child says nothing while it computes it, so only its runner's death can stop it
    profile = write_profile(tmp_path / "orphan.toml", smollm2_profile(
        "orphan", gen_tokens=4, threads=(1,), repetitions=2, warmup=0, n_ctx=2048, prompt_tokens=1900))
    out = tmp_path / "out"
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out), "--sysfs-root",
                             str(tmp_path)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    try:
        wait_for(lambda: any(e["ev"] == "progress" and e.get("phase") == "prefill" for e in events(out)),
                 what="the prefill to begin")
        child = next(e["pid"] for e in events(out) if e["ev"] == "phase" and e.get("phase") == "load")
        assert json.loads((out / "child.json").read_text())["pid"] == child  # for a resume to check
        assert psutil.Process(child).ppid() == proc.pid
        proc.send_signal(signal.SIGKILL)  # the runner only: its child is on its own now
        proc.wait()

        def gone() -> bool:
            try:
                return psutil.Process(child).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        t0 = time.monotonic()
        wait_for(gone, timeout=10, what="the orphaned child to end")
        assert time.monotonic() - t0 < 2.0
    finally:
        if proc.poll() is None:
            proc.kill()
        if child is not None and psutil.pid_exists(child):
            os.kill(child, signal.SIGKILL)


def test_a_resume_is_refused_while_the_last_runners_child_lives(tmp_path):
    run = copy_run("run-rpi5", tmp_path)
    manifest = json.loads((run / "run.json").read_text())
    manifest["status"] = "running"
    (run / "run.json").write_text(json.dumps(manifest))
    child = InferenceChild(tmp_path / "child.log")  # a real inference child, whose runner is this test
    try:
        started = psutil.Process(child.pid).create_time()
        (run / "child.json").write_text(json.dumps({"pid": child.pid, "started": started, "runner_pid": 1}))
        res = run_cli("run", "--resume", str(run), "--headless")
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"inference child pid {child.pid}" in res.stderr and f"kill {child.pid}" in res.stderr
        # the same pid with another start time is a recycled pid: not ours, not refused
        (run / "child.json").write_text(json.dumps({"pid": child.pid, "started": started - 100, "runner_pid": 1}))
        from edgetui.rundir.state import live_child

        assert live_child(run) is None
        (run / "child.json").write_text(json.dumps({"pid": child.pid, "started": started, "runner_pid": 1}))
        assert live_child(run) == child.pid
    finally:
        child.quit()
    assert live_child(run) is None


# ------------------------------------------------------------------ Medium 13: a model file gone mid-queue
def test_a_model_file_gone_mid_queue_fails_its_configurations_only(tmp_path, smollm2_path):
    copy = tmp_path / "models" / "copy.gguf"
    copy.parent.mkdir()
    try:
        os.link(smollm2_path, copy)
    except OSError:
        shutil.copyfile(smollm2_path, copy)
    text = smollm2_profile("gone", gen_tokens=24, threads=(1,), repetitions=3, warmup=0)
    text = text.replace('[[models]]\nname = "smollm2-135m-q4_1"\n',
                        f'[[models]]\nname = "smollm2-135m-q4_1"\n\n[[models]]\npath = "{copy}"\n')
    profile = write_profile(tmp_path / "gone.toml", text)
    out = tmp_path / "out"
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out), "--sysfs-root",
                             str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(counted(out)) >= 1, what="a first repetition")
    copy.unlink()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stdout + stderr  # a failed configuration, not a storage failure (2)
    assert "could not write to the results folder" not in stdout + stderr
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["done", "failed"]
    assert "No such file or directory" in rows[1]["error"] and str(copy) in rows[1]["error"]
    assert run_state(out).status == "finished"


# ------------------------------------------------------------------ Medium 14: no <defunct> runner
def test_the_runner_the_console_starts_is_reaped(tmp_path):
    proc = launch_runner([tmp_path / "no-such-profile.toml"], tmp_path / "run")  # exits at once, with 2

    def reaped() -> bool:
        try:
            psutil.Process(proc.pid)  # running, or <defunct>: not reaped
        except psutil.NoSuchProcess:
            return True
        return False

    wait_for(reaped, timeout=60, what="the runner to be reaped")
    assert proc.poll() == 2  # whoever follows it still reads its exit
