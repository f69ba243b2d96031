"""One runner per run folder (issue 15), with real processes: the folder's lock names its holder and
is free again the moment the holder is SIGKILLed; a second `run --resume` (or `--out`, or
`--detach`) of a folder whose runner is alive is refused with exit 2 naming it; two resumes of a
killed run started together record every repetition once; the console's resume key follows a
runner already at work instead of starting a second; repetitions recorded twice by an older
edgetui are counted once, with a warning."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from edgetui.errors import DataWarning
from edgetui.run.aggregate import result_row
from edgetui.rundir.layout import RUNNER_LOCK
from edgetui.rundir.lock import FolderBusy, lock_holder, run_folder_lock
from edgetui.rundir.store import read_jsonl

from conftest import EDGETUI, REPO, run_cli, smollm2_profile, write_profile
from fixtures.tui.scenes import copy_run, cut_mid_decode

HOLD = ("import sys, time\n"
        "from edgetui.rundir.lock import run_folder_lock\n"
        "lock = run_folder_lock(sys.argv[1], what='runner')\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")


@pytest.fixture
def holder_of():
    """Start a process that holds a folder's lock (as a runner does) until it is killed."""
    procs: list[subprocess.Popen] = []

    def start(folder: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True,
                                cwd=REPO)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def wait_until(predicate, timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def test_the_lock_names_its_holder_and_the_kernel_frees_it_when_the_holder_is_killed(tmp_path, holder_of):
    assert lock_holder(tmp_path) is None  # never locked: no lock file at all
    proc = holder_of(tmp_path)
    holder = lock_holder(tmp_path)
    assert holder is not None and holder.pid == proc.pid and holder.what == "runner" and holder.since
    with pytest.raises(FolderBusy) as exc:
        run_folder_lock(tmp_path, wait=0.2, doing="resume this run")
    message = str(exc.value)
    assert f"pid {proc.pid}" in message and f"edgetui status {tmp_path}" in message and "`edgetui`" in message
    assert exc.value.exit_code == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock_holder(tmp_path) is None  # no stale lock: the file stays, its lock went with the process
    assert (tmp_path / RUNNER_LOCK).exists()
    t0 = time.monotonic()
    with run_folder_lock(tmp_path, wait=0.0) as lock:
        assert lock.held and lock_holder(tmp_path) is not None
    assert time.monotonic() - t0 < 1.0
    assert lock_holder(tmp_path) is None  # released when the block ends


def test_a_folder_whose_runner_is_alive_is_refused_at_once(tmp_path, holder_of):
    run = copy_run("run-rpi5", tmp_path)
    manifest = json.loads((run / "run.json").read_text())
    manifest["status"] = "running"
    (run / "run.json").write_text(json.dumps(manifest))
    proc = holder_of(run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for args in (["run", "--resume", str(run), "--headless"],
                 ["run", "--resume", str(run), "--headless", "--detach"],
                 ["run", "profiles/smoke.toml", "--headless", "--out", str(run)],
                 ["run", "profiles/smoke.toml", "--headless", "--detach", "--out", str(run)]):
        t0 = time.monotonic()
        res = run_cli(*args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert f"runner pid {proc.pid}" in res.stderr and f"edgetui status {run}" in res.stderr, res.stderr
        assert time.monotonic() - t0 < 30  # refused before any model is read
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing touched
    status = run_cli("status", str(run))
    assert "running" in status.stdout and f"pid {proc.pid}" in status.stdout


def test_result_rows_count_a_repetition_recorded_twice_once():
    config = {"config_id": "c1", "profile": "p", "engine": "llama_cpp", "model": "m", "n_threads": 1,
              "n_gpu_layers": 0, "n_ctx": 256, "n_batch": 512, "flash_attn": "auto", "kv_cache_type": "f16",
              "prompt_tokens": 16, "gen_tokens": 16}
    rep = {"config_id": "c1", "warmup": False, "prompt_tokens": 16, "gen_tokens_actual": 16}
    reps = [{**rep, "rep": 0, "decode_tps": 10.0}, {**rep, "rep": 1, "decode_tps": 20.0},
            {**rep, "rep": 1, "decode_tps": 2.0}]  # rep 1 again, as a second runner at 8x less speed wrote it
    row = result_row(config, reps, status="done", error=None, context={})
    assert row["repetitions"] == 2 and row["decode_tps_mean"] == pytest.approx(15.0)
    # records without a repetition number cannot be told apart: each counts, none is taken for a copy
    unnumbered = [{k: v for k, v in r.items() if k != "rep"} for r in reps]
    row = result_row(config, unnumbered, status="done", error=None, context={})
    assert row["repetitions"] == 3 and row["decode_tps_mean"] == pytest.approx(32.0 / 3)


def test_an_older_folder_with_duplicates_loads_with_a_warning_and_each_repetition_once(tmp_path):
    from edgetui.ranking.sources import load_results

    run = copy_run("run-rpi5", tmp_path)
    with (run / "results.csv").open() as f:
        recorded = {r["config_id"]: r for r in csv.DictReader(f)}
    lines = (run / "repetitions.jsonl").read_text().splitlines(keepends=True)
    doubled = [json.loads(raw) for raw in lines[:2]]
    for r in doubled:
        r["decode_tps"] = r["decode_tps"] / 8  # the second runner fought the first for the CPUs
    with (run / "repetitions.jsonl").open("a") as f:
        f.writelines(json.dumps(r) + "\n" for r in doubled)
    # the table an older edgetui wrote from those records counted them twice
    with (run / "results.csv").open() as f:
        reader = csv.DictReader(f)
        header, table = reader.fieldnames, list(reader)
    for r in table:
        r["repetitions"] = str(int(r["repetitions"]) + 2)
        r["decode_tps_mean"] = str(float(r["decode_tps_mean"]) * 0.7)
    with (run / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(table)
    (run / "results.json").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results([run])
    notes = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(notes) == 1 and "2 repetition record(s)" in notes[0] and "counted once" in notes[0]
    for row in df.to_dicts():
        want = recorded[row["config_id"]]
        assert row["repetitions"] == int(want["repetitions"])
        assert row["decode_tps_mean"] == pytest.approx(float(want["decode_tps_mean"]), rel=1e-5)
    ranked = run_cli("rank", str(run))
    assert ranked.returncode == 0 and "edgetui: warning:" in ranked.stderr and "counted once" in ranked.stderr


def _reps(out: Path) -> list[tuple[str, int]]:
    return [(r["config_id"], r["rep"]) for r in read_jsonl(out / "repetitions.jsonl") if not r.get("warmup")]


@pytest.mark.model
@pytest.mark.slow
def test_two_resumes_of_a_killed_run_record_every_repetition_once(tmp_path, smollm2_path):
    profile = write_profile(tmp_path / "race.toml", smollm2_profile(
        "race", repetitions=8, warmup=0, threads=(1,), prompt_tokens=16, gen_tokens=48))
    out = tmp_path / "out"
    sysfs = tmp_path / "no-sensors"
    sysfs.mkdir()

    def start(*args: str, log: str) -> subprocess.Popen:
        with (tmp_path / log).open("w") as f:  # a file, not a pipe: a runner's output never blocks it
            return subprocess.Popen([*EDGETUI, "run", *args, "--headless", "--sysfs-root", str(sysfs)], cwd=REPO,
                                    stdout=f, stderr=subprocess.STDOUT, start_new_session=True, text=True)

    first = start(str(profile), "--out", str(out), log="first.log")
    wait_until(lambda: len(_reps(out)) >= 1, 240, "a repetition on disk")
    os.killpg(first.pid, signal.SIGKILL)  # the runner and its model child, as an SSH drop with an OOM would
    first.wait()
    assert lock_holder(out) is None
    a = start("--resume", str(out), log="a.log")
    b = start("--resume", str(out), log="b.log")
    wait_until(lambda: a.poll() is not None or b.poll() is not None, 120, "one of the two resumes to give up")
    loser, winner, loser_log = (a, b, "a.log") if a.poll() is not None else (b, a, "b.log")
    said = (tmp_path / loser_log).read_text()
    assert loser.returncode == 2, said
    assert winner.poll() is None
    assert f"runner pid {winner.pid}" in said and f"edgetui status {out}" in said
    # the lock is the kernel's: the winner SIGKILLed, the next resume takes the folder at once
    os.killpg(winner.pid, signal.SIGKILL)
    winner.wait()
    third = run_cli("run", "--resume", str(out), "--headless", "--sysfs-root", str(sysfs), timeout=400)
    assert third.returncode == 0, third.stdout + third.stderr
    reps = _reps(out)
    assert sorted(reps) == sorted(set(reps)) and len(set(reps)) == 8  # each repetition once, none missing
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["status"] == "done" and rows[0]["repetitions"] == "8"
    assert lock_holder(out) is None


@pytest.mark.asyncio
async def test_the_consoles_resume_key_follows_a_runner_already_at_work(tmp_path, holder_of):
    from edgetui.run.session import RunFollower
    from edgetui.tui.app import EdgeApp
    from edgetui.tui.screens.live import LiveScreen

    run_dir = copy_run("run-jetson", tmp_path / "runs", "20260301-101500-small")
    t_cut = cut_mid_decode(run_dir)
    app = EdgeApp(profiles_dir=str(tmp_path), attach=False, clock=lambda: t_cut + 2.0, alive=lambda pid: False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.follower = RunFollower(run_dir, alive=lambda pid: False, clock=app.clock)
        app.show_live()
        await pilot.pause()
        app.tick()
        await pilot.pause()
        f = app.follower
        live = app.screen
        assert isinstance(live, LiveScreen) and f.died is not None  # the runner it watched is gone
        proc = holder_of(run_dir)  # meanwhile, `edgetui run --resume` from another terminal took the folder
        await pilot.press("u")
        await pilot.pause()
        assert f.process is None and f.died is None and f.active  # following it, not a runner of its own
        assert not (run_dir / "runner.log").exists()  # nothing was launched
        assert any(f"pid {proc.pid}" in line.text and "following it" in line.text for line in f.state.log)
        assert live.check_action("resume", ()) is False
        app.tick()  # the manifest's pid is dead, but the folder's lock says a runner is at work
        assert f.died is None
