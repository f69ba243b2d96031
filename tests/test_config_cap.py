"""A profile that asks for more configurations than a run takes is refused, counted and never
expanded, with the count and the axes that make it: at load, in `edgetui run` (exit 2), in
plan.expand and over the profiles of one run together; the queue screen shows the refusal."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from edgetui.errors import UserError
from edgetui.profiles.plan import expand, expand_all
from edgetui.profiles.schema import MAX_CONFIGURATIONS, load_profile, load_profiles

from conftest import run_cli, write_profile


def profile_text(name: str, *, threads: int, ctx: int, gen: int, model: str = 'path = "absent.gguf"') -> str:
    return f"""name = "{name}"
idle_baseline_s = 0
[[models]]
{model}
[sweep]
n_threads = {list(range(1, threads + 1))}
n_ctx = {[4096 + i for i in range(ctx)]}
[workload]
prompt_tokens = [16]
gen_tokens = {list(range(1, gen + 1))}
"""


def test_a_billion_configurations_are_refused_at_load_with_the_count_and_the_axes(tmp_path):
    path = write_profile(tmp_path / "huge.toml", profile_text("huge", threads=1000, ctx=1000, gen=1024))
    assert path.stat().st_size < 20_000  # a small file
    t0 = time.perf_counter()
    with pytest.raises(UserError) as caught:
        load_profile(path)
    assert time.perf_counter() - t0 < 2.0
    assert caught.value.where == str(path)
    assert "1,024,000,000 configurations, more than the 100,000" in caught.value.message
    assert "gen_tokens 1,024 x n_threads 1,000 x n_ctx 1,000" in caught.value.message


def test_the_cap_itself_is_accepted_and_duplicates_are_not_counted(tmp_path):
    at_cap = load_profile(write_profile(tmp_path / "cap.toml", profile_text("cap", threads=100, ctx=100, gen=10)))
    assert at_cap.n_configurations == MAX_CONFIGURATIONS
    # the same value many times is one configuration: n_threads = [1, 1, ...] counts once
    text = profile_text("dup", threads=1, ctx=100, gen=1000).replace("n_threads = [1]", f"n_threads = {[1] * 500}")
    assert load_profile(write_profile(tmp_path / "dup.toml", text)).n_configurations == 100 * 1000


def test_expand_counts_before_it_builds(tmp_path):
    small = load_profile(write_profile(tmp_path / "s.toml", profile_text("s", threads=2, ctx=2, gen=2)))
    assert len(expand(small)) == small.n_configurations == 8
    huge = replace(small, sweep={**small.sweep, "n_batch": list(range(1, 200_001))})  # made past the schema
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="1,600,000 configurations.*n_batch 200,000"):
        expand(huge)
    assert time.perf_counter() - t0 < 1.0


def test_the_profiles_of_one_run_are_capped_together(tmp_path):
    paths = [write_profile(tmp_path / f"{n}.toml", profile_text(n, threads=60, ctx=100, gen=10)) for n in "ab"]
    with pytest.raises(UserError) as caught:
        load_profiles(paths)
    assert "120,000 configurations together" in caught.value.message
    assert "a 60,000" in caught.value.message and "b 60,000" in caught.value.message
    profiles = [load_profile(p) for p in paths]
    with pytest.raises(UserError, match="together"):
        expand_all(profiles)


def test_edgetui_run_refuses_it_with_exit_2_before_reading_any_model(tmp_path):
    path = write_profile(tmp_path / "big.toml", profile_text("big", threads=200, ctx=100, gen=10))
    proc = run_cli("run", str(path), "--headless", "--out", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and "200,000 configurations" in proc.stderr
    assert "n_threads 200 x n_ctx 100 x gen_tokens 10" in proc.stderr
    assert "model file not found" not in proc.stderr  # refused before the models are read


def test_the_queue_screen_shows_the_refusal_without_expanding(tmp_path):
    from edgetui.tui.screens.queue import ProfileEntry

    path = write_profile(tmp_path / "huge.toml", profile_text("huge", threads=1000, ctx=1000, gen=1024))
    t0 = time.perf_counter()
    entry = ProfileEntry.load(path)
    assert time.perf_counter() - t0 < 2.0
    assert entry.profile is None and entry.configs is None
    assert entry.error is not None and "1,024,000,000 configurations" in entry.error
