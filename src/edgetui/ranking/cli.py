"""`edgetui rank RESULTS... [--weights ...] [--filter COL=VALUE] [--where EXPR] [--top N] [--export FILE] [--force]`,
`edgetui plot RESULTS... --out FILE.svg|FILE.png [--x C] [--y C]` and
`edgetui export RESULTS... --format llama-bench-jsonl|llama-bench-md|json|csv|llama-bench-sql [--out FILE] [--force]`.

The same core as the console's results screen: sources.load_results, rank.rank and
export.export_ranking; this module only parses the arguments and prints a plain table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import polars as pl

from edgetui.errors import EXIT_FAILED_CONFIGS, EXIT_OK, UserError
from edgetui.fmt import figure, printable
from edgetui.ranking.ci import ci95_of
from edgetui.ranking.configuration import configuration_labels, constant_parameters, varying_parameters
from edgetui.ranking.constraints import constraints_text, left_out_text, parse_constraints
from edgetui.ranking.criteria import CRITERIA, DEFAULT_WEIGHTS, format_weights, parse_weights
from edgetui.ranking.noise import METHOD as INTERVAL_METHOD
from edgetui.ranking.noise import rank_intervals, read_repetitions
from edgetui.ranking.rank import Ranking, rank
from edgetui.ranking.sources import load_results
from edgetui.ranking.summary import answer_line

DEFAULT_TOP = 20  # rows printed unless --top says otherwise (0: all)


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """["model=a", "model=b", "board=pi5"] -> {"model": ["a", "b"], "board": ["pi5"]} (OR within a column)."""
    filters: dict[str, list[str]] = {}
    for item in items:
        col, sep, value = item.partition("=")
        col, value = col.strip(), value.strip()
        if not sep or not col or not value:
            raise UserError(f'"{item}" is not COLUMN=VALUE (e.g. model=smollm2-135m-q4_1)', where="--filter")
        filters.setdefault(col, []).append(value)
    return filters


def _ranking_of(args: argparse.Namespace, intervals: bool = True) -> tuple[Ranking, dict[str, list[str]]]:
    weights = parse_weights(args.weights) if args.weights else dict(DEFAULT_WEIGHTS)
    filters = parse_filters(getattr(args, "filter", None) or [])
    where = parse_constraints(getattr(args, "where", None) or [])  # refused before any file is read
    df = load_results(args.results)
    ranking = rank(df, weights, filters=filters or None, where=where)
    if ranking.table.height == 0:
        shown = ", ".join(f"{c}={'|'.join(v)}" for c, v in filters.items())
        why = f"after the filter(s) {shown}" if filters else "that finished (all failed or skipped)"
        if where:
            why = f"that meet {constraints_text(where)} ({left_out_text(ranking.left_out)})"
        raise UserError(f"no configurations left to rank {why}; "
                        f"{_present(df, list(filters) or ['status'])}")
    if intervals:
        ranking = rank_intervals(ranking, df, repetitions=read_repetitions(ranking))
    return ranking, filters


def cmd_rank(args: argparse.Namespace) -> int:
    top = getattr(args, "top", DEFAULT_TOP)
    if top < 0:
        raise UserError(f"--top must be 0 (all rows) or more, not {top}", where="--top")
    ranking, _ = _ranking_of(args)
    print(printable(format_ranking(ranking, top=top)))  # names from results files: no terminal escapes
    if args.export:
        from edgetui.ranking.export import export_ranking

        out = export_ranking(ranking, args.export, force=args.force)
        print(f"\nexported: {out}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from edgetui.ranking.llamabench import export_llama_bench

    where = parse_constraints(getattr(args, "where", None) or [])  # refused before any file is read
    left_out: list[tuple[str, int]] = []
    text, n = export_llama_bench(args.results, args.fmt, args.out, force=args.force, where=where,
                                 left_out=left_out)
    if left_out:  # on stderr: the standard output may be the export itself
        print(printable(f"{left_out_text(left_out)} ({constraints_text(where)})"), file=sys.stderr)
    if args.out:
        print(f"exported {n} record(s) ({args.fmt}): {args.out}")
    else:
        # the data as it is into a pipe or a file; to a terminal, without its control characters
        print(printable(text) if sys.stdout.isatty() else text, end="")
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    """`edgetui plot RESULTS... --out FILE.svg|FILE.png [--x C] [--y C]`: the console's trade-off figure."""
    from edgetui.ranking.plotdata import best_row_key, plot_axis, tradeoff_data
    from edgetui.ranking.plotfile import check_out_path, write_figure

    x, y = plot_axis(args.x, "--x"), plot_axis(args.y, "--y")  # refused before any file is read
    out = check_out_path(args.out, force=args.force)
    ranking, _ = _ranking_of(args, intervals=False)
    data = tradeoff_data(ranking, x, y, highlight=best_row_key(ranking))
    write_figure(data, out, force=args.force)
    print(f"{len(data)} of {data.n_rows} configuration(s) plotted, {data.front.size} on the Pareto front")
    if data.note:
        print(printable(data.note))
    print(f"written: {out}")
    return EXIT_OK


