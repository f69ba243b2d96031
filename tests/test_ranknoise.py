"""Ranking that knows its noise (issue 19): rank intervals on a fixed seed, tied for best,
constraints (--where) with missing values counted, the answer line, mean ± ci95, the "every
row:" line, and `edgetui compare`."""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from edgetui.errors import UserError
from edgetui.ranking.compare import Figure, compare, ratio_interval
from edgetui.ranking.constraints import parse_constraint, parse_constraints, split_line
from edgetui.ranking.export import export_ranking, load_ranking_export, meta_path
from edgetui.ranking.noise import rank_intervals, read_repetitions
from edgetui.ranking.rank import rank
from edgetui.ranking.sources import load_results
from edgetui.ranking.summary import answer_line
from edgetui.rundir.store import RunStore
from edgetui.tomlread import tomllib

from conftest import REPO
from result_rows import make_row, write_run

EDGETUI = REPO / ".venv" / "bin" / "edgetui"


def edgetui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EDGETUI), *args], capture_output=True, text=True, timeout=120)


def frame(rows):
    return pl.DataFrame(rows).with_columns(pl.lit("test").alias("source"))


def intervals(rows, weights=None, **kw):
    df = frame(rows)
    r = rank(df, weights or {"decode_tps": 1.0})
    return rank_intervals(r, df, **kw)


def by_id(ranking):
    t = ranking.table
    return {c: (lo, hi, tied) for c, lo, hi, tied in zip(t["config_id"], t["rank_lo"], t["rank_hi"], t["tied_best"])}


# ------------------------------------------------------------------ rank intervals

def test_two_rows_far_apart_have_intervals_one_one_and_two_two():
    r = intervals([{"config_id": "fast", "status": "done", "decode_tps_mean": 100.0, "decode_tps_std": 1.0,
                    "repetitions": 5},
                   {"config_id": "slow", "status": "done", "decode_tps_mean": 50.0, "decode_tps_std": 1.0,
                    "repetitions": 5}])
    assert by_id(r) == {"fast": (1, 1, True), "slow": (2, 2, False)}
    assert r.resamples >= 200 and r.seed is not None


def test_two_rows_with_the_same_mean_and_noise_are_both_tied_for_best():
    rows = [{"config_id": c, "status": "done", "decode_tps_mean": 50.0, "decode_tps_std": 2.0, "repetitions": 5}
            for c in ("a", "b")] + [{"config_id": "c", "status": "done", "decode_tps_mean": 10.0,
                                     "decode_tps_std": 2.0, "repetitions": 5}]
    got = by_id(intervals(rows))
    assert got["a"] == (1, 2, True) and got["b"] == (1, 2, True)
    assert got["c"] == (3, 3, False)


def test_one_repetition_keeps_its_point_value_in_every_resample():
    # the same figures as the tied pair above, but one repetition each: no spread, a plain order
    rows = [{"config_id": "a", "status": "done", "decode_tps_mean": 50.1, "decode_tps_std": None, "repetitions": 1},
            {"config_id": "b", "status": "done", "decode_tps_mean": 50.0, "decode_tps_std": None, "repetitions": 1}]
    assert by_id(intervals(rows)) == {"a": (1, 1, True), "b": (2, 2, False)}


def test_the_seed_is_fixed_and_the_interval_widens_with_the_noise():
    def rows(sd):
        return [{"config_id": f"c{i}", "status": "done", "decode_tps_mean": 50.0 + i, "decode_tps_std": sd,
                 "repetitions": 4} for i in range(6)]

    quiet, loud = intervals(rows(0.1)), intervals(rows(5.0))
    assert by_id(intervals(rows(5.0))) == by_id(loud)  # the same resamples every time
    width = lambda r: int((r.table["rank_hi"] - r.table["rank_lo"]).sum())  # noqa: E731
    assert width(quiet) < width(loud)
    assert int(loud.table["tied_best"].sum()) > 1 and int(quiet.table["tied_best"].sum()) == 1


