"""`edgetui export`: a run in llama-bench's formats, read back with llama-bench's field names, one
record per configuration and test (pp and tg), the samples being the counted repetitions."""

from __future__ import annotations

import csv
import io
import json

import pytest

from edgetui.ranking.llamabench import FIELDS, SAMPLES, records
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
    # decode as llama-bench's tg test: the tokens the timed decode produced
    assert (tg["n_prompt"], tg["n_gen"]) == (0, 31)
    assert tg["samples_ts"] == [100.0, 120.0] and tg["avg_ts"] == pytest.approx(110.0)
    assert tg["samples_ns"] == [round(31e9 / 100.0), round(31e9 / 120.0)]
    for r in (pp, tg):
        assert (r["model_filename"], r["model_size"], r["n_threads"], r["n_batch"]) == ("/m/smollm2.gguf",
                                                                                         100_000_000, 2, 512)
        assert (r["type_k"], r["type_v"], r["flash_attn"], r["n_gpu_layers"]) == ("q8_0", "q8_0", 1, 0)
        assert r["test_time"] == "2026-01-01T00:00:00+00:00" and r["cpu_info"] == "Cortex-A76"
        assert r["edgetui_config_id"] == "aaa"


def test_json_csv_and_markdown_hold_the_same_records(run, tmp_path):
    as_jsonl = [json.loads(line) for line in run_cli("export", str(run)).stdout.splitlines()]
    as_json = json.loads(run_cli("export", str(run), "--format", "json").stdout)
    assert as_json == as_jsonl
    table = list(csv.DictReader(io.StringIO(run_cli("export", str(run), "--format", "csv").stdout)))
    assert [(r["n_prompt"], r["n_gen"]) for r in table] == [("32", "0"), ("0", "31")]
    assert float(table[0]["avg_ts"]) == pytest.approx(450.0) and "samples_ns" not in table[0]
    md = run_cli("export", str(run), "--format", "llama-bench-md").stdout
    lines = md.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["model", "size", "params", "backend", "ngl",
                                                               "threads", "test", "t/s"]
    assert len(lines) == 4 and all(line.count("|") == 9 for line in lines)
    assert "pp32 @ d512" in md and "tg31 @ d512" in md and "450.00 ± 70.71" in md and "95.37 MiB" in md


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
