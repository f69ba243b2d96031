"""The shipped profiles of the paper's runtime configurations: the paper's boards and workload,
and each one's first configuration driven through its engine against a stand-in server."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from edgetui.engines.registry import engine_class
from edgetui.profiles.plan import expand
from edgetui.profiles.schema import load_profile

from conftest import REPO

sys.path.insert(0, str(Path(__file__).parent))
from standins.ollama_server import StandinOllama  # noqa: E402
from standins.stackflow_server import StandinStackFlow  # noqa: E402

PROFILES = REPO / "profiles" / "paper-runtime"
# PAPER.md: configuration -> (engine, api, port, dimensions mm, price USD, n_gpu_layers); the api is
# the one the paper's code used (benchmark.py: Ollama /api/generate, hailo-ollama /api/chat);
# -1 on the NPU runtimes: no GPU layers to set, nothing is sent, the runtime decides
EXPECTED = {
    "m5stack-stackflow": ("stackflow", None, 10001, (54, 54, 13), 99.90, -1),
    "rpi5-ollama": ("ollama", "generate", 11434, (85, 56, 17), 222.75, 0),
    "rpi5-hailo-ollama": ("ollama", "chat", 8000, (85, 56, 20), 451.83, -1),
    "jetson-orin-ollama-cpu": ("ollama", "generate", 11434, (100, 79, 21), 304.78, 0),
    "jetson-orin-ollama-gpu": ("ollama", "generate", 11434, (100, 79, 21), 304.78, -1),
}


def test_there_is_one_profile_per_paper_runtime_configuration():
    assert sorted(p.stem for p in PROFILES.glob("*.toml")) == sorted(EXPECTED)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_a_paper_profile_has_the_papers_board_and_workload(stem):
    p = load_profile(PROFILES / f"{stem}.toml")
    kind, api, port, dims, price, ngl = EXPECTED[stem]
    assert (p.engine.kind, p.engine.api) == (kind, api)
    assert p.engine.url.endswith(f":{port}")
    assert p.board.dimensions_mm == dims and p.board.price_usd == price
    assert (p.repetitions, p.warmup, p.gen_tokens) == (5, 1, (100,))
    assert p.prompt  # one fixed prompt, as in the paper, the same text in every profile
    assert {c.n_gpu_layers for c in expand(p)} == {ngl}


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_a_paper_profile_drives_its_engine(stem):
    p = load_profile(PROFILES / f"{stem}.toml")
    configs = expand(p)
    names = tuple(c.model_name for c in configs)
    if p.engine.kind == "stackflow":
        server = StandinStackFlow(models=names).start()
    else:
        flavour = "hailo-ollama" if p.engine.url.endswith(":8000") else "ollama"
        server = StandinOllama(models=names, flavour=flavour, decode_tps=2000.0).start()
    try:
        c = dataclasses.replace(configs[0], engine_url=server.url, engine_timeout_s=10.0)
        e = engine_class(c.engine)(c, None, lambda ev: None)
        info = e.load()
        r = e.run_once(c, 0, False)
        e.close()
    finally:
        server.stop()
    assert info.engine_version
    assert r.gen_tokens >= 100 and r.t_start < r.t_first_token < r.t_end
