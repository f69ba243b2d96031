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
