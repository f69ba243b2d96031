"""The trade-off figure's data (ranking.plotdata) and `edgetui plot`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edgetui.errors import UserError
from edgetui.ranking.criteria import CRITERIA
from edgetui.ranking.frame import frame_from_rows
from edgetui.ranking.plotdata import row_key, tradeoff_data
from edgetui.ranking.rank import rank
from edgetui.ranking.sources import load_results

from conftest import run_cli
from result_rows import make_row, write_run

PI = dict(board="Raspberry Pi 5 8GB", volume_cm3=81.0)
ORIN = dict(board="Jetson Orin Nano", volume_cm3=690.0)


def pi_rows():
    # (decode tok/s, mean power W): a, b, c and d on the front (faster costs more), e dominated by b,
    # f without power
    figures = {"a": (5.0, 6.0), "b": (10.0, 7.0), "c": (20.0, 9.0), "d": (30.0, 12.0), "e": (9.0, 8.0),
               "f": (12.0, None)}
    return [make_row(cid, decode_tps_mean=d, power_w_mean=p, **PI) for cid, (d, p) in figures.items()]


def ranked(rows, **weights):
    return rank(frame_from_rows(rows), weights or {"decode_tps": 1})


def test_points_front_and_the_note_on_missing_power():
    data = tradeoff_data(ranked(pi_rows()))
    assert len(data) == 5 and data.n_rows == 6
    assert sorted(k.split("|")[1] for k in data.keys) == ["a", "b", "c", "d", "e"]
    assert [p.config_id for p in data.front_points] == ["a", "b", "c", "d"]  # joined by increasing x
    assert not data.point(data.index_of(row_key(data.point(0).source, "e"))).on_front
    assert data.missing_y == 1 and data.missing_x == 0
    assert data.note == "1 row without mean power not shown"
    assert data.x_title == "decode (tok/s), higher is better"
    assert data.y_title == "mean power (W), lower is better"


def test_a_row_without_power_is_never_plotted_at_zero():
    data = tradeoff_data(ranked(pi_rows()))
    assert not np.any(data.ys == 0) and np.isfinite(data.ys).all()


def test_missing_values_on_both_axes_are_counted_apart():
    rows = pi_rows() + [make_row("g", power_w_mean=5.0, **PI), make_row("h", **PI)]
    data = tradeoff_data(ranked(rows))
    assert data.n_left_out == 3 and data.missing_x == 2 and data.missing_y == 2
    assert data.note == "3 rows not shown: 2 without decode, 2 without mean power"


def test_the_front_follows_the_direction_of_each_criterion():
    # ttft lower is better, prefill higher is better: b is both faster to start and faster
    rows = [make_row("a", ttft_ms_mean=100.0, prefill_tps_mean=50.0),
            make_row("b", ttft_ms_mean=80.0, prefill_tps_mean=60.0),
            make_row("c", ttft_ms_mean=300.0, prefill_tps_mean=200.0)]
    data = tradeoff_data(ranked(rows), "ttft_ms", "prefill_tps")
    assert sorted(p.config_id for p in data.front_points) == ["b", "c"]


def test_any_declared_criterion_can_be_an_axis_and_column_names_are_accepted():
    data = tradeoff_data(ranked(pi_rows()), "decode_tps_mean", "power_w_mean")
    assert (data.x.key, data.y.key) == ("decode_tps", "power_w")
    for key in CRITERIA:
        other = "decode_tps" if key != "decode_tps" else "power_w"
        assert tradeoff_data(ranked(pi_rows()), key, other).x.key == key


def test_an_unknown_or_repeated_axis_is_refused_with_the_valid_list():
    with pytest.raises(UserError) as exc:
        tradeoff_data(ranked(pi_rows()), "decode", "power_w")
    assert exc.value.where == "--x" and "decode_tps" in exc.value.message and "power_w" in exc.value.message
    with pytest.raises(UserError, match="same criterion"):
        tradeoff_data(ranked(pi_rows()), "power_w", "power_w")


def test_it_follows_the_ranking_filter_and_merged_boards(tmp_path):
    orin = [make_row("a", decode_tps_mean=40.0, power_w_mean=14.0, **ORIN),
            make_row("b", decode_tps_mean=25.0, power_w_mean=None, **ORIN)]
    merged = load_results([write_run(tmp_path / "pi", pi_rows()), write_run(tmp_path / "orin", orin)])
    both = tradeoff_data(rank(merged, {"decode_tps": 1}))
    assert len(both) == 6 and both.n_left_out == 2
    assert [g.label for g in both.groups] == ["Raspberry Pi 5 8GB (81 cm³)", "Jetson Orin Nano (690 cm³)"]
    assert {both.groups[int(g)].board for g in both.group} == {PI["board"], ORIN["board"]}
    # the same config_id on two boards stays two points
    assert len({k for k in both.keys if k.endswith("|a")}) == 2
    only_orin = tradeoff_data(rank(merged, {"decode_tps": 1}, filters={"board": ORIN["board"]}))
    assert len(only_orin) == 1 and only_orin.note == "1 row without mean power not shown"


def test_the_highlighted_row_is_marked_or_said_to_be_missing():
    r = ranked(pi_rows())
    source = r.table["source"][0]
    data = tradeoff_data(r, highlight=row_key(source, "c"))
    assert data.highlighted is not None and data.highlighted.config_id == "c" and data.highlighted_note == ""
    data.highlighted_key = row_key(source, "f")
    assert data.highlighted is None and "not plotted" in data.highlighted_note


def test_a_board_without_volume_says_so():
    rows = [make_row("a", decode_tps_mean=5.0, power_w_mean=3.0, board="x86 box")]
    assert tradeoff_data(ranked(rows)).groups[0].label == "x86 box (volume n/a)"


# ---------------------------------------------------------------------- the command
@pytest.fixture
def two_boards(tmp_path):
    orin = [make_row("a", decode_tps_mean=40.0, power_w_mean=14.0, **ORIN)]
    return [str(write_run(tmp_path / "pi", pi_rows())), str(write_run(tmp_path / "orin", orin))]


def test_plot_writes_a_valid_svg_and_png(two_boards, tmp_path):
    pytest.importorskip("matplotlib")
    svg = tmp_path / "fig.svg"
    p = run_cli("plot", *two_boards, "--out", str(svg))
    assert p.returncode == 0, p.stderr
    assert "6 of 7 configuration(s) plotted" in p.stdout and "1 row without mean power not shown" in p.stdout
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert "mean power (W)" in text and "decode (tok/s)" in text and "Jetson Orin Nano (690 cm³)" in text
    png = tmp_path / "fig.png"
    p = run_cli("plot", *two_boards, "--out", str(png), "--x", "ttft_ms", "--y", "rss_mb")
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "7 rows not shown" in p.stdout  # these rows have no TTFT nor RSS: nothing at zero


def test_plot_refuses_an_unknown_criterion_with_exit_2_and_the_valid_list(two_boards, tmp_path):
    out = tmp_path / "fig.svg"
    p = run_cli("plot", *two_boards, "--out", str(out), "--y", "watts")
    assert p.returncode == 2
    assert 'unknown criterion "watts"' in p.stderr
    for key in CRITERIA:
        assert key in p.stderr
    assert not out.exists()


def test_plot_refuses_a_bad_suffix_and_an_existing_file(two_boards, tmp_path):
    p = run_cli("plot", *two_boards, "--out", str(tmp_path / "fig.jpg"))
    assert p.returncode == 2 and "FILE.svg or FILE.png" in p.stderr
    out = tmp_path / "fig.svg"
    out.write_text("keep me")
    p = run_cli("plot", *two_boards, "--out", str(out))
    assert p.returncode == 2 and "--force" in p.stderr and out.read_text() == "keep me"


def test_without_matplotlib_the_message_says_how_to_install_it(two_boards, tmp_path, monkeypatch, capsys):
    from edgetui.cli import main

    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["plot", *two_boards, "--out", str(tmp_path / "fig.svg")]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install 'edgetui[plot]'" in err
    assert not (tmp_path / "fig.svg").exists()
