"""Rank intervals on 100,000 rows: what they cost, in the process and on the results screen.

Target (issue 19): rank intervals on 100,000 rows add at most 1 s to the results screen's first
frame, and the screen's 100,000-row targets (benchmarks/results_scale.py) still hold.

1. In the process: ranking.noise.rank_intervals (200 resamples, the whole table each time) on
   100,000 synthetic rows with a deviation and 5 repetitions per row, for 1, 2 and 4 weighted
   criteria, median of --runs; the reference is ranking.rank on the same frame.
2. The console, as a person meets it (results_scale.Console: `edgetui results DIR` in a
   pseudo-terminal, the same synthetic run folder as results_scale.py): the first frame (the
   table's "N row(s)" line; the intervals are computed after it, in the ranking worker) and the
   frame that shows them (the top line's "tied with" / "ahead beyond the noise"), both from the
   start; their difference is what the intervals add before they are on screen.

    .venv/bin/python benchmarks/rank_intervals.py [--rows 100000] [--runs 5] [--repeat 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "src"))

from edgetui.ranking.noise import RESAMPLES, rank_intervals  # noqa: E402
from edgetui.ranking.rank import rank  # noqa: E402

from rank_100k import synthetic_results  # noqa: E402
from results_scale import Console, make_run  # noqa: E402

TARGET_S = 1.0
WEIGHT_SETS = [{"decode_tps": 1.0}, {"decode_tps": 3.0, "ttft_ms": 1.0},
               {"decode_tps": 3.0, "net_energy_j_per_token": 2.0, "ttft_ms": 1.0, "prefill_tps": 1.0}]


def in_process(n: int, runs: int) -> None:
    df = synthetic_results(n).with_columns(
        (pl.col("decode_tps_mean") * 0.02).alias("decode_tps_std"),
        (pl.col("prefill_tps_mean") * 0.03).alias("prefill_tps_std"),
        (pl.col("ttft_ms_mean") * 0.02).alias("ttft_ms_std"), pl.lit(5).alias("repetitions"))
    rank(df, WEIGHT_SETS[0])  # first-call costs not counted
    for weights in WEIGHT_SETS:
        rank_times, interval_times = [], []
        for _ in range(runs):
            t = time.perf_counter()
            ranking = rank(df, weights)
            rank_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            ranked = rank_intervals(ranking, df)
            interval_times.append(time.perf_counter() - t)
        tied = int(ranked.table["tied_best"].sum())
        s = statistics.median(interval_times)
        print(f"  rank_intervals, {n:,} rows, {RESAMPLES} resamples, {len(weights)} criteria ({'+'.join(weights)}): "
              f"{s:.2f} s median [{min(interval_times):.2f} fastest] (target {TARGET_S:g} s: {s / TARGET_S:.2f} of "
              f"it); rank() alone {statistics.median(rank_times) * 1000:.0f} ms; {tied} row(s) tied for best",
              flush=True)


def console(run: Path, repeat: int) -> None:
    first, shown = [], []
    for _ in range(repeat):
        c = Console(run)
        try:
            first.append(c.wait_for(rb"[0-9,]+ row\(s\)") - c.t0)
            # the top line once the intervals are in: "(tied with N others)" or "(ahead beyond the noise)"
            shown.append(c.wait_for(rb"tied with [0-9,]+ other|ahead beyond the noise") - c.t0)
        finally:
            c.close()
    f, s = statistics.median(first), statistics.median(shown)
    print(f"  console: first frame {f:.2f} s (the intervals computed after it), intervals on screen at {s:.2f} s: "
          f"+{s - f:.2f} s after the first frame (target {TARGET_S:g} s: {(s - f) / TARGET_S:.2f} of it); "
          f"first frames {', '.join(f'{x:.2f}' for x in first)} s, with intervals "
          f"{', '.join(f'{x:.2f}' for x in shown)} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="console starts (medians reported)")
    ap.add_argument("--data", help="keep the synthetic run folder here (made once, reused)")
    ap.add_argument("--no-console", action="store_true", help="the in-process figures only")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    in_process(args.rows, args.runs)
    if not args.no_console:
        data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="edgetui-intervals-"))
        try:
            console(make_run(data / f"rows-{args.rows}", args.rows), args.repeat)
        finally:
            if not args.data:
                shutil.rmtree(data, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