def _present(df: Any, cols: list[str]) -> str:
    parts = []
    for c in cols:
        if c in df.columns:
            vals = df[c].drop_nulls().cast(pl.String).unique().sort().to_list()
            parts.append(f"{c} values present: {', '.join(vals[:12])}{' ...' if len(vals) > 12 else ''}")
    return "; ".join(parts)


def format_ranking(ranking: Ranking, top: int = 0) -> str:
    """The ranking as a plain text table (its first `top` rows; 0: all), how many rows there are,
    what every row shares, then the weights and the policies."""
    t = ranking.table
    keys = ranking.selected
    varying = varying_parameters(t)
    shown = t.head(top) if top else t
    config = configuration_labels(shown, varying).to_list() if varying else None
    # a fleet's rows carry their inventory host: two identical boards stay two rows told apart
    fleet = "fleet_host" in t.columns and t["fleet_host"].drop_nulls().len() > 0
    intervals = "rank_lo" in t.columns
    headers = ["rank", *(["interval", "B"] if intervals else []), "score", "P", "board",
               *(["fleet_host"] if fleet else []), "model"]
    headers += ["configuration"] if config else []
    headers += [f"{k} {CRITERIA[k].unit}" for k in keys]
    headers.append("missing")
    # mean ± ci95 where the interval is known (a mean over two or more repetitions)
    ci = {k: ci95_of(shown, k).to_list() for k in keys}
    rows: list[list[str]] = []
    for i, r in enumerate(shown.iter_rows(named=True)):
        line = [str(r["rank"])]
        if intervals:
            line += [f"{r['rank_lo']}..{r['rank_hi']}", "=" if r["tied_best"] else ""]
        line += [f"{r['score']:.3f}", "*" if r["pareto"] else "", figure(r.get("board")),
                 *([figure(r.get("fleet_host"))] if fleet else []), figure(r.get("model"))]
        line += [config[i]] if config else []
        for k in keys:
            cell = figure(r[f"value_{k}"])
            half = ci[k][i]
            if half is not None and r[f"value_{k}"] is not None:
                cell += f" ± {figure(half)}"
            if k == "net_energy_j_per_token" and r.get("energy_basis") == "gross":
                cell += " (gross)"
            line.append(cell)
        line.append(r["missing"] or "")
        rows.append(line)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    numeric = {0, 1, 3 if intervals else 1} | set(range(len(headers) - 1 - len(keys), len(headers) - 1))

    def render(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in
                         enumerate(zip(cells, widths))).rstrip()

    out = [answer_line(ranking), "", render(headers), render(["-" * w for w in widths])]
    out += [render(row) for row in rows]
    out.append("")
    n = t.height
    if shown.height < n:
        out.append(f"top {shown.height} of {n:,} configurations shown (--top N for more, --top 0 for all)")
    else:
        out.append(f"{n:,} configuration{'s' if n != 1 else ''}")
    same = constant_parameters(t)
    if same:
        out.append(f"every row: {same}")
    crit = ", ".join(f"{k}={ranking.weights[k]:g} ({CRITERIA[k].direction})" for k in keys)
    out.append(f"weights: {crit}")
    out.append(f"reproduce with: --weights {format_weights(ranking.weights)}")
    if ranking.filters:
        out.append("filters: " + "; ".join(f"{c} = {' or '.join(v)}" for c, v in ranking.filters.items()))
    if ranking.constraints:
        out.append(f"constraints: {constraints_text(ranking.constraints)}"
                   + (f" ({left_out_text(ranking.left_out)})" if ranking.left_out else " (every row meets them)"))
    out.append(f"normalisation: {ranking.normalisation}")
    out.append(f"missing values: {ranking.missing_policy}")
    out.append("P: * = Pareto-optimal on the selected criteria (no other row is at least as good on all "
               "and better on one)")
    if intervals:
        out.append(f"B: = tied for best (its 95% rank interval includes 1); {INTERVAL_METHOD}")
    if any(v is not None for vs in ci.values() for v in vs):
        out.append("a ± b: mean ± 95% half-width over the repetitions (Student t)")
    out.append(f"sources: {', '.join(ranking.sources)}")
    return "\n".join(out)


def cmd_compare(args: argparse.Namespace) -> int:
    """`edgetui compare BASE NEW [--match COLS] [--metric M] [--fail-below R] [--out FILE]`: exit 1
    when --fail-below finds a pair significantly below it, else 0."""
    from edgetui.ranking.compare import compare, format_comparison, parse_match, write_comparison

    threshold = args.fail_below
    if threshold is not None and not (threshold > 0 and threshold == threshold and threshold != float("inf")):
        raise UserError(f"--fail-below must be a ratio above 0, not {threshold}", where="--fail-below")
    if args.out and not args.out.lower().endswith((".csv", ".md")):
        raise UserError("the comparison file must end in .csv or .md", where=args.out)
    result = compare(args.base, args.new, metric=args.metric, match=parse_match(args.match))
    print(format_comparison(result))
    if args.out:
        print(f"\nwritten: {write_comparison(result, args.out, force=args.force)}")
    if threshold is not None:
        below = result.below(threshold)
        if below:
            print(f"\n{len(below)} pair(s) significantly below {threshold:g} x BASE: "
                  + ", ".join(p.label for p in below))
            return EXIT_FAILED_CONFIGS
        print(f"\nno pair significantly below {threshold:g} x BASE")
    return EXIT_OK