def test_missing_values_rank_worst_in_every_resample_too():
    rows = [{"config_id": "a", "status": "done", "decode_tps_mean": 10.0, "decode_tps_std": 0.1, "repetitions": 5,
             "power_w_mean": None},
            {"config_id": "b", "status": "done", "decode_tps_mean": 9.0, "decode_tps_std": 0.1, "repetitions": 5,
             "power_w_mean": 4.0},
            {"config_id": "c", "status": "done", "decode_tps_mean": 5.0, "decode_tps_std": 0.1, "repetitions": 5,
             "power_w_mean": 8.0}]
    got = by_id(intervals(rows, {"decode_tps": 1.0, "power_w": 1.0}))
    # a: fastest but no power reading (worst there, never 0 W): below b, which is fast and frugal
    assert got["b"][:2] == (1, 1) and got["a"][:2] == (2, 2)


def run_with_reps(folder: Path, reps: dict[str, list[float]], **row_values) -> Path:
    """A run folder with its repetition records (decode_tps per repetition) and results rows
    made from them, as the runner leaves it."""
    store = RunStore(folder)
    store.prepare()
    store.write_manifest({"status": "finished", "profiles": ["synthetic"]})
    rows = []
    for config_id, values in reps.items():
        for i, v in enumerate(values):
            store.append_rep({"config_id": config_id, "rep": i, "warmup": False, "decode_tps": v})
        extra = row_values.get(config_id, {})
        rows.append(make_row(config_id, decode_tps_mean=statistics.fmean(values),
                             decode_tps_std=statistics.stdev(values) if len(values) > 1 else None,
                             repetitions=len(values), **extra))
    store.write_results(rows)
    return folder


def test_repetitions_in_the_run_folder_are_resampled(tmp_path):
    # a row whose deviation in results.csv is missing still gets its spread from reps.jsonl
    run = run_with_reps(tmp_path / "run", {"a": [50.0, 40.0, 60.0, 45.0, 55.0], "b": [50.5, 40.5, 60.5, 45.5, 55.5],
                                           "c": [10.0, 10.1, 9.9]})
    df = load_results([run]).with_columns(pl.lit(None, dtype=pl.Float64).alias("decode_tps_std"))
    r = rank(df, {"decode_tps": 1.0})
    assert by_id(rank_intervals(r, df))["a"] == (2, 2, False)  # no spread known: point values
    reps = read_repetitions(r)
    assert reps["decode_tps"].counts.tolist() == [5, 5, 3]
    got = by_id(rank_intervals(r, df, repetitions=reps))
    assert got["a"][2] and got["b"][2] and got["c"] == (3, 3, False)


def test_rank_intervals_are_vectorised_over_many_rows():
    rng = np.random.default_rng(1)
    n = 20_000
    mean = rng.uniform(10, 100, n)
    df = pl.DataFrame({"config_id": [f"c{i}" for i in range(n)], "status": "done", "decode_tps_mean": mean,
                       "decode_tps_std": mean * 0.02, "repetitions": 5, "source": "s"})
    r = rank_intervals(rank(df, {"decode_tps": 1.0}), df)
    t = r.table
    assert (t["rank_lo"] <= t["rank"]).all() and (t["rank"] <= t["rank_hi"]).all()
    assert t["rank_lo"].min() == 1 and t["rank_hi"].max() <= n


# ------------------------------------------------------------------ constraints

def power_rows():
    return [make_row("a", decode_tps_mean=30.0, power_w_mean=4.0, quality_kld_mean=0.01),
            make_row("b", decode_tps_mean=40.0, power_w_mean=7.0, quality_kld_mean=0.02),
            make_row("c", decode_tps_mean=50.0, power_w_mean=None, quality_kld_mean=0.01),
            make_row("d", decode_tps_mean=60.0, power_w_mean=None, quality_kld_mean=0.2),
            make_row("e", decode_tps_mean=20.0, power_w_mean=3.0, quality_kld_mean=0.3)]


def test_where_keeps_the_rows_meeting_every_constraint_and_counts_the_rest_apart():
    df = frame(power_rows())
    r = rank(df, {"decode_tps": 1.0}, where=parse_constraints(["power_w<=5", "kld<0.05"]))
    assert r.table["config_id"].to_list() == ["a"]
    # a row without a power reading fails the constraint, counted apart from those above 5 W
    assert dict(r.left_out) == {"no power_w value": 2, "power_w > 5": 1, "kld >= 0.05": 1}
    assert sum(n for _, n in r.left_out) + r.table.height == df.height
    # the score is over the rows left: "a" is the best (and only) row
    assert r.table["score"].to_list() == [1.0]


