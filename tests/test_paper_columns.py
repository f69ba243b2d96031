"""The paper's own figures (paper_tps, paper_mj_per_mtok) on a known trace, beside the correct
ones; and the shipped paper profiles send the prompts the paper's code sent."""

from __future__ import annotations

import pytest

from edgetui.profiles.plan import expand
from edgetui.profiles.schema import load_profile
from edgetui.run.aggregate import result_row

from conftest import REPO

CONFIG = {"config_id": "c", "profile": "p", "engine": "ollama", "model": "m", "n_threads": 0, "n_gpu_layers": -1,
          "n_ctx": 2048, "n_batch": 512, "flash_attn": "auto", "kv_cache_type": "f16", "prompt_tokens": None,
          "gen_tokens": 100}


def rep(i: int, t_start: float, ttft_s: float, t_end: float, produced: int, watts: float) -> dict:
    dur = t_end - t_start
    return {"config_id": "c", "rep": i, "warmup": False, "t_start": t_start, "t_first_token": t_start + ttft_s,
            "t_end": t_end, "gen_tokens_actual": produced, "first_token_count": 1, "prompt_tokens": 12,
            "ttft_ms": ttft_s * 1000, "e2e_tps": produced / dur, "decode_tps": (produced - 1) / (dur - ttft_s),
            "power_w_mean": watts, "energy_j": watts * dur}


def test_the_papers_throughput_is_the_cap_over_the_mean_request_time():
    # 100 tokens asked; the model stopped at 60 and 80; requests of 2 s and 3 s (TTFT 0.5 s each)
    reps = [rep(0, 10.0, 0.5, 12.0, 60, 8.0), rep(1, 20.0, 0.5, 23.0, 80, 12.0)]
    row = result_row(CONFIG, reps, status="done", error=None, context={})
    assert row["paper_tps"] == pytest.approx(100 / 2.5)  # num_tokens / avg_time_s, as benchmark.py
    assert row["power_w_mean"] == pytest.approx(10.0)
    assert row["paper_mj_per_mtok"] == pytest.approx(10.0 / 40.0)
    # the correct figures count the tokens produced and leave TTFT out of decode
    assert row["e2e_tps_mean"] == pytest.approx((60 / 2 + 80 / 3) / 2)
    assert row["decode_tps_mean"] == pytest.approx((59 / 1.5 + 79 / 2.5) / 2)
    assert row["energy_j_per_token"] == pytest.approx((16.0 / 60 + 36.0 / 80) / 2)
    assert row["paper_tps"] > row["e2e_tps_mean"]  # the cap overstates a model that stops early


def test_without_power_the_papers_energy_is_empty_not_zero():
    reps = [rep(0, 10.0, 0.5, 12.0, 100, 8.0)]
    reps[0]["power_w_mean"] = None
    row = result_row(CONFIG, reps, status="done", error=None, context={})
    assert row["paper_tps"] == pytest.approx(50.0) and row["paper_mj_per_mtok"] is None
    assert result_row(CONFIG, [], status="failed", error="x", context={})["paper_tps"] is None


PAPER_PROMPTS = {  # what LLM-Edge-Benchmarking-Suite sent on each board
    "ollama": "Q: Why is the sky blue?\nA:",
    "hailo": "Explain why the sky is blue in one paragraph.",
    "ax630c": "Explain why the sky is blue.",
}
RUNTIME = {"rpi5-ollama": ("ollama", "generate", None), "jetson-orin-ollama-cpu": ("ollama", "generate", None),
           "jetson-orin-ollama-gpu": ("ollama", "generate", None), "rpi5-hailo-ollama": ("hailo", "chat", None),
           "m5stack-stackflow": ("ax630c", None, "You are a knowledgeable assistant.")}
IN_PROCESS = {"rpi5": "ollama", "jetson-orin-cpu": "ollama", "jetson-orin-gpu": "ollama", "rpi5-hailo": "hailo",
              "m5stack-llm": "ax630c"}


@pytest.mark.parametrize("stem", sorted(RUNTIME))
def test_a_paper_runtime_profile_sends_the_papers_prompt(stem):
    p = load_profile(REPO / "profiles" / "paper-runtime" / f"{stem}.toml")
    which, api, system = RUNTIME[stem]
    assert p.prompt == PAPER_PROMPTS[which] and p.engine.api == api and p.system_prompt == system
    assert {c.system_prompt for c in expand(p)} == {system}


@pytest.mark.parametrize("stem", sorted(IN_PROCESS))
def test_a_paper_in_process_profile_prefills_the_papers_prompt(stem):
    p = load_profile(REPO / "profiles" / "paper" / f"{stem}.toml")
    assert p.prompt == PAPER_PROMPTS[IN_PROCESS[stem]]
