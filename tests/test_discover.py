"""Model discovery (`edgetui models`) on a fixture tree: folders, $EDGETUI_MODEL_DIRS and a Hugging
Face cache in its snapshots/ layout, with a truncated GGUF, a file named .gguf that is not one and
a link to a blob never downloaded; an Ollama server's models from the stand-in. Every file is
listed, the readable ones with the facts of their header, the others with the reason."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from edgetui.cli import main
from edgetui.engines.catalog import catalogue, parameter_count
from edgetui.models.discover import discover, format_params, hf_hub_cache, search_folders

from standins.ollama_server import StandinOllama


def _s(text: str) -> bytes:
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path: Path, *, arch: str = "llama", file_type: int = 7, dims: tuple[int, ...] = (64, 32),
               n_tensors: int = 2) -> Path:
    """A small GGUF v3 file: a few metadata keys and n_tensors F32 tensors of `dims`, data included."""
    kv = [("general.architecture", 8, _s(arch)), ("general.file_type", 4, struct.pack("<I", file_type)),
          (f"{arch}.block_count", 4, struct.pack("<I", 2)), (f"{arch}.embedding_length", 4, struct.pack("<I", 64)),
          (f"{arch}.attention.head_count", 4, struct.pack("<I", 4))]
    head = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kv))
    for key, vtype, value in kv:
        head += _s(key) + struct.pack("<I", vtype) + value
    count = 1
    for d in dims:
        count *= d
    for i in range(n_tensors):
        head += _s(f"t{i}") + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", 0, i * count * 4)
    head += b"\0" * (-len(head) % 32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + b"\0" * (n_tensors * count * 4))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    cwd, home, extra = tmp_path / "work", tmp_path / "home", tmp_path / "extra"
    good = write_gguf(cwd / "models" / "tiny-Q8_0.gguf")
    write_gguf(home / "models" / "org" / "other.gguf", arch="qwen2", file_type=15, n_tensors=3)
    truncated = write_gguf(extra / "cut.gguf")
    truncated.write_bytes(truncated.read_bytes()[:-100])
    (extra / "notes.gguf").write_text("this is not a model\n")
    (extra / "readme.txt").write_text("not listed: not .gguf\n")
    hub = home / ".cache" / "huggingface" / "hub"
    repo = hub / "models--someorg--Tiny-GGUF"
    blob = write_gguf(repo / "blobs" / "a1b2c3", file_type=2)
    snap = repo / "snapshots" / "0123456789abcdef"
    snap.mkdir(parents=True)
    (snap / "tiny.Q4_0.gguf").symlink_to(os.path.relpath(blob, snap))
    (snap / "missing.gguf").symlink_to(os.path.relpath(repo / "blobs" / "never-downloaded", snap))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    return {"cwd": cwd, "home": home, "extra": extra, "hub": hub, "good": good}


def found_by_name(models):
    return {m.name: m for m in models}


def test_folders_searched_in_order(tree):
    env = {"EDGETUI_MODEL_DIRS": f"{tree['extra']}:{tree['extra']}:"}
    folders = search_folders(env, home=tree["home"], cwd=tree["cwd"])
    assert folders == [("folder", tree["cwd"] / "models"), ("folder", tree["home"] / "models"),
                       ("folder", tree["extra"]), ("hf-cache", tree["hub"])]
    assert hf_hub_cache({"HF_HOME": "/x/hf"}, tree["home"]) == Path("/x/hf/hub")
    assert hf_hub_cache({"HF_HUB_CACHE": "/y"}, tree["home"]) == Path("/y")


def test_every_file_listed_with_its_facts_or_its_reason(tree):
    env = {"EDGETUI_MODEL_DIRS": str(tree["extra"])}
    models = discover(search_folders(env, home=tree["home"], cwd=tree["cwd"]), bundled=False)
    by = found_by_name(models)
    assert set(by) == {"tiny-Q8_0.gguf", "org/other.gguf", "cut.gguf", "notes.gguf",
                       "someorg/Tiny-GGUF/tiny.Q4_0.gguf", "someorg/Tiny-GGUF/missing.gguf"}
    tiny = by["tiny-Q8_0.gguf"]
    assert (tiny.quant, tiny.architecture, tiny.n_params, tiny.problem) == ("Q8_0", "llama", 2 * 64 * 32, None)
    assert tiny.size_bytes == tree["good"].stat().st_size and tiny.usable
    other = by["org/other.gguf"]
    assert (other.quant, other.architecture, other.n_params) == ("Q4_K_M", "qwen2", 3 * 64 * 32)
    hf = by["someorg/Tiny-GGUF/tiny.Q4_0.gguf"]
    assert (hf.source, hf.quant, hf.problem) == ("hf-cache", "Q4_0", None)
    assert "truncated" in by["cut.gguf"].problem
    assert "not a GGUF file" in by["notes.gguf"].problem
    assert "cannot read" in by["someorg/Tiny-GGUF/missing.gguf"].problem
    assert not any(m.usable for m in (by["cut.gguf"], by["notes.gguf"]))


def test_a_file_reached_twice_is_listed_once(tree):
    folders = [("folder", tree["cwd"] / "models"), ("folder", tree["cwd"])]
    names = [m.name for m in discover(folders, bundled=False)]
    assert names == ["tiny-Q8_0.gguf"]


def test_bundled_models_come_first():
    models = discover([], bundled=True)
    assert [m.source for m in models] == ["bundled", "bundled"]
    assert [m.name for m in models] == ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"]


def test_the_ollama_servers_models_and_an_absent_server():
    server = StandinOllama(models=("qwen2.5:0.5b", "llama3.2:1b")).start()
    try:
        cat = catalogue([], ollama_url=server.url)
    finally:
        server.stop()
    served = [m for m in cat.models if m.source == "ollama"]
    assert [m.name for m in served] == ["qwen2.5:0.5b", "llama3.2:1b"]
    assert (served[0].quant, served[0].architecture, served[0].n_params) == ("Q4_K_M", "qwen2", 494_030_000)
    assert cat.server_problem is None
    gone = catalogue([], ollama_url=server.url, timeout_s=0.5)  # stopped: refused, a note
    assert gone.server_problem and not any(m.source == "ollama" for m in gone.models)
    assert parameter_count("3.2B") == 3_200_000_000 and parameter_count("big") is None
    assert format_params(135_000_000) == "135M" and format_params(1_540_000_000) == "1.5B"


def test_models_cli_json_and_text(tree, monkeypatch, capsys):
    monkeypatch.chdir(tree["cwd"])
    monkeypatch.setenv("HOME", str(tree["home"]))
    monkeypatch.setenv("EDGETUI_MODEL_DIRS", str(tree["extra"]))
    for var in ("HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    assert main(["models", "--json", "--no-ollama"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [m["name"] for m in out["models"]]
    assert names[:2] == ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"]
    assert "someorg/Tiny-GGUF/tiny.Q4_0.gguf" in names and "notes.gguf" in names
    assert main(["models", "--no-ollama"]) == 0
    text = capsys.readouterr().out
    assert "Hugging Face cache" in text and "unreadable: not a GGUF file" in text
    assert "unreadable: truncated GGUF file" in text