def test_where_accepts_results_columns_and_text_columns():
    df = frame(power_rows())
    r = rank(df, {"decode_tps": 1.0}, where=parse_constraints(["power_w_mean<5", "model==smollm2-135m-q4_1"]))
    assert sorted(r.table["config_id"].to_list()) == ["a", "e"]
    r = rank(df, {"decode_tps": 1.0}, where=parse_constraints(["n_threads!=4"]))
    assert r.table.height == 0 and r.left_out == [("n_threads == 4", 5)]


@pytest.mark.parametrize("text, needle", [
    ("power_w=<5", "power_w=<5"), ("power_w", "NAME OP VALUE"), ("power_w<=fast", "is a number"),
    ("model<abc", "only == and != apply"), ("powr_w<5", 'did you mean "power_w"'), ("power_w<=>5", "not an operator"),
])
def test_bad_where_expressions_are_refused_naming_the_expression(text, needle):
    with pytest.raises(UserError) as e:
        rank(frame(power_rows()), {"decode_tps": 1.0}, where=parse_constraints([text]))
    assert needle in str(e.value) and "--where" in str(e.value)


def test_the_constraints_line_splits_into_expressions():
    assert split_line("power_w<=5, kld<0.05") == ["power_w<=5", "kld<0.05"]
    assert split_line("power_w <= 5 kld < 0.05") == ["power_w <= 5", "kld < 0.05"]
    assert parse_constraint(" power_w <= 5 ").shown() == "power_w <= 5"


def test_edgetui_rank_where_end_to_end_with_missing_values_and_bad_expressions(tmp_path):
    run = write_run(tmp_path / "run", power_rows())
    p = edgetui("rank", str(run), "--where", "power_w<=5", "--where", "kld<0.05")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.splitlines()[0].startswith("best under your constraints: ")
    assert "1 row meets them" in out.splitlines()[0]
    assert "2 rows left out: no power_w value" in out and "1 row left out: power_w > 5" in out
    assert "constraints: power_w <= 5 and kld < 0.05" in out
    bad = edgetui("rank", str(run), "--where", "power_w=<5")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and '"power_w=<5"' in bad.stderr
    none = edgetui("rank", str(run), "--where", "power_w<1")
    assert none.returncode == 2 and "no configurations left to rank that meet power_w < 1" in none.stderr
    plot = edgetui("plot", str(run), "--where", "power_w<=5", "--out", str(tmp_path / "p.svg"))
    assert plot.returncode == 0, plot.stderr
    assert "2 of 2 configuration(s) plotted" in plot.stdout


def test_constraints_and_intervals_are_in_the_exports(tmp_path):
    df = frame(power_rows())
    r = rank(df, {"decode_tps": 1.0}, where=parse_constraints(["power_w<=7"]))
    r = rank_intervals(r, df)
    for suffix in (".toml", ".csv"):
        out = export_ranking(r, tmp_path / f"x{suffix}")
        meta = tomllib.loads((out if suffix == ".toml" else meta_path(out)).read_text())["ranking"]
        assert meta["constraints"] == ["power_w<=7"]
        assert meta["left_out"] == {"no power_w value": 2}
        assert meta["rank_intervals"]["resamples"] == r.resamples
        back = load_ranking_export(out)
        assert back.table["tied_best"].to_list() == r.table["tied_best"].to_list()
        assert back.table["rank_lo"].to_list() == r.table["rank_lo"].to_list()
    with (tmp_path / "x.csv").open() as f:
        header = next(csv.reader(f))
    assert {"rank_lo", "rank_hi", "tied_best"} <= set(header)


# ------------------------------------------------------------------ rank output

