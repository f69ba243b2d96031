"""`edgetui plan` and the one estimate behind it (profiles/estimate.py): configurations counted on
the shipped profiles, durations from this board's earlier runs of the same configuration, of the
same model file, scaled from another model by weight bytes, or the defaults, each saying which; the
memory of each configuration against the memory available; `run` asks for --yes past 500."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_discover import write_gguf

from edgetui import models
from edgetui.cli import main
from edgetui.profiles import estimate
from edgetui.profiles.estimate import (
    DEFAULTS,
    SAME_CONFIG,
    SAME_MODEL,
    History,
    Measured,
    ModelFiles,
    config_seconds,
    estimate_plan,
    rates_for,
)
from edgetui.profiles.plan import expand
from edgetui.profiles.schema import load_profile
from edgetui.rundir import history as history_mod
from edgetui.rundir.history import board_history

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "tui"
SHIPPED = sorted(str(p) for p in (REPO / "profiles").rglob("*.toml"))


@pytest.fixture
def runs(tmp_path: Path, monkeypatch) -> Path:
    """A runs folder holding the recorded run of the fixture profile "small" (host "vm"), its model
    paths those of this machine's cache, and this machine taken to be "vm"."""
    runs = tmp_path / "runs"
    run = runs / "20260301-101500-small"
    shutil.copytree(FIXTURES / "run-jetson", run)
    results = json.loads((run / "results.json").read_text())
    for row in results["rows"]:
        name = row.get("model")
        if name in models.BUNDLED:
            row["model_path"] = str(models.bundled_path(name))
    (run / "results.json").write_text(json.dumps(results))
    monkeypatch.setenv("EDGETUI_RUNS_DIR", str(runs))
    monkeypatch.setattr(history_mod.socket, "gethostname", lambda: "vm")
    return runs


