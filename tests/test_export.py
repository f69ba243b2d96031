"""Export of a ranking to TOML and CSV: refusal to overwrite, round trips that re-rank to the
same order, missing values kept missing, and `edgetui rank` end to end."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import polars as pl
import pytest

from edgetui.errors import UserError
from edgetui.ranking.export import CSV_MAGIC, export_ranking, load_ranking_export
from edgetui.ranking.frame import frame_from_rows
from edgetui.ranking.rank import rank
from edgetui.ranking.sources import load_results
from edgetui.tomlread import tomllib

from conftest import REPO
from result_rows import make_row, write_run

EDGETUI = REPO / ".venv" / "bin" / "edgetui"
WEIGHTS = {"decode_tps": 3.0, "net_energy_j_per_token": 2.0, "ttft_ms": 1.0}


def sample_rows(board="pi5"):
    return [
        make_row("aaa000000001", board=board, decode_tps_mean=21.5, ttft_ms_mean=180.0,
                 energy_j_per_token=0.41, net_energy_j_per_token=0.2931, power_w_mean=8.8),
        make_row("aaa000000002", board=board, decode_tps_mean=14.25, ttft_ms_mean=95.5,
                 energy_j_per_token=0.52, net_energy_j_per_token=None, power_w_mean=7.4, n_threads=2),
        make_row("aaa000000003", board=board, model="qwen2.5-0.5b-q4_k_m", quant="Q4_K_M",
                 decode_tps_mean=9.1, ttft_ms_mean=410.0, energy_j_per_token=None, net_energy_j_per_token=None),
        make_row("aaa000000004", board=board, decode_tps_mean=1 / 3, ttft_ms_mean=2 / 3,
                 energy_j_per_token=0.1 + 0.2, net_energy_j_per_token=0.1, power_w_mean=3.3),
        make_row("aaa000000005", board=board, status="failed", error="llama.cpp: out of memory\n# cut here"),
    ]


@pytest.fixture()
def ranking():
    df = frame_from_rows([{**r, "source": "boardA"} for r in sample_rows()])
    return rank(df, WEIGHTS)


def identity(r):
    return list(zip(r.table["config_id"], r.table["rank"], r.table["pareto"]))


@pytest.mark.parametrize("suffix", [".toml", ".csv"])
def test_export_refuses_to_overwrite_without_force(tmp_path, ranking, suffix):
    path = tmp_path / f"ranking{suffix}"
    path.write_text("precious")
    with pytest.raises(UserError) as exc:
        export_ranking(ranking, path)
    assert str(path) in str(exc.value) and "--force" in str(exc.value)
    assert path.read_text() == "precious"
    assert export_ranking(ranking, path, force=True) == path
    assert path.read_text() != "precious"
    beside = [path.name + ".meta.toml"] if suffix == ".csv" else []  # a CSV's settings, in a file of their own
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, *beside])  # no temporary file left


def test_export_needs_a_toml_or_csv_name(tmp_path, ranking):
    with pytest.raises(UserError, match=r"\.toml or \.csv"):
        export_ranking(ranking, tmp_path / "ranking.xlsx")


@pytest.mark.parametrize("suffix", [".toml", ".csv"])
def test_round_trip_reranks_to_the_same_order_and_scores(tmp_path, ranking, suffix):
    path = export_ranking(ranking, tmp_path / f"ranking{suffix}")
    back = load_ranking_export(path)
    assert back.weights == WEIGHTS
    assert back.normalisation == ranking.normalisation
    assert back.missing_policy == ranking.missing_policy
    assert back.table["config_id"].to_list() == ranking.table["config_id"].to_list()
    assert back.table["rank"].to_list() == ranking.table["rank"].to_list()
    assert back.table["score"].to_list() == ranking.table["score"].to_list()  # exact, not approx
    again = rank(back.frame(), back.weights)
    assert identity(again) == identity(ranking)
    assert identity(rank(back.table, back.weights)) == identity(ranking)  # old rank columns replaced
    assert again.table["score"].to_list() == ranking.table["score"].to_list()
    assert again.table["energy_basis"].to_list() == ranking.table["energy_basis"].to_list()
    assert back.table["missing"].to_list() == ranking.table["missing"].to_list()
    assert back.table["pareto"].to_list() == ranking.table["pareto"].to_list()
    # missing stays missing: the row without any energy figure comes back without one, not 0
    row3 = back.table.filter(pl.col("config_id") == "aaa000000003").row(0, named=True)
    assert row3["energy_j_per_token"] is None and row3["net_energy_j_per_token"] is None
    assert row3["missing"] == "net_energy_j_per_token"
    assert back.table.filter(pl.col("config_id") == "aaa000000001")["source"].to_list() == ["boardA"]


def test_toml_holds_the_settings_and_skips_missing_values(tmp_path, ranking):
    path = export_ranking(ranking, tmp_path / "ranking.toml")
    text = path.read_text()
    assert "a key absent from a row is a missing value" in text.splitlines()[2]
    doc = tomllib.loads(text)
    meta = doc["ranking"]
    assert meta["weights"] == WEIGHTS
    assert "min-max" in meta["normalisation"] and "never" in meta["missing_policy"]
    assert meta["sources"] == ["boardA"] and meta["edgetui_version"]
    assert meta["criteria"]["ttft_ms"]["direction"] == "lower is better"
    rows = {r["config_id"]: r for r in doc["rows"]}
    assert len(doc["rows"]) == 4  # the failed row is not part of the ranking
    assert "net_energy_j_per_token" not in rows["aaa000000003"]
    assert "energy_j_per_token" not in rows["aaa000000003"]
    first = doc["rows"][0]
    for key in ("rank", "score", "pareto", "board", "model", "quant", "engine", "n_threads", "n_ctx",
                "decode_tps_mean", "ttft_ms_mean"):
        assert key in first, key


def test_a_csv_export_is_a_plain_csv_with_its_settings_beside_it(tmp_path):
    df = frame_from_rows([{**r, "source": "boardA"} for r in sample_rows()])
    ranking = rank(df, WEIGHTS, include_failed=True)  # the failed row's error has a newline and a '#'
    path = export_ranking(ranking, tmp_path / "ranking.csv")
    # the first line is the header: csv.DictReader, pandas.read_csv or a spreadsheet need no options
    assert path.read_text().splitlines()[0] == ",".join(ranking.table.columns)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["config_id"] for r in rows] == ranking.table["config_id"].to_list()
    assert rows[0]["rank"] == "1" and rows[-1]["status"] == "failed"
    assert pl.read_csv(path).height == 5
    meta = tomllib.loads((tmp_path / "ranking.csv.meta.toml").read_text())["ranking"]
    assert meta["weights"] == WEIGHTS and meta["file"] == "ranking.csv" and meta["rows"] == 5
    assert meta["include_failed"] is True and "min-max" in meta["normalisation"]
    back = load_ranking_export(path)
    assert back.include_failed is True and back.weights == WEIGHTS
    failed = back.table.filter(pl.col("status") == "failed").row(0, named=True)
    assert failed["error"] == "llama.cpp: out of memory\n# cut here"  # kept whole, newline included
    assert failed["decode_tps_mean"] is None
    assert identity(rank(back.frame(), back.weights, include_failed=True)) == identity(ranking)


def test_a_csv_without_its_settings_is_not_an_export_but_still_ranks_as_results(tmp_path, ranking):
    path = export_ranking(ranking, tmp_path / "ranking.csv")
    (tmp_path / "ranking.csv.meta.toml").unlink()
    with pytest.raises(UserError, match="no ranking.csv.meta.toml beside it"):
        load_ranking_export(path)
    df = load_results([path])  # its old rank columns are left out of the new ranking
    assert identity(rank(df, WEIGHTS)) == identity(ranking)


def test_an_export_written_before_the_sidecar_still_loads(tmp_path, ranking):
    body = ranking.table.write_csv()
    old = tmp_path / "old.csv"
    old.write_text(f"{CSV_MAGIC} v1, written by edgetui 0.1.0\n# weights: decode_tps=3,ttft_ms=1,"
                   "net_energy_j_per_token=2\n# filters: board=pi5\n# include_failed: false\n" + body)
    back = load_ranking_export(old)
    assert back.weights == WEIGHTS and back.filters == {"board": ["pi5"]}
    assert identity(rank(back.frame(), back.weights)) == identity(ranking)


def test_toml_rows_are_written_column_by_column_and_read_back_exactly(tmp_path):
    from edgetui.ranking.export import toml_rows

    table = pl.DataFrame({
        "text": ['quote " back \\ slash', "line\nbreak\ttab", "ctrl \x01 del \x7f", "ünïcödé ✓", None],
        "f": [1 / 3, 1e20, 1e-05, float("nan"), None],
        "i": [1, -2, 0, 2**53, None],
        "b": [True, False, None, True, False],
        "odd key": ["a", None, None, None, None],
    })
    doc = tomllib.loads(toml_rows(table))
    rows = doc["rows"]
    assert rows[0] == {"text": 'quote " back \\ slash', "f": 1 / 3, "i": 1, "b": True, "odd key": "a"}
    assert rows[1] == {"text": "line\nbreak\ttab", "f": 1e20, "i": -2, "b": False}
    assert rows[2] == {"text": "ctrl \x01 del \x7f", "f": 1e-05, "i": 0}  # a missing value: no key
    assert rows[3]["text"] == "ünïcödé ✓" and math.isnan(rows[3]["f"]) and rows[3]["i"] == 2**53
    assert rows[4] == {"b": False}


@pytest.mark.parametrize("odd", ['"', "\\", "\x00", "\x1f", "\n", "\x7f"])
def test_a_column_without_nulls_nan_or_escapes_is_written_plainly_and_one_odd_character_is_still_escaped(odd):
    """The writer treats each column by what it holds: this checks every path against tomllib."""
    from edgetui.ranking.export import toml_rows

    plain = [f"board {i}" for i in range(50)]
    table = pl.DataFrame({
        "plain": plain,  # no nulls, nothing to escape
        "one_odd": [*plain[:49], f"x{odd}y"],  # a single value needs escaping
        "f": [i / 7 for i in range(50)],  # no NaN, no null
        "f_nan": [float("nan"), *[float(i) for i in range(49)]],
        "i": list(range(50)),
        "b": [i % 2 == 0 for i in range(50)],
    })
    rows = tomllib.loads(toml_rows(table))["rows"]
    assert [r["plain"] for r in rows] == plain
    assert [r["one_odd"] for r in rows] == [*plain[:49], f"x{odd}y"]
    assert [r["f"] for r in rows] == [i / 7 for i in range(50)]
    assert math.isnan(rows[0]["f_nan"]) and [r["f_nan"] for r in rows[1:]] == [float(i) for i in range(49)]
    assert [(r["i"], r["b"]) for r in rows] == [(i, i % 2 == 0) for i in range(50)]


def test_filters_are_recorded_and_exported_rows_are_the_filtered_ones(tmp_path):
    df = frame_from_rows([{**r, "source": "a"} for r in sample_rows("pi5")]
                         + [{**r, "source": "b"} for r in sample_rows("orin")])
    ranking = rank(df, WEIGHTS, filters={"board": "orin"})
    for suffix in (".toml", ".csv"):
        back = load_ranking_export(export_ranking(ranking, tmp_path / f"r{suffix}"))
        assert back.filters == {"board": ["orin"]}
        assert set(back.table["board"].to_list()) == {"orin"}
        assert identity(rank(back.frame(), back.weights)) == identity(ranking)


def test_an_export_can_be_given_to_load_results_like_a_results_file(tmp_path, ranking):
    for suffix in (".toml", ".csv"):
        path = export_ranking(ranking, tmp_path / f"r{suffix}")
        df = load_results([path])
        assert "rank" not in df.columns and "norm_decode_tps" not in df.columns
        assert df["source"].to_list() == ["boardA"] * 4  # where the rows were measured, kept
        assert identity(rank(df, WEIGHTS)) == identity(ranking)


def test_two_exports_of_the_same_rows_are_not_merged_twice(tmp_path, ranking):
    a = export_ranking(ranking, tmp_path / "a.toml")
    b = export_ranking(ranking, tmp_path / "b.csv")
    with pytest.raises(UserError, match=r"aaa000000001 from boardA appears twice \(also in .*a\.toml\)"):
        load_results([a, b])


def test_files_that_are_not_exports_are_refused(tmp_path):
    toml = tmp_path / "profile.toml"
    toml.write_text('[profile]\nname = "x"\n')
    with pytest.raises(UserError, match="not an edgetui ranking export"):
        load_ranking_export(toml)
    broken = tmp_path / "broken.toml"
    broken.write_text("[ranking\n")
    with pytest.raises(UserError, match="unreadable TOML"):
        load_ranking_export(broken)
    csv = tmp_path / "plain.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="not an edgetui ranking export"):
        load_ranking_export(csv)


# ------------------------------------------------------------------ the CLI
def edgetui(*args):
    return subprocess.run([str(EDGETUI) if EDGETUI.exists() else sys.executable, *([] if EDGETUI.exists()
                           else ["-m", "edgetui"]), *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_edgetui_rank_prints_the_ranking_exports_and_refuses_bad_input(tmp_path):
    pi = write_run(tmp_path / "pi5", sample_rows("pi5"))
    orin = write_run(tmp_path / "orin", [{**r, "decode_tps_mean": (r["decode_tps_mean"] or 0) * 3 or None}
                                         for r in sample_rows("orin")])
    out = tmp_path / "ranking.toml"
    p = edgetui("rank", str(pi), str(orin), "--weights", "decode_tps=3,net_energy_j_per_token=2",
                "--export", str(out))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("best: ") and lines[1] == ""  # the answer in words, then the table
    assert lines[2].split()[:7] == ["rank", "interval", "B", "score", "P", "board", "model"]
    first = lines[4].split()
    assert first[0] == "1" and first[2] == "=" and first[5] == "orin" and first[4] == "*"
    assert "n/a" in p.stdout  # the row without energy shows it as missing
    assert "(gross)" in p.stdout  # the row without an idle baseline is marked
    assert any(line.startswith("normalisation: min-max") for line in lines)
    assert any(line.startswith("missing values: ") for line in lines)
    assert out.is_file() and tomllib.loads(out.read_text())["ranking"]["weights"] == {
        "decode_tps": 3.0, "net_energy_j_per_token": 2.0}

    again = edgetui("rank", str(pi), "--export", str(out))
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr

    bad = edgetui("rank", str(pi), "--weights", "decode_tsp=1")
    assert bad.returncode == 2
    assert 'did you mean "decode_tps"' in bad.stderr and "Traceback" not in bad.stderr

    none = edgetui("rank", str(pi), "--filter", "board=orin")
    assert none.returncode == 2 and "board values present: pi5" in none.stderr

    only_orin = edgetui("rank", str(pi), str(orin), "--filter", "board=orin")
    assert only_orin.returncode == 0 and " pi5 " not in only_orin.stdout

    reranked = edgetui("rank", str(out), "--weights", "decode_tps=3,net_energy_j_per_token=2")
    assert reranked.returncode == 0
    assert reranked.stdout.splitlines()[:11] == lines[:11]


def test_edgetui_rank_prints_the_top_20_says_how_many_and_tells_configurations_apart(tmp_path):
    rows = [make_row(f"cfg{i:04d}", n_threads=1 + i % 2, decode_tps_mean=100.0 - i) for i in range(30)]
    run = write_run(tmp_path / "run", rows)
    p = edgetui("rank", str(run))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()[2:]  # after the answer line
    assert lines[0].split()[:8] == ["rank", "interval", "B", "score", "P", "board", "model", "configuration"]
    table = lines[2:lines.index("")]
    assert len(table) == 20
    at = lines[0].index("configuration")
    assert [line[at:].split()[0] for line in table[:2]] == ["t1", "t2"]  # the threads tell the rows apart
    assert "top 20 of 30 configurations shown (--top N for more, --top 0 for all)" in lines
    assert any(line.startswith("every row: llama_cpp Q4_1 ngl0 ctx512 b512") for line in lines)
    everything = edgetui("rank", str(run), "--top", "0").stdout.splitlines()[2:]
    assert len(everything[2:everything.index("")]) == 30 and "30 configurations" in everything
    bad = edgetui("rank", str(run), "--top", "-1")
    assert bad.returncode == 2 and "--top must be 0" in bad.stderr
