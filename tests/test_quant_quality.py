"""Quantisation as a sweep axis and the quality pass: the types the quantizer takes, stable ids,
bad input refused before anything runs, and on the real SmolLM2: variants made once and reused,
a refused type failing only its configuration, Q8_0 straying less from the source than Q4_0,
and the quality columns reaching the ranking and both exports."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import pytest

from edgetui.models import quantize
from edgetui.profiles.plan import expand
from edgetui.profiles.schema import parse_profile
from edgetui.ranking.criteria import CRITERIA, parse_weights
from edgetui.ranking.export import export_ranking, load_ranking_export
from edgetui.ranking.frame import frame_from_rows
from edgetui.ranking.rank import rank
from edgetui.tomlread import tomllib

from conftest import REPO, run_cli, write_profile
from result_rows import make_row, write_run

BAD = REPO / "tests" / "bad_profiles"


def test_the_quantizer_types_are_llama_cpps_own():
    import llama_cpp

    for name, ftype in quantize.QUANT_TYPES.items():
        const = "LLAMA_FTYPE_ALL_F32" if name == "F32" else f"LLAMA_FTYPE_MOSTLY_{name}"
        assert getattr(llama_cpp, const) == ftype, name
    assert quantize.check_type("q8_0") == "Q8_0" and quantize.check_type("Source") == "source"
    assert quantize.check_type("Q4_K") == "Q4_K_M"  # llama-quantize's alias
    with pytest.raises(ValueError) as info:
        quantize.check_type("Q9_9")
    assert '"Q4_K_M"' in str(info.value) and "'Q9_9'" in str(info.value)


def _profile(text: str):
    return parse_profile(tomllib.loads(text), Path("/tmp/p.toml"), text)


BASE = """name = "ids"
[[models]]
name = "smollm2-135m-q4_1"
[sweep]
n_threads = [1, 2]
{quant}
[workload]
prompt_tokens = [16]
gen_tokens = 8
"""


def test_a_profile_without_quant_keeps_its_ids_and_each_variant_has_its_own():
    plain = [c.config_id for c in expand(_profile(BASE.format(quant="")))]
    source = [c.config_id for c in expand(_profile(BASE.format(quant='quant = ["source"]')))]
    assert plain == source
    both = expand(_profile(BASE.format(quant='quant = ["source", "Q8_0"]')))
    assert [c.config_id for c in both if c.quant == "source"] == plain
    variants = [c for c in both if c.quant == "Q8_0"]
    assert len(variants) == 2 and not {c.config_id for c in variants} & set(plain)
    assert {c.load_key for c in variants}.isdisjoint({c.load_key for c in both if c.quant == "source"})
    assert "q:Q8_0" in variants[0].describe()
    assert _profile(BASE.format(quant="")).quality is None  # no [quality] section: no pass


def test_an_unknown_quant_type_exits_2_listing_the_valid_ones(tmp_path):
    proc = run_cli("run", str(BAD / "quant_unknown.toml"), "--headless", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for name in ("source", "Q8_0", "Q4_K_M", "Q4_0", "IQ4_XS", "F16"):
        assert f'"{name}"' in proc.stderr, name
    assert "Q9_9" in proc.stderr and not (tmp_path / "out" / "run.json").exists()


@pytest.mark.parametrize("content, words", [
    (b"GGUF\x03\x00\x00\x00\x00\x00binary", "not a text file (it holds NUL bytes)"),
    ("caf\xe9".encode("latin-1"), "not UTF-8 text"),
    (b"  \n\n", "the file is empty"),
])
def test_a_corpus_that_is_not_text_exits_2_naming_it(tmp_path, content, words):
    corpus = tmp_path / "corpus.bin"
    corpus.write_bytes(content)
    profile = write_profile(tmp_path / "p.toml", f"""name = "x"
