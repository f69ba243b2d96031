"""Engines declare what they can measure (profiles/engines.py); the schema and the runner ask the
declarations, so a new engine is its module and one entry, and no code compares kind strings."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from edgetui.engines.registry import engine_class
from edgetui.errors import UserError
from edgetui.profiles import engines
from edgetui.profiles.schema import load_profile

from conftest import REPO, write_profile

SERVER = '[engine]\nkind = "ollama"\nurl = "http://127.0.0.1:11434"\n[[models]]\nname = "m"\n'


@pytest.mark.parametrize("kind", list(engines.KINDS))
def test_every_declared_kind_is_served_by_its_class(kind: str):
    assert engine_class(kind).kind == kind


def test_a_refusal_follows_the_declaration_not_the_kind_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write_profile(tmp_path / "p.toml", 'name = "x"\n' + SERVER + "[sweep]\nconcurrency = [1, 4]\n")
    load_profile(path)  # ollama serves concurrent requests
    ollama = engines.KINDS["ollama"]
    no = replace(ollama.capabilities, no_concurrency="serves one request at a time (as declared)")
    monkeypatch.setitem(engines.KINDS, "ollama", replace(ollama, capabilities=no))
    with pytest.raises(UserError) as info:
        load_profile(path)
    assert 'the "ollama" engine serves one request at a time (as declared); concurrency is for the openai engine' \
        in str(info.value)


def test_where_to_go_instead_is_listed_from_the_declarations(monkeypatch: pytest.MonkeyPatch):
    assert engines.engines_with(lambda c: c.no_concurrency is None) == "the ollama and openai engines"
    assert engines.engines_with(lambda c: c.no_quality is None, quoted=True) == 'the "llama_cpp" engine'


def test_system_prompt_follows_the_api_that_has_one():
    openai = engines.KINDS["openai"]
    assert openai.system_prompt_refusal("chat") is None
    assert "completions API has no system prompt" in (openai.system_prompt_refusal(None) or "")
    assert engines.KINDS["ollama"].system_prompt_refusal(None) is None


def test_no_engine_kind_is_compared_outside_the_declarations():
    """Kind strings appear only where engines are declared or implemented (and as the schema's default)."""
    src = REPO / "src" / "edgetui"
    kinds = set(engines.KINDS)
    offenders = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src).as_posix()
        if rel.startswith("engines/") or rel == "profiles/engines.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                sides = (node.left, *node.comparators)
                named = any(isinstance(s, ast.Constant) and s.value in kinds for s in sides)
                # a kind compared: not a model's source (a model listed by an Ollama server)
                of_engine = any("engine" in ast.unparse(s) or "kind" in ast.unparse(s) for s in sides
                                if not isinstance(s, ast.Constant))
                if named and of_engine:
                    offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


def test_the_readme_table_is_made_from_the_declarations():
    assert engines.capabilities_markdown() in (REPO / "README.md").read_text()