def test_rank_output_marks_the_rows_tied_for_best_and_shows_mean_plus_minus_ci95(tmp_path):
    rows = [make_row("a", decode_tps_mean=50.0, decode_tps_std=2.0, repetitions=5),
            make_row("b", decode_tps_mean=50.2, decode_tps_std=2.0, repetitions=5, n_threads=2),
            make_row("c", decode_tps_mean=10.0, decode_tps_std=0.5, repetitions=5, n_threads=3)]
    p = edgetui("rank", str(write_run(tmp_path / "run", rows)))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "best: smollm2-135m-q4_1 t2 (tied with 1 other); 3 rows ranked"
    header = lines[2].split()
    assert header[:4] == ["rank", "interval", "B", "score"]
    table = [line.split() for line in lines[4:7]]
    assert [row[1:3] for row in table[:2]] == [["1..2", "="], ["1..2", "="]]
    assert table[2][1:3] == ["3..3", "0.000"]  # not tied: no mark
    half = 2.776445105 * 2.0 / math.sqrt(5)  # t(0.975, 4) * sd / sqrt(n), by hand
    assert f"50.20 ± {half:.2f}" in p.stdout
    assert any(line.startswith("B: = tied for best") for line in lines)


def test_every_row_lists_only_what_every_row_shares(tmp_path):
    rows = [make_row("a", decode_tps_mean=50.0), make_row("b", decode_tps_mean=40.0, n_threads=2),
            make_row("c", model="gemma3-270m-q4_k_m", quant="Q4_K_M", decode_tps_mean=30.0),
            make_row("d", model="gemma3-270m-q4_k_m", quant="Q4_K_M", decode_tps_mean=20.0, n_threads=2)]
    p = edgetui("rank", str(write_run(tmp_path / "run", rows)))
    assert p.returncode == 0, p.stderr
    every = [line for line in p.stdout.splitlines() if line.startswith("every row:")]
    assert every == ["every row: llama_cpp ngl0 ctx512 b512 fa:auto pp32 tg32"]


def test_the_answer_line_counts_ties_and_rows():
    df = frame(power_rows())
    r = rank(df, {"decode_tps": 1.0}, where=parse_constraints(["power_w<=7"]))
    assert answer_line(r, ["x", "y", "z"], pending=True).startswith("best under your constraints: x (rank intervals: "
                                                                    "computing); 3 rows meet them")
    assert answer_line(r, ["x", "y", "z"]).startswith("best under your constraints: x; 3 rows")
    r = rank_intervals(r, df)
    assert answer_line(r, ["x", "y", "z"]) == ("best under your constraints: x (ahead beyond the noise); 3 rows "
                                               "meet them (2 rows left out: no power_w value)")


# ------------------------------------------------------------------ compare

BASE = [100.0, 102.0, 98.0, 101.0, 99.0]


def test_ratio_interval_by_hand():
    b, n = Figure(100.0, 2.0, 5), Figure(110.0, 2.2, 5)
    r, lo, hi, df = ratio_interval(b, n)
    # each term: (sd/m)^2 / n = 0.0004 / 5; equal terms give df = 2 (n - 1) = 8
    se = math.sqrt(2 * 0.0004 / 5)
    assert r == pytest.approx(1.1) and df == pytest.approx(8.0)
    assert lo == pytest.approx(1.1 * math.exp(-2.306004135 * se)) and hi == pytest.approx(1.1 * math.exp(2.306004135 * se))


def test_compare_says_faster_for_a_known_ten_percent_and_same_for_none(tmp_path):
    base = run_with_reps(tmp_path / "base", {"a": BASE, "b": [v / 2 for v in BASE]})
    faster = run_with_reps(tmp_path / "new", {"a": [v * 1.1 for v in BASE[::-1]], "b": [v * 0.55 for v in BASE]})
    same = run_with_reps(tmp_path / "same", {"a": [BASE[i] for i in (2, 0, 4, 1, 3)], "b": [v / 2 for v in BASE]})
    c = compare(base, faster)
    assert [p.verdict for p in c.pairs] == ["faster", "faster"]
    assert c.pairs[0].ratio == pytest.approx(1.1) and c.pairs[0].lo > 1
    assert c.geomean == pytest.approx(1.1)
    assert [p.verdict for p in compare(base, same).pairs] == ["same", "same"]
    slower = compare(faster, base)
    assert [p.verdict for p in slower.pairs] == ["slower", "slower"]


