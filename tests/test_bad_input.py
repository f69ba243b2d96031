"""Bad input at the command line and on disk: a clear message naming what and where, exit
code 2, no traceback, nothing run and nothing earlier lost. Also memory: a model that cannot
fit is refused before loading, and a real out-of-memory kill fails only its configuration."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from edgetui.models import gguf

from conftest import REPO, run_cli, write_profile


def _profile_for(tmp_path: Path, model_line: str, extra: str = "") -> Path:
    return write_profile(tmp_path / "p.toml", f"""
name = "bad"
repetitions = 1
warmup = 0
idle_baseline_s = 0
[[models]]
{model_line}
[sweep]
n_threads = [2]
n_ctx = [256]
{extra}
[workload]
prompt_tokens = [8]
gen_tokens = 8
""")


def _refused(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in proc.stderr, proc.stderr


def test_missing_model_file(tmp_path):
    profile = _profile_for(tmp_path, 'path = "absent.gguf"')
    proc = run_cli("run", str(profile), "--headless", "--out", str(tmp_path / "out"))
    _refused(proc, str(tmp_path / "absent.gguf"), "model file not found")
    assert not (tmp_path / "out" / "repetitions.jsonl").exists()


def test_a_file_that_is_not_gguf(tmp_path):
    (tmp_path / "notes.gguf").write_text("these are my notes, not a model")
    proc = run_cli("run", str(_profile_for(tmp_path, 'path = "notes.gguf"')), "--headless", "--out", str(tmp_path / "o"))
    _refused(proc, "notes.gguf", "not a GGUF file")


def test_a_truncated_gguf(tmp_path, smollm2_path):
    cut = tmp_path / "cut.gguf"
    with smollm2_path.open("rb") as src:
        cut.write_bytes(src.read(20_000_000))
    proc = run_cli("run", str(_profile_for(tmp_path, 'path = "cut.gguf"')), "--headless", "--out", str(tmp_path / "o"))
    _refused(proc, "cut.gguf", "truncated GGUF file")


def test_unknown_bundled_model(tmp_path):
    proc = run_cli("run", str(_profile_for(tmp_path, 'name = "smollm2-135m-q4"')), "--headless",
                   "--out", str(tmp_path / "o"))
    _refused(proc, 'unknown bundled model "smollm2-135m-q4"', 'did you mean "smollm2-135m-q4_1"')


def test_results_folder_that_is_not_writable(tmp_path, smollm2_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("I am a file, not a folder")
    proc = run_cli("run", "profiles/smoke.toml", "--headless", "--out", str(blocker / "out"))
    _refused(proc, "results folder is not writable", str(blocker / "out"))


def test_read_only_results_folder(tmp_path, smollm2_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        proc = run_cli("run", "profiles/smoke.toml", "--headless", "--out", str(ro / "out"))
        _refused(proc, "results folder is not writable", "Read-only file system")
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)


def test_bad_command_lines(tmp_path):
    _refused(run_cli("run"), "name at least one profile")
    _refused(run_cli("run", "--resume", str(tmp_path)), "no run to resume here")
    _refused(run_cli("frobnicate"), "invalid choice")
    _refused(run_cli("run", "profiles/smoke.toml", "--headless", "--power-source", "rapl",
                     "--sysfs-root", str(tmp_path), "--out", str(tmp_path / "o")), 'power source "rapl" is not available')
    # --detach refuses it too, in the terminal, before a background runner is launched
    _refused(run_cli("run", "profiles/smoke.toml", "--headless", "--detach", "--power-source", "rapl",
                     "--sysfs-root", str(tmp_path), "--out", str(tmp_path / "d")),
             'power source "rapl" is not available')
    assert not (tmp_path / "d" / "runner.log").exists()
    _refused(run_cli("models", "fetch", "nope"), 'unknown bundled model "nope"')
    assert run_cli("--version").stdout.startswith("edgetui ")


def test_a_model_that_cannot_fit_is_refused_before_loading(tmp_path, smollm2_path):
    # SmolLM2's KV cache at f32 for 1M tokens: 30 layers x 3 heads x (64+64) dims x 4 bytes each
    need = 30 * 1_048_576 * 3 * 128 * 4 + smollm2_path.stat().st_size
    assert gguf.read_info(smollm2_path).kv_cache_bytes(1_048_576, 4.0) + smollm2_path.stat().st_size == need
    if psutil.virtual_memory().available > need:
        pytest.skip("this machine could hold it")
    profile = _profile_for(tmp_path, 'name = "smollm2-135m-q4_1"',
                           '').read_text().replace("n_ctx = [256]", 'n_ctx = [1048576, 256]\nkv_cache_type = "f32"')
    path = write_profile(tmp_path / "big.toml", profile)
    proc = run_cli("run", str(path), "--headless", "--out", str(tmp_path / "out"), "--sysfs-root", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    with (tmp_path / "out" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["status"] == "failed" and rows[0]["error"].startswith("would not fit")
    assert rows[1]["status"] == "done"  # the queue went on
    assert rows[0]["rss_mb_peak"] == ""  # never loaded


def _memory_cgroup(limit_mb: int) -> Path | None:
    """A memory-limited cgroup (v1 or v2) this test can put a process in, or None."""
    for base, limit_file in ((Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes"),
                             (Path("/sys/fs/cgroup"), "memory.max")):
        if not (base / limit_file).exists() and not (base / "cgroup.controllers").exists():
            continue
        cg = base / f"edgetui-oom-{os.getpid()}"
        try:
            cg.mkdir(exist_ok=True)
            (cg / limit_file).write_text(f"{limit_mb * 2**20}\n")
            return cg
        except OSError:
            try:
                cg.rmdir()
            except OSError:
                pass
    return None


def test_a_real_out_of_memory_kill_fails_only_its_configuration(tmp_path, smollm2_path):
    cg = _memory_cgroup(400)
    if cg is None:
        pytest.skip("no memory cgroup can be made here")
    profile = _profile_for(tmp_path, 'name = "smollm2-135m-q4_1"').read_text().replace(
        "n_ctx = [256]", 'n_ctx = [65536, 256]\nkv_cache_type = "f32"')  # a 3 GB KV cache in 400 MB
    path = write_profile(tmp_path / "oom.toml", profile)
    cmd = f"echo $$ > {cg}/cgroup.procs && exec {sys.executable} -m edgetui run {path} --headless " \
          f"--out {tmp_path / 'out'} --sysfs-root {tmp_path}"
    try:
        proc = subprocess.run(["sh", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=300)
    finally:
        try:
            cg.rmdir()
        except OSError:
            pass
    assert proc.returncode == 1, proc.stdout + proc.stderr
    with (tmp_path / "out" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["status"] == "failed"
    assert rows[0]["error"].startswith("out of memory (signal 9)")
    assert rows[1]["status"] == "done"


def test_a_folder_holding_a_run_is_never_reused_or_overwritten(tmp_path, smollm2_path):
    out = tmp_path / "out"
    first = run_cli("run", "profiles/smoke.toml", "--headless", "--out", str(out), "--sysfs-root", str(tmp_path))
    assert first.returncode == 0, first.stderr
    before = (out / "repetitions.jsonl").read_bytes()
    again = run_cli("run", "profiles/smoke.toml", "--headless", "--out", str(out), "--sysfs-root", str(tmp_path))
    _refused(again, "already holds a run", f"edgetui run --resume {out}")
    assert (out / "repetitions.jsonl").read_bytes() == before