def plan_json(capsys, *args: str) -> dict:
    assert main(["plan", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_counts_the_shipped_profiles(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGETUI_RUNS_DIR", str(tmp_path / "no-runs"))
    out = plan_json(capsys, *SHIPPED)
    expected = {str(load_profile(p).path): len(expand(load_profile(p))) for p in SHIPPED}
    assert {p["path"]: len(p["configs"]) for p in out["profiles"]} == expected
    assert out["configurations"] == sum(expected.values())
    for p in out["profiles"]:
        assert all(c["basis"] == DEFAULTS for c in p["configs"])  # no earlier run here
        assert p["seconds"] == pytest.approx(sum(c["seconds"] for c in p["configs"])
                                             + load_profile(p["path"]).idle_baseline_s
                                             + load_profile(p["path"]).cooldown_s * len(p["configs"]))
    assert out["seconds"] == pytest.approx(sum(p["seconds"] for p in out["profiles"]))
    # the text: each configuration by its swept values, the total
    assert main(["plan", str(REPO / "profiles" / "demo.toml")]) == 0
    text = capsys.readouterr().out
    assert "4 configuration(s), swept: model, n_threads" in text
    assert "gemma3-270m-q4_k_m t2  ~" in text and "estimated" in text and "(defaults)" in text


def test_plan_refuses_a_bad_profile_with_exit_2(capsys):
    assert main(["plan", str(REPO / "tests" / "bad_profiles" / "zero_threads.toml")]) == 2
    assert "sweep.n_threads" in capsys.readouterr().err


def test_estimates_from_the_same_configuration_of_an_earlier_run(runs, capsys):
    rows = {r["config_id"]: r for r in json.loads(next(runs.glob("*/results.json")).read_text())["rows"]}
    out = plan_json(capsys, str(FIXTURES / "profiles" / "small.toml"))
    configs = {c.config_id: c for c in expand(load_profile(FIXTURES / "profiles" / "small.toml"))}
    for c in out["profiles"][0]["configs"]:
        assert c["basis"] == SAME_CONFIG
        row = rows[c["config_id"]]
        rates = estimate.Rates(row["decode_tps_mean"], row["prefill_tps_mean"], row["load_s"], SAME_CONFIG)
        assert c["seconds"] == pytest.approx(config_seconds(configs[c["config_id"]], rates))


def test_estimates_from_the_same_model_file_at_other_settings(runs, tmp_path, capsys):
    profile = tmp_path / "p.toml"
    profile.write_text((FIXTURES / "profiles" / "small.toml").read_text().replace("n_ctx = [256]", "n_ctx = [512]"))
    out = plan_json(capsys, str(profile))
    history = board_history(runs)
    for c in out["profiles"][0]["configs"]:
        assert c["basis"] == SAME_MODEL
    # smollm2 at 2 threads: the rate measured at 2 threads, not the one at 1
    first = next(c for c in out["profiles"][0]["configs"] if c["values"] == {"model": "smollm2-135m-q4_1",
                                                                             "n_threads": 2})
    measured = [r for r in history.records if r.model == "smollm2-135m-q4_1" and r.n_threads == 2]
    cfg = next(c for c in expand(load_profile(profile)) if c.config_id == first["config_id"])
    rates = estimate.Rates(measured[0].decode_tps, measured[0].prefill_tps, measured[0].load_s, SAME_MODEL)
    assert first["seconds"] == pytest.approx(config_seconds(cfg, rates))


def test_another_model_is_scaled_by_the_bytes_of_its_weights(tmp_path):
    small = write_gguf(tmp_path / "small.gguf", dims=(64, 32))
    big = write_gguf(tmp_path / "big.gguf", dims=(256, 32))
    profile = tmp_path / "p.toml"
    profile.write_text(f'name = "p"\n[[models]]\npath = "{big}"\n[sweep]\nn_threads = 2\nn_ctx = 256\n'
                       f'[workload]\nprompt_tokens = 32\ngen_tokens = 32\n')
    (c,) = expand(load_profile(profile))
    ref = Measured(config_id="other", model_key=str(small), model="small", n_threads=2, decode_tps=80.0,
                   prefill_tps=800.0, load_s=0.2, model_bytes=small.stat().st_size)
    files = ModelFiles()
    rates = rates_for(c, History([ref]), files.of(c))
    ratio = small.stat().st_size / big.stat().st_size
    assert rates.basis == "scaled from small by weight size"
    assert (rates.decode_tps, rates.prefill_tps) == (pytest.approx(80.0 * ratio), pytest.approx(800.0 * ratio))
    assert rates_for(c, History(), files.of(c)).basis == DEFAULTS


def test_a_configuration_that_will_not_fit_is_marked(tmp_path, monkeypatch, capsys):
    gguf = write_gguf(tmp_path / "m.gguf", dims=(1024, 256))  # 2 MiB of weights
    profile = tmp_path / "p.toml"
    profile.write_text(f'name = "p"\n[[models]]\npath = "{gguf}"\n[sweep]\nn_threads = 1\nn_ctx = [256, 4096]\n'
                       f'[workload]\nprompt_tokens = 32\ngen_tokens = 32\n')
    configs = expand(load_profile(profile))
    need = estimate_plan(configs, available_bytes=10**12)
    assert all(e.fits for e in need) and need[1].memory_bytes > need[0].memory_bytes  # the KV cache grows
    assert need[0].memory_bytes > gguf.stat().st_size + estimate.MARGIN_BYTES
    little = (need[0].memory_bytes + need[1].memory_bytes) // 2  # room for the short context only
    marked = estimate_plan(configs, available_bytes=little)
    assert [e.fits for e in marked] == [True, False]
    assert marked[1].memory_note() == f"needs ~{need[1].memory_bytes / 1e6:.0f} MB, {little / 1e6:.0f} MB available"

    class Memory:
        available = little

    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory())
    monkeypatch.setenv("EDGETUI_RUNS_DIR", str(tmp_path / "runs"))
    assert main(["plan", str(profile)]) == 0
    text = capsys.readouterr().out
    assert f"! {marked[1].memory_note()}" in text and "1 configuration(s) will not fit" in text


def test_run_asks_for_yes_past_500_configurations(tmp_path, capsys):
    profile = tmp_path / "big.toml"
    ctx = ", ".join(str(256 + i) for i in range(26))
    profile.write_text(f'name = "big"\n[[models]]\nname = "smollm2-135m-q4_1"\n[sweep]\n'
                       f'n_threads = [{", ".join(str(t) for t in range(1, 21))}]\nn_ctx = [{ctx}]\n'
                       f'[workload]\nprompt_tokens = 16\ngen_tokens = 16\n')
    assert len(expand(load_profile(profile))) == 520
    assert main(["run", str(profile), "--headless", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "520 configurations" in err and "--yes" in err
    assert not (tmp_path / "out").exists()


def test_the_live_eta_uses_the_boards_earlier_runs_until_the_run_has_rates(runs):
    from edgetui.rundir.follow import LiveState

    configs = expand(load_profile(FIXTURES / "profiles" / "small.toml"))
    state = LiveState({"schema": 1, "configs": [c.to_dict() for c in configs]})
    assert state.eta(0.0) == pytest.approx(estimate.estimate_seconds(configs))  # nothing known: the defaults
    history = board_history(runs)
    state = LiveState({"schema": 1, "configs": [c.to_dict() for c in configs]})
    state.history_source = lambda: history
    expected = sum(e.seconds for e in estimate_plan(configs, history, available_bytes=1))
    assert state.eta(0.0) == pytest.approx(expected)
    assert expected != pytest.approx(estimate.estimate_seconds(configs))


def test_the_live_eta_reads_each_model_header_once_not_on_every_redraw(tmp_path, monkeypatch):
    """The live screen asks for the ETA twice a second; the model file's header (a vocabulary of
    up to 250,000 strings) is read for the first answer only."""
    from edgetui.models import gguf as gguf_mod
    from edgetui.rundir.follow import LiveState

    model = write_gguf(tmp_path / "m.gguf", dims=(64, 32))
    profile = tmp_path / "p.toml"
    profile.write_text(f'name = "p"\n[[models]]\npath = "{model}"\n[sweep]\nn_threads = [1, 2]\nn_ctx = 256\n'
                       f'[workload]\nprompt_tokens = 32\ngen_tokens = 32\n')
    configs = expand(load_profile(profile))
    reads = []
    real = gguf_mod.read_info
    monkeypatch.setattr(gguf_mod, "read_info", lambda path: reads.append(path) or real(path))
    state = LiveState({"schema": 1, "configs": [c.to_dict() for c in configs]})
    first = state.eta(0.0)
    for t in range(1, 20):
        assert state.eta(float(t)) == pytest.approx(first)
    assert len(reads) == 1
