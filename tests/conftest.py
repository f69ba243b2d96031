"""Shared test set-up: real bundled models (fetched once into the user cache, as `make setup`
does), and run folders kept out of the user's data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EDGETUI = [sys.executable, "-m", "edgetui"]


@pytest.fixture(autouse=True)
def _isolated_runs_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EDGETUI_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    # a user's own key remapping must not change what the console tests press
    monkeypatch.setenv("EDGETUI_KEYMAP", str(tmp_path_factory.mktemp("config") / "no-keymap.toml"))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from edgetui import models

    return models.fetch("smollm2-135m-q4_1", progress=lambda s: None)


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """`edgetui ARGS` in a child process, as a user would run it."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*EDGETUI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


def write_profile(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def smollm2_profile(name: str, *, repetitions: int = 3, warmup: int = 1, threads: tuple[int, ...] = (1, 2),
                    n_ctx: int = 256, prompt_tokens: int = 16, gen_tokens: int = 40, extra_sweep: str = "",
                    description: str = "") -> str:
    """The text of a small profile on the bundled SmolLM2, with no idle baseline (tests wait on it)."""
    return f"""name = "{name}"
description = "{description}"
repetitions = {repetitions}
warmup = {warmup}
idle_baseline_s = 0

[[models]]
name = "smollm2-135m-q4_1"

[sweep]
n_threads = [{", ".join(map(str, threads))}]
n_ctx = [{n_ctx}]
{extra_sweep}
[workload]
prompt_tokens = [{prompt_tokens}]
gen_tokens = {gen_tokens}
"""
