"""Profile validation: good profiles parse; every bad one is refused with file, key, line and
what was expected, before anything runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgetui.errors import UserError
from edgetui.profiles.plan import expand
from edgetui.profiles.schema import load_profile, load_profiles, schema_markdown

from conftest import REPO, run_cli, write_profile

BAD = sorted((Path(__file__).parent / "bad_profiles").glob("*.toml"))


def _expectation(path: Path) -> tuple[str, int | None]:
    text = path.read_text()
    expect = re.search(r"^# expect: (.*)$", text, re.M).group(1)
    line = re.search(r"^# line: (\d+)$", text, re.M)
    return expect, int(line.group(1)) if line else None


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_profile_is_refused_with_a_clear_message(path: Path):
    expect, line = _expectation(path)
    with pytest.raises(UserError) as info:
        load_profile(path)
    message = str(info.value)
    assert expect in message
    assert str(path) in message
    if line is not None:
        assert f"{path}:{line}:" in message


@pytest.mark.parametrize("path", BAD[:4], ids=[p.stem for p in BAD[:4]])
def test_bad_profile_on_the_command_line_exits_2_without_traceback(path: Path, tmp_path):
    proc = run_cli("run", str(path), "--headless", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("edgetui: error: ")
    assert not (tmp_path / "out").exists()  # refused before anything ran


@pytest.mark.parametrize("path", sorted((REPO / "profiles").rglob("*.toml")), ids=lambda p: p.stem)
def test_shipped_profiles_are_valid(path: Path):
    profile = load_profile(path)
    assert expand(profile)


def test_paper_profiles_follow_the_paper_method():
    for path in sorted((REPO / "profiles" / "paper").glob("*.toml")):
        p = load_profile(path)
        assert (p.repetitions, p.warmup, p.gen_tokens) == (5, 1, (100,))
        assert p.board.volume_cm3 and p.board.price_usd
    pi = load_profile(REPO / "profiles" / "paper" / "rpi5.toml")
    assert pi.board.volume_cm3 == pytest.approx(85 * 56 * 17 / 1000)
    assert pi.board.price_usd == 222.75


def test_defaults_and_scalars_become_axes(tmp_path):
    p = load_profile(write_profile(tmp_path / "p.toml", """
name = "d"
[[models]]
path = "m/model.gguf"
[sweep]
n_threads = 3
"""))
    assert p.sweep["n_threads"] == [3]
    assert p.sweep["flash_attn"] == ["auto"]  # llama.cpp's own default, not llama_cpp.Llama's off
    assert p.models[0].path == str((tmp_path / "m/model.gguf").resolve())
    assert p.models[0].label == "model"
    assert (p.repetitions, p.warmup, p.prompt_tokens, p.gen_tokens) == (3, 1, (64,), (128,))


def test_duplicate_profile_names_are_refused(tmp_path):
    a = write_profile(tmp_path / "a.toml", 'name = "same"\n[[models]]\nname = "smollm2-135m-q4_1"\n')
    b = write_profile(tmp_path / "b.toml", 'name = "same"\n[[models]]\nname = "smollm2-135m-q4_1"\n')
    with pytest.raises(UserError, match='profile name "same" is also used by'):
        load_profiles([a, b])


def test_missing_profile_file(tmp_path):
    with pytest.raises(UserError, match="no such profile file"):
        load_profile(tmp_path / "nope.toml")


def test_schema_reference_lists_every_key():
    table = schema_markdown()
    for key in ("n_threads", "kv_cache_type", "idle_baseline_s", "dimensions_mm", "meter_csv", "prompt_tokens"):
        assert f"`{key}`" in table


def test_readme_documents_every_profile_key():
    # the README's key table is schema_markdown() itself, so its words cannot drift from the code
    assert schema_markdown() in (REPO / "README.md").read_text()


def test_readme_documents_every_result_column():
    from edgetui.rundir.columns import COLUMN_DOCS, RESULT_COLUMNS

    readme = (REPO / "README.md").read_text()
    assert set(COLUMN_DOCS) == set(RESULT_COLUMNS)
    for col in RESULT_COLUMNS:
        assert f"| `{col}` | {COLUMN_DOCS[col]} |" in readme, f"README lacks column {col}"


def test_a_server_engine_leaves_threads_and_gpu_layers_to_the_server(tmp_path):
    p = load_profile(write_profile(tmp_path / "o.toml", """
name = "o"
[engine]
kind = "ollama"
url = "http://127.0.0.1:11434"
[[models]]
name = "qwen2.5:0.5b"
"""))
    assert p.sweep["n_threads"] == [0] and p.sweep["n_gpu_layers"] == [-1]
    assert "t:server ngl:server" in expand(p)[0].describe()


@pytest.mark.parametrize("stem", ["concurrency_in_process", "concurrency_on_stackflow", "depth_on_server"])
def test_an_axis_the_engine_cannot_measure_is_refused_before_anything_runs(tmp_path, stem):
    proc = run_cli("run", str(Path(__file__).parent / "bad_profiles" / f"{stem}.toml"), "--headless",
                   "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert _expectation(Path(__file__).parent / "bad_profiles" / f"{stem}.toml")[0] in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out" / "run.json").exists()
