"""The quantizer child on the real SmolLM2: a torn cached variant is made again (never a queue
stopped on every resume), pause holds the child, skip and abort kill it and leave nothing in the
cache, a deadline or a silence past its limit fails the variant, and the file is whole on disk
before its name says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from edgetui.models import quantize

from conftest import EDGETUI, REPO, write_profile

pytestmark = pytest.mark.model
SHA = "0123456789abcdef" * 4


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EDGETUI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "quantized"


def quantizer_child() -> psutil.Process | None:
    for child in psutil.Process().children(recursive=True):
        try:
            if "edgetui.models.quantize" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def left_in(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []


def test_a_torn_cached_variant_is_made_again_and_pause_holds_the_quantizer(cache, smollm2_path):
    dest = quantize.variant_path(SHA, "Q8_0")
    dest.parent.mkdir(parents=True)
    with smollm2_path.open("rb") as src:  # a variant cut short: a crash before it was synced, a copy stopped
        dest.write_bytes(src.read(smollm2_path.stat().st_size // 3))
    said: list[str] = []
    held: dict[str, object] = {}

    def control() -> bool:  # paused for 1.5 s from the first poll, its state looked at in the middle
        child = quantizer_child()
        since = held.setdefault("since", time.monotonic())
        paused_for = time.monotonic() - since  # type: ignore[operator]
        if paused_for < 1.5:
            if child is not None and paused_for > 0.8 and "status" not in held:
                held["status"] = child.status()
            return True
        return False

    path, made = quantize.make_variant(smollm2_path, SHA, "Q8_0", requantize=True, control=control, say=said.append)
    assert made and path == dest
    assert quantize.unusable(path) is None
    assert any("not whole" in s and "truncated GGUF file" in s for s in said), said
    assert held.get("status") == psutil.STATUS_STOPPED  # held, not computing, while paused
    assert json.loads(dest.with_suffix(".json").read_text())["type"] == "Q8_0"
    assert left_in(cache) == sorted([dest.name, dest.with_suffix(".json").name])
    # whole now: the next call takes it as it is
    assert quantize.make_variant(smollm2_path, SHA, "Q8_0", requantize=True) == (dest, False)


class Skip(Exception):
    pass


def test_skip_or_abort_kills_the_quantizer_and_leaves_nothing(cache, smollm2_path):
    seen: list[int] = []

    def control() -> bool:
        child = quantizer_child()
        if child is not None:
            seen.append(child.pid)
            if len(seen) >= 2:
                raise Skip()
        return False

    t0 = time.monotonic()
    with pytest.raises(Skip):
        quantize.make_variant(smollm2_path, SHA, "Q8_0", requantize=True, control=control)
    assert time.monotonic() - t0 < 30
    assert seen and not psutil.pid_exists(seen[-1])
    assert left_in(cache) == []  # no partial file, no log, no variant


def test_a_quantizer_past_its_deadline_is_killed(cache, smollm2_path):
    with pytest.raises(quantize.QuantizeError, match="took longer than 0 s"):
        quantize.make_variant(smollm2_path, SHA, "Q8_0", requantize=True, deadline_s=0.3)
    assert quantizer_child() is None and left_in(cache) == []


def test_a_silent_quantizer_is_killed(cache, smollm2_path, tmp_path, monkeypatch):
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")  # a child that hangs before its first word
    silent.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(silent))
    t0 = time.monotonic()
    with pytest.raises(quantize.QuantizeError, match="said nothing for 1 s"):
        quantize.make_variant(smollm2_path, SHA, "Q8_0", requantize=True, stall_s=1.0)
    assert time.monotonic() - t0 < 10
    assert left_in(cache) == []


def test_skip_while_quantizing_skips_that_configuration_and_the_queue_goes_on(tmp_path, smollm2_path):
    profile = write_profile(tmp_path / "q.toml", f"""name = "q"
repetitions = 1
warmup = 0
idle_baseline_s = 0
[[models]]
path = "{smollm2_path}"
[sweep]
n_threads = [1]
n_ctx = [64]
quant = ["Q8_0", "source"]
[workload]
prompt_tokens = [8]
gen_tokens = 2
""")
    out = tmp_path / "out"
    env = dict(os.environ, EDGETUI_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "with llama.cpp's quantizer" in line:
            from edgetui.rundir.control import write_control

            first = json.loads((out / "run.json").read_text())["configs"][0]["config_id"]
            write_control(out, skip=first)
            break
    rest = proc.communicate(timeout=300)[0]
    text = "".join(lines) + rest
    assert proc.returncode == 0, text
    outcomes = [json.loads(x) for x in (out / "configs.jsonl").read_text().splitlines()]
    assert [(o["status"], o["error"]) for o in outcomes] == [("skipped", "skipped by the user"), ("done", None)]
    assert "skipped" in rest and "made from" not in text  # stopped while it was being made
    assert not any(p.suffix == ".gguf" for p in (tmp_path / "cache" / "quantized").glob("*"))