def test_edgetui_compare_exit_codes_and_outputs(tmp_path):
    base = run_with_reps(tmp_path / "base", {"a": BASE, "b": [v / 2 for v in BASE], "only-base": [5.0, 5.1]})
    new = run_with_reps(tmp_path / "new", {"a": [v * 0.9 for v in BASE], "b": [v / 2 for v in BASE],
                                           "only-new": [7.0, 7.1]})
    p = edgetui("compare", str(base), str(new))
    assert p.returncode == 0, p.stderr
    assert "slower" in p.stdout and "only in BASE (1)" in p.stdout and "only in NEW (1)" in p.stdout
    assert "geometric mean of NEW/BASE over 2 pair(s)" in p.stdout
    assert edgetui("compare", str(base), str(new), "--fail-below", "0.95").returncode == 1  # 0.9 is below
    assert edgetui("compare", str(base), str(new), "--fail-below", "0.8").returncode == 0
    same = edgetui("compare", str(base), str(base), "--fail-below", "1.0")
    assert same.returncode == 0, same.stdout  # equal is not significantly below
    for args, needle in ((["--metric", "speed"], 'unknown metric "speed"'), (["--match", "modle"], "no column modle"),
                         (["--fail-below", "0"], "--fail-below"), (["--out", str(tmp_path / "x.txt")], ".csv or .md")):
        bad = edgetui("compare", str(base), str(new), *args)
        assert bad.returncode == 2 and needle in bad.stderr, bad.stderr
    assert edgetui("compare", str(base), str(tmp_path / "nothing")).returncode == 2
    out = edgetui("compare", str(base), str(new), "--out", str(tmp_path / "c.csv"))
    assert out.returncode == 0
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert [r["verdict"] for r in rows] == ["slower", "same"] and float(rows[0]["ratio"]) == pytest.approx(0.9)
    assert edgetui("compare", str(base), str(new), "--out", str(tmp_path / "c.md")).returncode == 0
    assert "| pair |" in (tmp_path / "c.md").read_text()


def test_compare_matches_by_the_columns_given(tmp_path):
    # the same model at other thread counts: matched by model, not by configuration id
    base = run_with_reps(tmp_path / "base", {"a": BASE, "g": [v / 2 for v in BASE]},
                         g={"model": "gemma3-270m-q4_k_m"})
    new = run_with_reps(tmp_path / "new", {"x": [v * 1.1 for v in BASE], "y": [v / 2 for v in BASE]},
                        x={"n_threads": 2}, y={"model": "gemma3-270m-q4_k_m", "n_threads": 2})
    assert compare(base, new).pairs == []
    c = compare(base, new, match=["model"])
    assert {p.key[0]: p.verdict for p in c.pairs} == {"smollm2-135m-q4_1": "faster", "gemma3-270m-q4_k_m": "same"}
    twice = run_with_reps(tmp_path / "twice", {"a": BASE, "b": BASE}, b={"n_threads": 2})
    with pytest.raises(UserError, match="several rows with model=smollm2-135m-q4_1"):
        compare(twice, new, match=["model"])


def test_edgetui_export_where_exports_only_the_rows_meeting_it_and_counts_the_rest(tmp_path):
    rows = [make_row(cid, decode_tps_mean=tps, prefill_tps_mean=400.0, power_w_mean=power)
            for cid, tps, power in (("a", 30.0, 4.0), ("b", 40.0, 9.0), ("c", 50.0, None))]
    run = write_run(tmp_path / "run", rows)
    every = edgetui("export", str(run), "--format", "json")
    assert every.returncode == 0, every.stderr
    p = edgetui("export", str(run), "--format", "json", "--where", "power_w<=5")
    assert p.returncode == 0, p.stderr
    assert {r["edgetui_config_id"] for r in json.loads(p.stdout)} == {"a"}
    assert {r["edgetui_config_id"] for r in json.loads(every.stdout)} == {"a", "b", "c"}
    assert "1 row left out: no power_w value; 1 row left out: power_w > 5" in p.stderr
    none = edgetui("export", str(run), "--where", "power_w<1")
    assert none.returncode == 2 and "meeting power_w < 1" in none.stderr