[[models]]
name = "smollm2-135m-q4_1"
[quality]
corpus = "{corpus.name}"
""")
    proc = run_cli("run", str(profile), "--headless", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr and str(corpus) in proc.stderr and "quality.corpus" in proc.stderr
    assert f"{profile}:5:" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------- the ranking and its exports

def quality_rows():
    common = dict(decode_tps_mean=50.0, quality_reference="source", quality_corpus="bundled", quality_tokens=512)
    return [
        make_row("q00000000001", quant="Q4_1", quality_ppl=20.3, quality_kld_mean=0.0, quality_kld_p99=0.0,
                 quality_top1_agree=1.0, **common),
        make_row("q00000000002", quant="Q8_0", quality_ppl=20.4, quality_kld_mean=0.0054, quality_kld_p99=0.0225,
                 quality_top1_agree=0.936, quant_source="/m/src.gguf", quant_note="requantised from Q4_1 to more bits",
                 **common),
        make_row("q00000000003", quant="Q4_0", quality_ppl=25.5, quality_kld_mean=0.283, quality_kld_p99=1.25,
                 quality_top1_agree=0.686, quant_source="/m/src.gguf", **common),
        make_row("q00000000004", quant="Q4_1", decode_tps_mean=60.0),  # no quality pass: "missing"
    ]


def test_quality_criteria_rank_lower_ppl_and_kld_and_higher_top1_first():
    assert not CRITERIA["ppl"].higher_is_better and not CRITERIA["kld"].higher_is_better
    assert CRITERIA["top1"].higher_is_better
    assert parse_weights("quality_kld_mean=2,top1=1") == {"kld": 2.0, "top1": 1.0}  # a column name works too
    df = frame_from_rows([{**r, "source": "pi5"} for r in quality_rows()])
    for weights in ({"ppl": 1}, {"kld": 1}, {"top1": 1}):
        order = rank(df, weights).table["config_id"].to_list()
        assert order == ["q00000000001", "q00000000002", "q00000000003", "q00000000004"], weights
    table = rank(df, {"kld": 1}).table
    assert table.filter(table["config_id"] == "q00000000004")["missing"].to_list() == ["kld"]


def test_quality_columns_reach_both_exports_and_edgetui_rank(tmp_path):
    df = frame_from_rows([{**r, "source": "pi5"} for r in quality_rows()])
    ranking = rank(df, {"kld": 2, "decode_tps": 1})
    doc = tomllib.loads(export_ranking(ranking, tmp_path / "r.toml").read_text())
    assert doc["ranking"]["criteria"]["kld"]["direction"] == "lower is better"
    first = doc["rows"][0]
    assert first["quality_kld_mean"] == 0.0 and first["quality_top1_agree"] == 1.0 and first["quality_ppl"] == 20.3
    assert doc["rows"][1]["quant_note"] == "requantised from Q4_1 to more bits"
    with export_ranking(ranking, tmp_path / "r.csv").open(newline="") as f:
        rows = {r["config_id"]: r for r in csv.DictReader(f)}
    assert float(rows["q00000000003"]["quality_kld_p99"]) == 1.25
    assert rows["q00000000004"]["quality_ppl"] == ""  # missing stays empty, never a zero
    back = load_ranking_export(tmp_path / "r.csv")
    top1 = dict(zip(back.table["config_id"].to_list(), back.table["quality_top1_agree"].to_list()))
    assert top1 == {"q00000000001": 1.0, "q00000000002": 0.936, "q00000000003": 0.686, "q00000000004": None}
    run = write_run(tmp_path / "run", quality_rows())
    proc = run_cli("rank", str(run), "--weights", "ppl=1,kld=1,top1=1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()[2:]  # after the answer line
    assert "ppl ppl" in lines[0] and "kld nats" in lines[0] and "top1 share" in lines[0]
    assert lines[2].split()[0] == "1" and "Q4_1" in lines[2] and "Q8_0" in lines[3] and "Q4_0" in lines[4]


# ---------------------------------------------------------------------- the real thing

def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.model
@pytest.mark.slow
def test_quant_axis_and_quality_pass_on_smollm2(tmp_path, smollm2_path):
    env = {"EDGETUI_CACHE_DIR": str(tmp_path / "cache")}  # variants and references made here, not reused
    profile = write_profile(tmp_path / "q.toml", f"""name = "q"
