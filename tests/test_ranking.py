"""Ranking: weights, directions, ties, missing values, Pareto, merging boards, filters."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from edgetui.errors import UserError
from edgetui.ranking.criteria import CRITERIA, DEFAULT_WEIGHTS, MISSING_POLICY, NORMALISATION, parse_weights
from edgetui.ranking.frame import frame_from_rows
from edgetui.ranking.pareto import pareto_mask
from edgetui.ranking.rank import rank
from edgetui.ranking.sources import load_results

from result_rows import make_row, write_run


def frame(*rows):
    return frame_from_rows([{**r, "source": "test"} for r in rows])


def order(ranking):
    return ranking.table["config_id"].to_list()


def by_id(ranking):
    return {r["config_id"]: r for r in ranking.table.iter_rows(named=True)}


# ------------------------------------------------------------------ weights
def test_parse_weights_reads_keys_and_results_column_aliases():
    assert parse_weights("decode_tps=3,net_energy_j_per_token=2") == {"decode_tps": 3.0,
                                                                      "net_energy_j_per_token": 2.0}
    assert parse_weights(" decode_tps_mean = 3 , ttft_ms_mean=0.5, rss_mb=0") == {
        "decode_tps": 3.0, "ttft_ms": 0.5, "rss_mb": 0.0}
    assert DEFAULT_WEIGHTS == {"decode_tps": 1.0}


def test_every_criterion_column_is_a_results_column():
    from edgetui.rundir.store import RESULT_COLUMNS

    for c in CRITERIA.values():
        assert c.column in RESULT_COLUMNS, c


@pytest.mark.parametrize("text, needle", [
    ("decode_tp=3", 'did you mean "decode_tps"'),
    ("speed=3", "valid criteria: decode_tps, prefill_tps, ttft_ms"),
    ("decode_tps=-1", "must be >= 0"),
    ("decode_tps=nan", "finite"),
    ("decode_tps=inf", "finite"),
    ("decode_tps=fast", "not a number"),
    ("decode_tps", "CRITERION=WEIGHT"),
    ("decode_tps=1,decode_tps_mean=2", "given twice"),
    ("decode_tps=0", "above 0"),
    ("", "no weights"),
])
def test_parse_weights_refuses_bad_input_clearly(text, needle):
    with pytest.raises(UserError) as exc:
        parse_weights(text)
    assert needle in str(exc.value)
    assert exc.value.where == "--weights"


def test_rank_validates_weights_given_as_a_dict():
    df = frame(make_row("a", decode_tps_mean=1.0))
    with pytest.raises(UserError, match="unknown criterion"):
        rank(df, {"tokens": 1})
    with pytest.raises(UserError, match=">= 0"):
        rank(df, {"decode_tps": -2})


# ------------------------------------------------------------------ directions, weights, scores
def test_higher_and_lower_is_better_are_oriented_so_one_is_best():
    df = frame(make_row("slow", decode_tps_mean=10.0, ttft_ms_mean=300.0),
               make_row("mid", decode_tps_mean=20.0, ttft_ms_mean=200.0),
               make_row("fast", decode_tps_mean=30.0, ttft_ms_mean=100.0))
    r = rank(df, {"ttft_ms": 1})
    assert order(r) == ["fast", "mid", "slow"]
    rows = by_id(r)
    assert rows["fast"]["norm_ttft_ms"] == 1.0
    assert rows["mid"]["norm_ttft_ms"] == 0.5
    assert rows["slow"]["norm_ttft_ms"] == 0.0
    assert order(rank(df, {"decode_tps": 1})) == ["fast", "mid", "slow"]


def test_weights_decide_between_a_fast_hungry_and_a_slow_frugal_config():
    df = frame(make_row("fast", decode_tps_mean=40.0, net_energy_j_per_token=0.5),
               make_row("frugal", decode_tps_mean=10.0, net_energy_j_per_token=0.1),
               make_row("middle", decode_tps_mean=30.0, net_energy_j_per_token=0.2))
    assert order(rank(df, {"decode_tps": 1}))[0] == "fast"
    assert order(rank(df, {"net_energy_j_per_token": 1}))[0] == "frugal"
    r = rank(df, {"decode_tps": 3, "net_energy_j_per_token": 1})
    rows = by_id(r)
    # middle: decode (30-10)/30 = 2/3, energy (0.5-0.2)/0.4 = 0.75 -> (3*2/3 + 0.75)/4
    assert rows["middle"]["score"] == pytest.approx((3 * 2 / 3 + 0.75) / 4)
    assert rows["fast"]["score"] == pytest.approx(3 / 4)
    assert rows["frugal"]["score"] == pytest.approx(1 / 4)
    assert order(r) == ["fast", "middle", "frugal"]
    # equal weights: middle wins, and fast and frugal tie (1 + 0 and 0 + 1)
    r = rank(df, {"decode_tps": 1, "net_energy_j_per_token": 1})
    assert order(r) == ["middle", "fast", "frugal"]
    assert r.table["rank"].to_list() == [1, 2, 2]


def test_zero_weight_criteria_do_not_count():
    df = frame(make_row("a", decode_tps_mean=10.0, rss_mb_peak=100.0),
               make_row("b", decode_tps_mean=20.0, rss_mb_peak=900.0))
    r = rank(df, {"decode_tps": 1, "rss_mb": 0})
    assert order(r) == ["b", "a"]
    assert "norm_rss_mb" not in r.table.columns
    assert r.selected == ["decode_tps"]


def test_one_distinct_value_gives_every_row_one():
    df = frame(make_row("a", decode_tps_mean=15.0, temp_c_max=60.0),
               make_row("b", decode_tps_mean=15.0, temp_c_max=70.0))
    r = rank(df, {"decode_tps": 1, "temp_c": 1})
    assert by_id(r)["a"]["norm_decode_tps"] == 1.0
    assert by_id(r)["b"]["norm_decode_tps"] == 1.0
    assert order(r) == ["a", "b"]


def test_ties_share_the_lowest_rank_and_are_ordered_by_config_id():
    df = frame(make_row("c", decode_tps_mean=20.0), make_row("a", decode_tps_mean=20.0),
               make_row("b", decode_tps_mean=10.0), make_row("d", decode_tps_mean=5.0))
    r = rank(df, {"decode_tps": 1})
    assert order(r) == ["a", "c", "b", "d"]
    assert r.table["rank"].to_list() == [1, 1, 3, 4]


def test_float_noise_in_a_weighted_sum_does_not_split_a_tie():
    # normalised: x = (0.0, 0.6), y = (0.1, 0.5); with equal weights the two sums differ in
    # binary floating point (0.30000000000000004 and 0.3 with polars 2.1), but they are the same
    # number and must share a rank
    df = frame(make_row("x", decode_tps_mean=0.0, prefill_tps_mean=6.0),
               make_row("y", decode_tps_mean=1.0, prefill_tps_mean=5.0),
               make_row("top", decode_tps_mean=10.0, prefill_tps_mean=10.0),
               make_row("bottom", decode_tps_mean=0.0, prefill_tps_mean=0.0))
    r = rank(df, {"decode_tps": 1, "prefill_tps": 1})
    rows = by_id(r)
    assert rows["x"]["score"] == pytest.approx(0.3) and rows["y"]["score"] == pytest.approx(0.3)
    assert rows["x"]["rank"] == rows["y"]["rank"] == 2
    assert order(r) == ["top", "x", "y", "bottom"]
    assert r.table["rank"].to_list() == [1, 2, 2, 4]


def test_the_table_has_the_rank_columns_then_the_original_columns():
    df = frame(make_row("a", decode_tps_mean=10.0, net_energy_j_per_token=0.2),
               make_row("b", decode_tps_mean=12.0, net_energy_j_per_token=0.3))
    r = rank(df, {"decode_tps": 2, "net_energy_j_per_token": 1})
    cols = r.table.columns
    assert cols[:5] == ["rank", "score", "pareto", "missing", "energy_basis"]
    assert {"norm_decode_tps", "norm_net_energy_j_per_token", "value_decode_tps"} <= set(cols)
    assert set(df.columns) <= set(cols)
    assert r.normalisation == NORMALISATION and "min-max" in r.normalisation
    assert r.missing_policy == MISSING_POLICY and "never" in r.missing_policy
    assert r.weights == {"decode_tps": 2.0, "net_energy_j_per_token": 1.0}


# ------------------------------------------------------------------ missing values
def test_a_missing_power_figure_never_ranks_as_zero_watts():
    df = frame(make_row("measured-low", power_w_mean=3.0), make_row("measured-high", power_w_mean=9.0),
               make_row("no-sensor", power_w_mean=None))
    r = rank(df, {"power_w": 1})
    rows = by_id(r)
    assert order(r)[0] == "measured-low"  # 0 W would have won if missing were read as zero
    assert rows["no-sensor"]["norm_power_w"] is None
    assert rows["no-sensor"]["value_power_w"] is None
    assert rows["no-sensor"]["missing"] == "power_w"
    assert rows["no-sensor"]["score"] == 0.0
    assert rows["measured-low"]["missing"] == ""


def test_missing_criterion_scores_worst_for_that_criterion_only_and_is_listed():
    df = frame(make_row("a", decode_tps_mean=10.0, rss_mb_peak=100.0),
               make_row("b", decode_tps_mean=20.0, rss_mb_peak=None),
               make_row("c", decode_tps_mean=None, rss_mb_peak=None))
    r = rank(df, {"decode_tps": 1, "rss_mb": 1})
    rows = by_id(r)
    assert rows["b"]["score"] == pytest.approx(0.5)  # decode best (1), memory missing (0)
    assert rows["b"]["missing"] == "rss_mb"
    assert rows["c"]["missing"] == "decode_tps,rss_mb"
    assert rows["a"]["norm_rss_mb"] == 1.0  # the only measured memory figure
    assert not rows["b"]["pareto"] and not rows["c"]["pareto"]


def test_non_finite_values_count_as_missing():
    df = frame(make_row("a", decode_tps_mean=float("nan")), make_row("b", decode_tps_mean=5.0))
    r = rank(df, {"decode_tps": 1})
    assert by_id(r)["a"]["missing"] == "decode_tps"
    assert order(r) == ["b", "a"]


def test_net_energy_falls_back_to_gross_and_says_so():
    df = frame(make_row("net", energy_j_per_token=0.30, net_energy_j_per_token=0.20),
               make_row("gross-only", energy_j_per_token=0.25, net_energy_j_per_token=None),
               make_row("no-power", energy_j_per_token=None, net_energy_j_per_token=None))
    r = rank(df, {"net_energy_j_per_token": 1})
    rows = by_id(r)
    assert rows["net"]["energy_basis"] == "net" and rows["net"]["value_net_energy_j_per_token"] == 0.20
    assert rows["gross-only"]["energy_basis"] == "gross"
    assert rows["gross-only"]["value_net_energy_j_per_token"] == 0.25
    assert rows["gross-only"]["missing"] == ""
    assert rows["no-power"]["energy_basis"] is None
    assert rows["no-power"]["missing"] == "net_energy_j_per_token"
    assert order(r) == ["net", "gross-only", "no-power"]
    assert "gross" in r.missing_policy


# ------------------------------------------------------------------ Pareto
def test_pareto_marks_the_front_on_the_selected_criteria():
    rows = [
        make_row("A", decode_tps_mean=10.0, net_energy_j_per_token=1.0),
        make_row("B", decode_tps_mean=20.0, net_energy_j_per_token=2.0),
        make_row("C-dominated-by-A", decode_tps_mean=5.0, net_energy_j_per_token=1.5),
        make_row("D-dominated-by-B", decode_tps_mean=20.0, net_energy_j_per_token=2.5),
        make_row("E-fastest-only", decode_tps_mean=30.0, net_energy_j_per_token=5.0),
        make_row("F-same-as-A", decode_tps_mean=10.0, net_energy_j_per_token=1.0),
        make_row("G-missing", decode_tps_mean=99.0, net_energy_j_per_token=None, energy_j_per_token=None),
    ]
    r = rank(frame(*rows), {"decode_tps": 1, "net_energy_j_per_token": 1})
    front = {cid for cid, p in zip(r.table["config_id"], r.table["pareto"]) if p}
    assert front == {"A", "B", "E-fastest-only", "F-same-as-A"}
    # with speed alone, only the fastest measured row is on the front
    r = rank(frame(*rows), {"decode_tps": 1})
    assert {cid for cid, p in zip(r.table["config_id"], r.table["pareto"]) if p} == {"G-missing"}


def test_pareto_with_three_criteria_and_a_lower_is_better_one():
    rows = [
        make_row("a", decode_tps_mean=10.0, ttft_ms_mean=100.0, rss_mb_peak=500.0),
        make_row("b", decode_tps_mean=10.0, ttft_ms_mean=100.0, rss_mb_peak=400.0),  # beats a on memory only
        make_row("c", decode_tps_mean=5.0, ttft_ms_mean=50.0, rss_mb_peak=900.0),    # best ttft
        make_row("d", decode_tps_mean=4.0, ttft_ms_mean=60.0, rss_mb_peak=950.0),    # dominated by c
        make_row("e", decode_tps_mean=1.0, ttft_ms_mean=900.0, rss_mb_peak=100.0),   # best memory
    ]
    r = rank(frame(*rows), {"decode_tps": 1, "ttft_ms": 1, "rss_mb": 1})
    assert {cid for cid, p in zip(r.table["config_id"], r.table["pareto"]) if p} == {"b", "c", "e"}


def _brute_front(values, higher):
    signs = np.where(higher, 1.0, -1.0)
    pts = values * signs
    ok = ~np.isnan(pts).any(axis=1)
    out = np.zeros(len(pts), dtype=bool)
    for i in np.flatnonzero(ok):
        q = pts[ok]
        out[i] = not ((q >= pts[i]).all(axis=1) & (q > pts[i]).any(axis=1)).any()
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_pareto_mask_agrees_with_brute_force_including_ties_and_gaps(k):
    rng = np.random.default_rng(k)
    for _ in range(60):
        n = int(rng.integers(1, 80))
        values = rng.integers(0, 6, (n, k)).astype(float)  # few levels: many ties and duplicates
        values[rng.random((n, k)) < 0.05] = np.nan
        higher = rng.random(k) < 0.5
        assert (pareto_mask(values, higher) == _brute_front(values, higher)).all()


def test_pareto_mask_on_many_duplicate_rows_and_many_rows():
    dup = np.tile([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], (400, 1))  # 800 rows, all on the front
    assert pareto_mask(dup, [True] * 3).all()
    rng = np.random.default_rng(7)
    big = rng.random((3000, 4))
    higher = [True, False, True, False]
    assert (pareto_mask(big, higher) == _brute_front(big, np.array(higher))).all()


# ------------------------------------------------------------------ filters and failed rows
def test_filters_apply_before_normalising_and_accept_several_values():
    df = frame(make_row("pi-a", board="pi5", model="m1", decode_tps_mean=10.0),
               make_row("pi-b", board="pi5", model="m2", decode_tps_mean=20.0),
               make_row("orin", board="orin", model="m1", decode_tps_mean=100.0))
    r = rank(df, {"decode_tps": 1}, filters={"board": "pi5"})
    assert order(r) == ["pi-b", "pi-a"]
    assert by_id(r)["pi-b"]["norm_decode_tps"] == 1.0  # orin's 100 tok/s is not in the min-max
    assert r.filters == {"board": ["pi5"]}
    assert order(rank(df, {"decode_tps": 1}, filters={"model": ["m1", "m2"], "board": "pi5"})) == ["pi-b", "pi-a"]
    assert rank(df, {"decode_tps": 1}, filters={"model": "m9"}).table.height == 0


def test_filter_on_an_unknown_column_is_a_user_error():
    df = frame(make_row("a", decode_tps_mean=1.0))
    with pytest.raises(UserError, match='did you mean "model"'):
        rank(df, {"decode_tps": 1}, filters={"modle": "x"})


def test_failed_and_skipped_rows_are_left_out_unless_asked_for():
    df = frame(make_row("ok", decode_tps_mean=10.0),
               make_row("oom", status="failed", error="out of memory", decode_tps_mean=None),
               make_row("fast-but-failed", status="failed", decode_tps_mean=50.0),
               make_row("skipped", status="skipped"))
    r = rank(df, {"decode_tps": 1})
    assert order(r) == ["ok"]
    assert by_id(r)["ok"]["norm_decode_tps"] == 1.0  # the failed 50 tok/s is not the maximum
    r = rank(df, {"decode_tps": 1}, include_failed=True)
    assert set(order(r)) == {"ok", "oom", "fast-but-failed", "skipped"}
    assert by_id(r)["oom"]["missing"] == "decode_tps"


# ------------------------------------------------------------------ merging boards
def _board_rows(board, speed):
    return [make_row("cfg000000001", board=board, decode_tps_mean=speed, net_energy_j_per_token=1 / speed),
            make_row("cfg000000002", board=board, decode_tps_mean=speed / 2, net_energy_j_per_token=2 / speed,
                     n_threads=2)]


def test_two_boards_with_the_same_config_ids_merge_into_one_ranking(tmp_path):
    pi = write_run(tmp_path / "pi5-run", _board_rows("pi5", 8.0))
    orin = write_run(tmp_path / "orin-run", _board_rows("orin", 30.0))
    df = load_results([pi, orin / "results.csv"])  # a folder and a CSV file: types must agree
    assert df.height == 4
    assert sorted(df["board"].to_list()) == ["orin", "orin", "pi5", "pi5"]
    assert set(df["source"].to_list()) == {str(pi), str(orin / "results.csv")}
    assert df.schema["decode_tps_mean"] == pl.Float64 and df.schema["n_threads"] == pl.Int64
    r = rank(df, {"decode_tps": 1})
    assert [(row["board"], row["config_id"]) for row in r.table.iter_rows(named=True)] == [
        ("orin", "cfg000000001"), ("orin", "cfg000000002"), ("pi5", "cfg000000001"), ("pi5", "cfg000000002")]
    assert r.table["score"].to_list()[0] == 1.0 and r.table["score"].to_list()[-1] == 0.0
    assert sorted(r.sources) == sorted([str(pi), str(orin / "results.csv")])


def test_a_real_results_json_loads_and_ranks(tmp_path):
    run = write_run(tmp_path / "run", _board_rows("vm", 12.0))
    df = load_results([run / "results.json"])
    assert df["config_id"].to_list() == ["cfg000000001", "cfg000000002"]
    assert df["source"].to_list() == [str(run / "results.json")] * 2


def test_the_same_results_given_twice_is_refused(tmp_path):
    run = write_run(tmp_path / "run", _board_rows("pi5", 8.0))
    with pytest.raises(UserError, match="given twice"):
        load_results([run, tmp_path / "run" / ".." / "run"])


def test_incompatible_empty_or_garbled_results_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no results given"):
        load_results([])
    with pytest.raises(UserError, match="no such results"):
        load_results([tmp_path / "nowhere"])
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema": 99, "rows": []}))
    with pytest.raises(UserError, match="incompatible"):
        load_results([old])
    empty = write_run(tmp_path / "empty", [])
    with pytest.raises(UserError, match="no result rows"):
        load_results([empty])
    bad = write_run(tmp_path / "bad", _board_rows("pi5", 8.0))
    text = (bad / "results.csv").read_text().splitlines()
    header = text[0].split(",")
    cells = text[1].split(",")
    cells[header.index("decode_tps_mean")] = "fast"
    (bad / "results.csv").write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    with pytest.raises(UserError, match=r"decode_tps_mean = 'fast' is not a number") as exc:
        load_results([bad / "results.csv"])
    assert "results.csv" in str(exc.value)


def test_missing_values_in_merged_files_stay_missing(tmp_path):
    run = write_run(tmp_path / "run", [make_row("a", decode_tps_mean=5.0, power_w_mean=None)])
    for src in (run / "results.csv", run / "results.json"):
        df = load_results([src])
        assert df["power_w_mean"].to_list() == [None]
        assert not math.isnan(df["decode_tps_mean"][0])


def test_pareto_is_reused_on_a_weight_change_but_recomputed_when_a_value_changes():
    from edgetui.ranking.pareto import clear_pareto_cache

    rows = [make_row("a", decode_tps_mean=10.0, ttft_ms_mean=100.0),
            make_row("b", decode_tps_mean=20.0, ttft_ms_mean=200.0),
            make_row("c", decode_tps_mean=15.0, ttft_ms_mean=250.0)]  # dominated by b
    df = frame(*rows)
    first = rank(df, {"decode_tps": 1, "ttft_ms": 1})
    reweighted = rank(df, {"decode_tps": 5, "ttft_ms": 1})
    clear_pareto_cache()
    fresh = rank(df, {"decode_tps": 5, "ttft_ms": 1})
    assert dict(zip(reweighted.table["config_id"], reweighted.table["pareto"])) == \
        dict(zip(fresh.table["config_id"], fresh.table["pareto"])) == {"a": True, "b": True, "c": False}
    assert dict(zip(first.table["config_id"], first.table["pareto"]))["c"] is False
    # same rows, same criteria, one value changed: c now beats b on time to first token
    changed = frame(*rows[:2], make_row("c", decode_tps_mean=15.0, ttft_ms_mean=150.0))
    r = rank(changed, {"decode_tps": 5, "ttft_ms": 1})
    assert dict(zip(r.table["config_id"], r.table["pareto"])) == {"a": True, "b": True, "c": True}
    # a filter changes the rows: b filtered out, so c is on the front again
    r = rank(df, {"decode_tps": 5, "ttft_ms": 1}, filters={"config_id": ["a", "c"]})
    assert dict(zip(r.table["config_id"], r.table["pareto"])) == {"a": True, "c": True}


# ------------------------------------------------------------------ loading with polars
def test_an_older_results_csv_with_fewer_columns_and_short_floats_still_loads(tmp_path):
    old = tmp_path / "results.csv"
    # an early edgetui: fewer columns, six significant digits, a whole number written as 4.0
    old.write_text("config_id,status,board,model,n_threads,decode_tps_mean,throttled\n"
                   "000000000123,done,pi5,m,4.0,12.3457,false\n"
                   "000000000124,done,pi5,m,2,,\n")
    df = load_results([old])
    assert df["config_id"].to_list() == ["000000000123", "000000000124"]  # ids stay text
    assert df["n_threads"].to_list() == [4, 2] and df.schema["n_threads"] == pl.Int64
    assert df["decode_tps_mean"].to_list() == [12.3457, None] and df["throttled"].to_list() == [False, None]
    assert df["power_w_mean"].to_list() == [None, None]  # a column the old file lacks: missing, not zero
    assert order(rank(df, {"decode_tps": 1})) == ["000000000123", "000000000124"]


def test_a_run_folder_is_read_from_its_csv_and_refused_when_an_incompatible_edgetui_wrote_it(tmp_path):
    run = write_run(tmp_path / "run", _board_rows("pi5", 8.0))
    (run / "results.json").unlink()  # the folder is read from results.csv
    assert load_results([run])["source"].to_list() == [str(run)] * 2
    (run / "run.json").write_text(json.dumps({"schema": 99}))
    with pytest.raises(UserError, match=r"incompatible edgetui \(schema 99"):
        load_results([run])


def test_a_whole_number_column_with_a_fraction_is_refused_by_name(tmp_path):
    bad = tmp_path / "results.csv"
    bad.write_text("config_id,status,n_threads,decode_tps_mean\nabc,done,2.5,1\n")
    with pytest.raises(UserError, match=r"config abc: n_threads = '2.5' is not a whole number"):
        load_results([bad])


def test_rows_from_json_and_csv_of_the_same_run_are_the_same_frame(tmp_path):
    run = write_run(tmp_path / "run", _board_rows("pi5", 7.0) + [make_row("x", decode_tps_mean=1 / 3,
                                                                        throttled=True)])
    from_csv = load_results([run / "results.csv"]).drop("source")
    from_json = load_results([run / "results.json"]).drop("source")
    assert from_csv.schema == from_json.schema
    assert from_csv.equals(from_json)
