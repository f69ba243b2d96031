"""The run folder's files (issue 22, low): the lock never follows a symlink; rewritten files get the
mode appended ones get, and their rename is on disk (the folder fsync'd); the sensor stream is cut
into bounded segments that every reader follows; "running" is the lock's word, not a pid's."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgetui.errors import UserError
from edgetui.fleet.stream import Streamer, append_files
from edgetui.rundir.layout import RUNNER_LOCK
from edgetui.rundir.lock import RunFolderLock, lock_holder
from edgetui.rundir.samples_tail import SamplesTail
from edgetui.rundir.state import read_state
from edgetui.rundir.store import RunStore, atomic_write

from fixtures.tui.scenes import copy_run


def test_the_lock_file_is_never_opened_through_a_symlink(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / RUNNER_LOCK).symlink_to(precious)
    with pytest.raises(UserError, match=RUNNER_LOCK):
        RunFolderLock(run).acquire(wait=0)
    assert precious.read_text() == "keep me\n"  # not truncated, no pid written into it
    assert lock_holder(run) is None


def test_rewritten_files_have_the_mode_of_appended_ones_and_their_folder_is_synced(tmp_path, monkeypatch):
    umask = os.umask(0o022)
    os.umask(umask)
    store = RunStore(tmp_path / "run")
    store.prepare()
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store.write_manifest({"status": "running"})
    store.write_results([])
    store.append_rep({"config_id": "a", "rep": 0})
    appended = stat.S_IMODE(store.reps_path.stat().st_mode)
    assert appended == 0o666 & ~umask
    for path in (store.manifest_path, store.csv_path, store.json_path):
        assert stat.S_IMODE(path.stat().st_mode) == appended, path
    assert synced.count(True) == 3  # run.json, results.csv, results.json: each rename made durable
    export = tmp_path / "export.csv"
    atomic_write(export, "a,b\n")
    assert stat.S_IMODE(export.stat().st_mode) == appended
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_the_sensor_stream_is_cut_into_bounded_segments_that_readers_follow(tmp_path):
    store = RunStore(tmp_path / "run")
    store.prepare()
    live = SamplesTail(store.root)
    writer = store.open_samples(segment_bytes=1000, keep=3)
    read: list[int] = []
    for i in range(200):
        writer.write(json.dumps({"t": i, "pad": "x" * 40}) + "\n")
        if i % 7 == 0:  # a console's tick now and then: lines land in segments it has not seen yet
            writer.flush()
            read += [r["t"] for r in live.read()]
    writer.close()
    read += [r["t"] for r in live.read()]
    assert read == list(range(200))  # every sample once, in order, across every cut
    segments = store.samples_segments()
    assert len(segments) == 3 and segments[-1].name == f"samples.{writer.n}.jsonl"
    assert all(p.stat().st_size <= 1100 for p in segments)  # each about the cap
    assert sum(p.stat().st_size for p in segments) <= 3 * 1100  # the whole stream bounded
    assert not (store.root / "samples.jsonl").exists()  # the oldest went first
    # a console attaching late reads the newest lines only; a resumed runner appends to the newest segment
    late = SamplesTail(store.root)
    late.start_near_end(200)
    assert [r["t"] for r in late.read()][-1] == 199
    again = store.open_samples(segment_bytes=1000, keep=3)
    assert again.n == writer.n
    again.close()
    # the fleet's follower sends every segment, each by its own offset
    names = append_files(store.root)
    assert [n for n in names if n.startswith("samples")] == [p.name for p in segments]
    out = io.BytesIO()
    Streamer(store.root, {}, out).send_new_bytes()
    sent = [json.loads(line)["f"] for line in out.getvalue().split(b"\n") if line.startswith(b'{"f"')]
    assert set(p.name for p in segments) <= set(sent)


def test_running_is_decided_by_the_lock_not_by_a_pid_a_reboot_may_give_away(tmp_path):
    run = copy_run("run-rpi5", tmp_path)
    # a process that is not a runner took the pid run.json names, as after a reboot
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "edgetui"])
    try:
        manifest = json.loads((run / "run.json").read_text())
        manifest.update(status="running", runner_pid=stranger.pid)
        (run / "run.json").write_text(json.dumps(manifest))
        assert read_state(run).status == "interrupted"
        lock = RunFolderLock(run)
        lock.acquire()
        try:
            state = read_state(run)
            assert state.status == "running" and state.pid == os.getpid()
        finally:
            lock.release()
    finally:
        stranger.kill()
        stranger.wait()


def test_samples_written_by_a_runner_land_where_a_follower_reads_them(tmp_path):
    """The runner's samples go through the folder's own writer (segments), in the folder it locked."""
    store = RunStore(tmp_path / "run")
    lock = RunFolderLock(store.root)
    lock.acquire()
    store.bind(lock)
    writer = store.open_samples()
    writer.write('{"t": 1.0}\n')
    writer.flush()
    assert [r["t"] for r in SamplesTail(store.root).read()] == [1.0]
    writer.close()
    lock.release()
    assert Path(store.samples_path).exists()
