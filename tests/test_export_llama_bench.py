"""`edgetui export`: a run in llama-bench's formats, read back with llama-bench's field names, one
record per configuration and test (pp and tg), the samples being the counted repetitions."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edgetui.ranking.llamabench import FIELDS, SAMPLES, VENDORED_LLAMA_CPP, build_of, export_llama_bench, records
from edgetui.rundir.store import RunStore

from conftest import run_cli
from result_rows import make_row, write_run

# llama-bench's JSONL keys that edgetui writes (tools/llama-bench/llama-bench.cpp test::get_fields)
LLAMA_BENCH_KEYS = {"model_filename", "model_type", "model_size", "n_threads", "n_gpu_layers", "n_batch",
                    "flash_attn", "type_k", "n_prompt", "n_gen", "n_depth", "avg_ts", "stddev_ts", "avg_ns",
                    "stddev_ns", "samples_ts", "samples_ns"}


def rep(config_id: str, i: int, prefill_tps: float, decode_tps: float, *, warmup: bool = False) -> dict:
    return {"config_id": config_id, "rep": i, "warmup": warmup, "prompt_tokens": 32, "engine_prefill_n": 32,
            "engine_decode_n": 31, "gen_tokens_actual": 32, "first_token_count": 1,
            "prefill_tps": prefill_tps, "decode_tps": decode_tps}


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "run"
    rows = [make_row("aaa", model_path="/m/smollm2.gguf", model_size_mb=100.0, n_threads=2, n_depth=512,
                     kv_cache_type="q8_0", flash_attn="true", prefill_tps_mean=450.0, prefill_tps_std=50.0,
                     decode_tps_mean=110.0, decode_tps_std=10.0, started_at="2026-01-01T00:00:00+00:00",
                     cpu_model="Cortex-A76"),
            make_row("bbb", status="failed", error="signal 9")]
    write_run(folder, rows)
    store = RunStore(folder)
    store.write_manifest({"status": "finished"})
    for r in (rep("aaa", 0, 999.0, 999.0, warmup=True), rep("aaa", 0, 400.0, 100.0), rep("aaa", 1, 500.0, 120.0)):
        store.append_rep(r)
    return folder


def test_jsonl_reads_back_with_llama_benchs_field_names(run, tmp_path):
    out = tmp_path / "bench.jsonl"
    proc = run_cli("export", str(run), "--format", "llama-bench-jsonl", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 2  # the finished configuration's pp and tg; the failed one has no figures
    pp, tg = recs
    assert LLAMA_BENCH_KEYS <= set(pp) and list(pp)[: len(FIELDS) + 2] == [*FIELDS, *SAMPLES]
    # prefill as llama-bench's pp test: n_prompt tokens, no generation; samples = counted repetitions
    assert (pp["n_prompt"], pp["n_gen"], pp["n_depth"]) == (32, 0, 512)
    assert pp["samples_ts"] == [400.0, 500.0]  # the warm-up is not a sample
    assert pp["samples_ns"] == [round(32e9 / 400.0), round(32e9 / 500.0)]
    assert pp["avg_ts"] == pytest.approx(450.0) and pp["stddev_ts"] == pytest.approx(70.7107, rel=1e-4)
    assert pp["avg_ns"] == round((32e9 / 400 + 32e9 / 500) / 2)
    # decode as llama-bench's tg test: the tokens generated (32, the first out of the prefill), at
    # the context it decoded at (the depth and the prompt before it); a sample's time is 32 tokens at its rate
    assert (tg["n_prompt"], tg["n_gen"], tg["n_depth"]) == (0, 32, 512 + 32)
    assert tg["samples_ts"] == [100.0, 120.0] and tg["avg_ts"] == pytest.approx(110.0)
    assert tg["samples_ns"] == [round(32e9 / 100.0), round(32e9 / 120.0)]
    for r in (pp, tg):
        assert (r["model_filename"], r["model_size"], r["n_threads"], r["n_batch"]) == ("/m/smollm2.gguf",
                                                                                         100_000_000, 2, 512)
        assert (r["type_k"], r["type_v"], r["flash_attn"], r["n_gpu_layers"]) == ("q8_0", "q8_0", 1, 0)
        assert r["test_time"] == "2026-01-01T00:00:00Z" and r["cpu_info"] == "Cortex-A76"  # llama-bench's form
        assert r["edgetui_config_id"] == "aaa"


def test_json_csv_and_markdown_hold_the_same_records(run, tmp_path):
    as_jsonl = [json.loads(line) for line in run_cli("export", str(run)).stdout.splitlines()]
    as_json = json.loads(run_cli("export", str(run), "--format", "json").stdout)
    assert as_json == as_jsonl
    table = list(csv.DictReader(io.StringIO(run_cli("export", str(run), "--format", "csv").stdout)))
    assert [(r["n_prompt"], r["n_gen"]) for r in table] == [("32", "0"), ("0", "32")]
    assert (table[0]["cpu_strict"], table[0]["repack"]) == ("0", "1")  # llama-bench's std::to_string(bool)
    assert float(table[0]["avg_ts"]) == pytest.approx(450.0) and "samples_ns" not in table[0]
    md = run_cli("export", str(run), "--format", "llama-bench-md").stdout
    lines = md.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["model", "size", "params", "backend", "ngl",
                                                               "threads", "test", "t/s"]
    assert len(lines) == 4 and all(line.count("|") == 9 for line in lines)
    assert "pp32 @ d512" in md and "tg32 @ d544" in md and "450.00 ± 70.71" in md and "95.37 MiB" in md


def test_a_results_file_alone_gives_the_means_without_samples(run):
    recs = records([run / "results.csv"])  # its folder is a run: the samples are found beside it
    assert recs[0]["samples_ts"] == [400.0, 500.0]
    alone = run.parent / "copy.csv"
    alone.write_text((run / "results.csv").read_text())
    recs = records([alone])
    assert recs[0]["samples_ts"] == [] and recs[0]["avg_ns"] is None  # missing, not zero
    assert recs[0]["avg_ts"] == 450.0 and recs[0]["stddev_ts"] == 50.0


def test_an_existing_file_is_kept_without_force(run, tmp_path):
    out = tmp_path / "bench.jsonl"
    out.write_text("mine\n")
    proc = run_cli("export", str(run), "--out", str(out))
    assert proc.returncode == 2 and "--force" in proc.stderr and out.read_text() == "mine\n"
    assert run_cli("export", str(run), "--out", str(out), "--force").returncode == 0
    assert out.read_text().startswith("{")
    bad = run_cli("export", str(run), "--format", "sql")
    assert bad.returncode == 2 and "llama-bench-jsonl" in bad.stderr


# ------------------------------------------------------------ llama.cpp's own reader of these files

SOURCE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgetui" / "sources" / \
    "llama-cpp-python-0.3.36"
COMPARE = SOURCE / "vendor" / "llama.cpp" / "scripts" / "compare-llama-bench.py"
needs_source = pytest.mark.skipif(not COMPARE.is_file(), reason=f"llama-cpp-python's source is not in {SOURCE} "
                                  "(make setup fetches it: scripts/llama-source.sh)")


@needs_source
def test_every_field_llama_bench_writes_in_its_order():
    cpp = (SOURCE / "vendor" / "llama.cpp" / "tools" / "llama-bench" / "llama-bench.cpp").read_text()
    block = cpp[cpp.index("get_fields() {"):]
    block = block[: block.index("};")]
    assert tuple(re.findall(r'"(\w+)"', block)) == FIELDS


@needs_source
def test_the_recorded_build_is_the_one_the_pinned_sdist_vendors():
    changelog = (SOURCE / "CHANGELOG.md").read_text()
    entry = changelog[changelog.index("## [0.3.36]"):]
    entry = entry[: entry.index("\n## [", 1)]
    assert f"ggml-org/llama.cpp@{VENDORED_LLAMA_CPP['0.3.36'][0]}" in entry


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    """The same configuration measured by two llama.cpp builds: the second decodes 10% faster."""
    folders = []
    for name, version, decode in (("base", "0.3.36", (100.0, 102.0)), ("new", "9.9.9", (110.0, 112.2))):
        folder = tmp_path / name
        write_run(folder, [make_row("aaa", model_path="/m/smollm2.gguf", model_type="llama ?B Q4_1",
                                    engine_version=f"llama-cpp-python {version}", cpu_model="Cortex-A76",
                                    kv_cache_type="f16", prefill_tps_mean=450.0, decode_tps_mean=sum(decode) / 2,
                                    started_at=f"2026-01-0{len(folders) + 1}T00:00:00+00:00")])
        store = RunStore(folder)
        store.write_manifest({"status": "finished"})
        for i, d in enumerate(decode):
            store.append_rep(rep("aaa", i, 450.0, d) | {"gen_tokens_actual": 32})
        folders.append(folder)
    return folders[0], folders[1]


def compare(cwd: Path, *args: str) -> list[list[str]]:
    """compare-llama-bench.py's table (its pipe format), as rows of cells."""
    proc = subprocess.run([sys.executable, str(COMPARE), "-b", "0c1e57098", "-c", "1a2b3c4d5", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|") and ":--" not in line]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


@needs_source
@pytest.mark.parametrize("fmt", ["llama-bench-jsonl", "json", "csv", "llama-bench-sql"])
def test_compare_llama_bench_reads_the_export_of_two_runs(tmp_path, monkeypatch, fmt):
    base, new = two_runs(tmp_path)
    # a second build for the test: the one recorded for 0.3.36, and a made-up one for "9.9.9"
    monkeypatch.setitem(VENDORED_LLAMA_CPP, "9.9.9", ("1a2b3c4d5", 11400))
    name = {"llama-bench-sql": "llama-bench.sqlite", "csv": "bench.csv", "json": "bench.json"}.get(fmt, "b.jsonl")
    work = tmp_path / "work"
    work.mkdir()
    export_llama_bench([base, new], fmt, work / name)
    # the SQLite file is read without -i, as the script reads llama-bench.sqlite by default (the
    # other formats need --tool: the script tells llama-bench's from test-backend-ops' by the table)
    table = compare(work, "--tool", "llama-bench", *(() if fmt == "llama-bench-sql" else ("-i", name)))
    header, rows = table[0], {r[table[0].index("Test")]: r for r in table[1:]}
    assert set(rows) == {"pp32", "tg32@d32"}  # llama-bench's names: 32 generated after the 32-token prompt
    speed = header.index("Speedup")
    assert float(rows["tg32@d32"][speed]) == pytest.approx(1.10, abs=0.005)
    assert float(rows["pp32"][speed]) == pytest.approx(1.00, abs=0.005)


def test_the_sqlite_export_has_llama_benchs_table_and_types(run, tmp_path):
    out = tmp_path / "llama-bench.sqlite"
    proc = run_cli("export", str(run), "--format", "llama-bench-sql", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(out) as db:
        columns = {name: kind for _, name, kind, *_ in db.execute("PRAGMA table_info(llama_bench)")}
        rows = db.execute("SELECT n_prompt, n_gen, n_depth, avg_ts, cpu_strict, build_commit FROM llama_bench").fetchall()
    assert list(columns)[: len(FIELDS)] == list(FIELDS)
    assert (columns["n_gen"], columns["cpu_strict"], columns["avg_ts"], columns["cpu_info"]) == (
        "INTEGER", "INTEGER", "REAL", "TEXT")
    assert [r[:3] for r in rows] == [(32, 0, 512), (0, 32, 544)] and rows[0][4] == 0
    assert rows[1][3] == pytest.approx(110.0)
    no_file = run_cli("export", str(run), "--format", "llama-bench-sql")
    assert no_file.returncode == 2 and "--out" in no_file.stderr
    again = run_cli("export", str(run), "--format", "llama-bench-sql", "--out", str(out))
    assert again.returncode == 2 and "--force" in again.stderr


def test_a_server_run_names_no_llama_cpp_build():
    assert build_of({"engine": "ollama", "engine_version": "ollama 0.5.1"}) == ("unknown", 0)
    assert build_of({"engine": "llama_cpp", "engine_version": "llama-cpp-python 0.3.36"}) == ("0c1e57098", 11312)
    assert build_of({"engine": "llama_cpp", "engine_version": "llama-cpp-python 0.0.1"}) == ("unknown", 0)
