"""Files from outside read as untrusted: a TOML value nested deep (a profile, a ranking export)
is a clear error, not a RecursionError; a JSON-lines file's lines that are not objects are
skipped as a torn line is, never handed to readers that take records for objects."""

from __future__ import annotations

import json

import pytest

from edgetui.errors import UserError
from edgetui.profiles.schema import load_profile
from edgetui.ranking.export import load_ranking_export
from edgetui.rundir.store import RunStore, read_jsonl
from edgetui.tomlread import MAX_DEPTH, TOMLTooDeep, loads, tomllib

from conftest import run_cli, write_profile

PROFILE = """name = "deep"
[[models]]
name = "smollm2-135m-q4_1"
"""


@pytest.mark.parametrize("depth", [5000, MAX_DEPTH + 1])  # past Python's stack, and parsed but too deep
def test_a_profile_nested_deep_is_a_clear_error(tmp_path, depth):
    path = write_profile(tmp_path / "deep.toml", f"x = {'[' * depth}{']' * depth}\n" + PROFILE)
    with pytest.raises(UserError) as caught:
        load_profile(path)
    assert caught.value.where == str(path)
    assert f"malformed TOML: a value is nested more than {MAX_DEPTH} levels deep" in caught.value.message


def test_edgetui_run_refuses_it_with_exit_2(tmp_path):
    path = write_profile(tmp_path / "deep.toml", f"x = {'[' * 5000}{']' * 5000}\n" + PROFILE)
    proc = run_cli("run", str(path), "--headless", "--out", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "nested more than" in proc.stderr and str(path) in proc.stderr


def test_a_ranking_export_nested_deep_is_a_clear_error(tmp_path):
    path = tmp_path / "ranking.toml"
    path.write_text(f"[ranking]\nweights = {'{a = ' * 3000}1{'}' * 3000}\n")
    with pytest.raises(UserError, match="unreadable TOML: a value is nested more than"):
        load_ranking_export(path)


def test_nesting_at_the_limit_reads_and_the_error_is_a_toml_decode_error():
    at_limit = "x = " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)  # the document itself is a level
    assert loads(at_limit)["x"] is not None
    with pytest.raises(tomllib.TOMLDecodeError):
        loads("x = " + "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert issubclass(TOMLTooDeep, tomllib.TOMLDecodeError)


def test_json_lines_that_are_not_objects_are_skipped(tmp_path):
    store = RunStore(tmp_path)
    good = [{"config_id": "a", "status": "done"}, {"config_id": "b", "status": "failed"}]
    lines = [json.dumps(good[0]), "[1, 2]", '"a string"', "3", "null", "1" * 5000, "[" * 100_000 + "]" * 100_000,
             "{not json", json.dumps(good[1])]
    store.configs_path.write_text("".join(line + "\n" for line in lines) + '{"config_id": "c", "sta')  # torn tail
    assert list(read_jsonl(store.configs_path)) == good
    assert set(store.config_statuses()) == {"a", "b"}


def test_a_followed_line_nested_past_the_parsers_depth_is_skipped(tmp_path):
    from edgetui.rundir.follow import JsonlTail

    path = tmp_path / "events.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n" + '{"ev": "run_end", "t": 1.0}\n')
    assert JsonlTail(path).read() == [{"ev": "run_end", "t": 1.0}]