repetitions = 1
warmup = 0
idle_baseline_s = 0
[[models]]
path = "{smollm2_path}"
label = "smol"
[sweep]
n_threads = [2]
n_ctx = [64]
quant = ["source", "Q8_0", "IQ2_XXS", "Q4_0"]
[workload]
prompt_tokens = [8]
gen_tokens = 4
[quality]
tokens = 512
n_ctx = 256
""")
    out = tmp_path / "out"
    proc = run_cli("run", str(profile), "--headless", "--out", str(out), env=env, timeout=1200)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one configuration failed, the others ran
    assert "to Q8_0 with llama.cpp's quantizer" in proc.stdout and "to Q4_0 with" in proc.stdout
    rows = {r["quant"] or "refused": r for r in _rows(out)}
    assert set(rows) == {"Q4_1", "Q8_0", "Q4_0", "refused"}

    refused = rows["refused"]
    assert refused["status"] == "failed" and "IQ2_XXS" in refused["error"] and "imatrix" in refused["error"]
    assert refused["quant_source"] == str(smollm2_path) and refused["model_path"] == ""

    src, q8, q4 = rows["Q4_1"], rows["Q8_0"], rows["Q4_0"]
    assert src["quant_source"] == "" and src["model_path"] == str(smollm2_path)
    for r, qtype in ((q8, "Q8_0"), (q4, "Q4_0")):
        path = Path(r["model_path"])
        assert r["status"] == "done" and path.parent == tmp_path / "cache" / "quantized"
        assert path.name.endswith(f"-{qtype}.gguf") and r["quant_source"] == str(smollm2_path)
        assert r["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert float(r["model_size_mb"]) == round(path.stat().st_size / 1e6, 1)
    assert "more bits" in q8["quant_note"] and "not recovered precision" in q8["quant_note"]
    assert q4["quant_note"].startswith("requantised from Q4_1") and "more bits" not in q4["quant_note"]

    for r in (src, q8, q4):
        ppl = float(r["quality_ppl"])
        assert math.isfinite(ppl) and ppl > 1
        assert r["quality_tokens"] == "512" and r["quality_corpus"] == "bundled"
        assert r["quality_reference"] == "source" and float(r["quality_s"]) > 0
    assert float(src["quality_kld_mean"]) == 0 and float(src["quality_top1_agree"]) == 1  # the reference itself
    assert float(q8["quality_kld_mean"]) < float(q4["quality_kld_mean"])
    assert float(q8["quality_kld_p99"]) < float(q4["quality_kld_p99"])
    assert float(q8["quality_top1_agree"]) > float(q4["quality_top1_agree"])
    assert "quality: ppl" in proc.stdout

    # a second run reuses the variant; a new window layout makes the reference again, in a child of its own
    variant = Path(q8["model_path"])
    made_at = variant.stat().st_mtime_ns
    again = write_profile(tmp_path / "q2.toml", profile.read_text().replace('"q"', '"q2"', 1)
                          .replace('quant = ["source", "Q8_0", "IQ2_XXS", "Q4_0"]', 'quant = ["Q8_0"]')
                          .replace("tokens = 512\nn_ctx = 256", "tokens = 256\nn_ctx = 128")
                          # 4 tokens decode in 40 ms, between two samples at 10 Hz: 48 last long enough to be seen
                          .replace("gen_tokens = 4", "gen_tokens = 48"))
    # on a board with a power sensor (the Orin Nano fixture: a constant 6.4 W), so that the pass's energy shows
    from fixtures.sensor_helpers import FIXTURES, path_with

    board = FIXTURES / "jetson-orin-nano"
    proc2 = run_cli("run", str(again), "--headless", "--out", str(tmp_path / "out2"), "--sysfs-root", str(board),
                    env={**env, "PATH": path_with(board / "bin")}, timeout=600)
    assert proc2.returncode == 0, proc2.stdout + proc2.stderr
    assert "quantizer" not in proc2.stdout and variant.stat().st_mtime_ns == made_at
    assert "keeping the reference's log-probabilities" in proc2.stdout
    (row,) = _rows(tmp_path / "out2")
    assert row["model_path"] == str(variant) and row["quality_tokens"] == "256"
    assert float(row["quality_kld_mean"]) < 0.05 and float(row["quality_top1_agree"]) > 0.8
    # the pass is a phase of its own in the sample stream, and its energy is its own column
    from edgetui.rundir.store import read_jsonl

    phases = {s.get("phase") for s in read_jsonl(tmp_path / "out2" / "samples.jsonl")}
    assert {"quality", "decode"} <= phases
    assert float(row["quality_energy_j"]) == pytest.approx(6.400896 * float(row["quality_s"]), rel=0.1)


def test_the_live_state_shows_quantizing_and_the_quality_pass_with_their_progress():
    from edgetui.rundir.follow import LiveState

    s = LiveState()
    s.feed_event({"ev": "config_start", "config_id": "c1", "index": 1, "n": 1, "describe": "smol q:Q8_0",
                  "config": {"repetitions": 1, "warmup": 0}, "t": 1.0})
    s.feed_event({"ev": "phase", "phase": "quantize", "config_id": "c1", "quant": "Q8_0", "t": 1.1})
    s.feed_event({"ev": "progress", "config_id": "c1", "phase": "quantize", "tokens": 136, "total": 272,
                  "unit": "tensors", "what": "quantizing to Q8_0", "t": 1.2})
    assert s.phase == "quantize" and s.step_text() == "quantizing to Q8_0: 136/272 tensors (50%)"
    s.feed_event({"ev": "rep_start", "config_id": "c1", "rep": 0, "warmup": False, "t": 2.0})
    assert s.step_text() is None  # a repetition has its own progress
    s.feed_event({"ev": "phase", "phase": "quality", "config_id": "c1", "what": "pass", "t": 3.0})
    s.feed_event({"ev": "progress", "config_id": "c1", "phase": "quality", "tokens": 1024, "total": 2048,
                  "unit": "tokens", "what": "quality pass", "t": 3.5})
    assert s.phase == "quality" and s.step_text() == "quality pass: 1,024/2,048 tokens (50%)"
    s.feed_event({"ev": "quality_end", "config_id": "c1", "quality_ppl": 20.4, "quality_kld_mean": 0.0054,
                  "quality_kld_p99": 0.0225, "quality_top1_agree": 0.936, "quality_reference": "source",
                  "quality_corpus": "bundled", "quality_tokens": 2048, "quality_s": 12.0, "t": 4.0})
    assert s.step_text() is None
    texts = [line.text for line in s.log]
    assert "  quantizing to Q8_0 (cached for later runs)" in texts and "  quality pass" in texts
    assert any(t.startswith("  quality: ppl 20.40, KLD 0.0054 (p99 0.0225), top-1 93.6% vs source") for t in texts)


@pytest.mark.model
@pytest.mark.slow
def test_a_reference_of_another_model_fails_its_configuration_with_the_reason(tmp_path, smollm2_path):
    from edgetui import models

    gemma = models.fetch("gemma3-270m-q4_k_m", progress=lambda s: None)
    profile = write_profile(tmp_path / "r.toml", f"""name = "r"
repetitions = 1
warmup = 0
idle_baseline_s = 0
[[models]]
path = "{smollm2_path}"
[sweep]
n_threads = [2]
n_ctx = [64]
[workload]
prompt_tokens = [8]
gen_tokens = 2
[quality]
tokens = 128
n_ctx = 128
reference = "{gemma}"
""")
    out = tmp_path / "out"
    proc = run_cli("run", str(profile), "--headless", "--out", str(out), env={"EDGETUI_CACHE_DIR": str(tmp_path)},
                   timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"keeping the reference's log-probabilities ({gemma.name}" in proc.stdout
    (row,) = _rows(out)
    assert row["status"] == "failed" and "tokenizes the corpus differently" in row["error"]
    assert row["repetitions"] == "1" and float(row["decode_tps_mean"]) > 0  # the speed measured stays
    assert row["quality_ppl"] == ""
