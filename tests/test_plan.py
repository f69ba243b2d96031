from __future__ import annotations

from dataclasses import replace

from edgetui.profiles.plan import Configuration, expand
from edgetui.profiles.schema import load_profile

from conftest import write_profile

TEXT = """
name = "p"
repetitions = 2
[[models]]
name = "smollm2-135m-q4_1"
[[models]]
name = "gemma3-270m-q4_k_m"
[sweep]
n_threads = [1, 2]
n_ctx = [256, 512]
flash_attn = ["auto", false]
[workload]
prompt_tokens = [16, 32]
gen_tokens = [8]
"""


def test_sweep_is_the_cartesian_product(tmp_path):
    configs = expand(load_profile(write_profile(tmp_path / "p.toml", TEXT)))
    assert len(configs) == 2 * 2 * 2 * 2 * 2
    assert len({c.config_id for c in configs}) == len(configs)
    # models vary slowest, so each model's configurations are neighbours (one load per load key)
    assert [c.model for c in configs[:16]] == ["smollm2-135m-q4_1"] * 16
    # the workload varies fastest: neighbours share a model load
    assert configs[0].load_key == configs[1].load_key
    assert configs[0].prompt_tokens != configs[1].prompt_tokens


def test_ids_are_stable_and_depend_only_on_what_is_measured(tmp_path):
    a = expand(load_profile(write_profile(tmp_path / "a.toml", TEXT)))
    b = expand(load_profile(write_profile(tmp_path / "b.toml", TEXT.replace("repetitions = 2", "repetitions = 7"))))
    assert [c.config_id for c in a] == [c.config_id for c in b]
    c0 = a[0]
    assert replace(c0, profile="other-name").config_id == c0.config_id  # merges across profiles and boards
    assert replace(c0, n_threads=c0.n_threads + 1).config_id != c0.config_id
    assert replace(c0, kv_cache_type="q8_0").config_id != c0.config_id
    assert Configuration.from_dict(c0.to_dict()) == c0


def test_duplicate_axis_values_do_not_duplicate_configurations(tmp_path):
    text = TEXT.replace("n_threads = [1, 2]", "n_threads = [2, 2]")
    configs = expand(load_profile(write_profile(tmp_path / "p.toml", text)))
    assert len(configs) == 16


def test_ids_of_existing_profiles_stay_when_the_new_axes_are_absent():
    # ids computed before n_depth, concurrency and system_prompt existed (resume and merges rely on them)
    from conftest import REPO

    assert [c.config_id for c in expand(load_profile(REPO / "profiles" / "smoke.toml"))] == ["bf8fb96a0368"]
    c0 = expand(load_profile(REPO / "profiles" / "smoke.toml"))[0]
    assert (c0.n_depth, c0.concurrency, c0.system_prompt) == (0, 1, None)
    assert replace(c0, n_depth=512).config_id != c0.config_id
    assert replace(c0, concurrency=4).config_id != c0.config_id
    assert replace(c0, system_prompt="Be brief.").config_id != c0.config_id


def test_depth_and_concurrency_are_sweep_axes(tmp_path):
    server = """
name = "s"
[engine]
kind = "ollama"
url = "http://127.0.0.1:11434"
[[models]]
name = "qwen2.5:0.5b"
[sweep]
concurrency = [1, 4]
[workload]
prompt_tokens = [16]
gen_tokens = 8
"""
    configs = expand(load_profile(write_profile(tmp_path / "s.toml", server)))
    assert [c.concurrency for c in configs] == [1, 4]
    assert "c4" in configs[1].describe() and "c1" not in configs[0].describe()
    depth = TEXT.replace("flash_attn = [\"auto\", false]", "n_depth = [0, 64]")
    configs = expand(load_profile(write_profile(tmp_path / "d.toml", depth)))
    assert sorted({c.n_depth for c in configs}) == [0, 64]
    deep = next(c for c in configs if c.n_depth == 64)
    assert " d64" in deep.describe()
    shallow = replace(deep, n_depth=0)
    assert deep.load_key == shallow.load_key  # the same model load serves every depth
