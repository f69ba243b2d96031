"""Comparing two runs: is NEW faster than BASE, beyond the run-to-run noise? (`edgetui compare`,
and the console's results screen.)

Rows of BASE and NEW are paired by configuration id, or by the columns given (`--match model`
pairs the rows of one model across runs whose swept settings differ). For each pair, on the log
scale where a ratio is a difference (STATISTICS.md, comparing two runs):
    r = m_new / m_base
    se = sqrt(s_new^2 / (n_new m_new^2) + s_base^2 / (n_base m_base^2))   (delta method for ln m)
    df by Welch-Satterthwaite on the two terms
    95% interval exp(ln r +- t(0.975, df) se)
and the verdict: `faster` / `slower` where the interval excludes 1, else `same`. A side with
one repetition has no spread: its pair gets no interval and the verdict `unknown`. Over all
pairs: the geometric mean of the ratios, with the same interval over the pairs' log ratios.
The means, deviations and counts are the results' own (`<metric>_mean`, `_std`, `repetitions`);
where a results file lacks the deviation the run folder's repetitions give them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from edgetui.errors import UserError, close_match_hint
from edgetui.fmt import NA, figure
from edgetui.ranking.configuration import configuration_labels, varying_parameters
from edgetui.ranking.sources import load_results
from edgetui.rundir.store import atomic_write
from edgetui.stats import mean, std, t_quantile_975

if TYPE_CHECKING:
    from edgetui.ranking.llamabench import RepsBySource

# metric -> (results column of the mean, of its deviation, per-repetition field, higher is better)
METRICS: dict[str, tuple[str, str | None, str, bool]] = {
    "decode_tps": ("decode_tps_mean", "decode_tps_std", "decode_tps", True),
    "prefill_tps": ("prefill_tps_mean", "prefill_tps_std", "prefill_tps", True),
    "ttft_ms": ("ttft_ms_mean", "ttft_ms_std", "ttft_ms", False),
    "e2e_tps": ("e2e_tps_mean", None, "e2e_tps", True),
}
DEFAULT_METRIC = "decode_tps"


@dataclass(frozen=True)
class Figure:
    """A mean over repetitions: mean, sample deviation (None with one), count."""

    mean: float
    sd: float | None
    n: int


@dataclass(frozen=True)
class Pair:
    key: tuple[str, ...]
    label: str
    base: Figure
    new: Figure
    ratio: float
    lo: float | None  # the ratio's 95% interval (None: a side has one repetition)
    hi: float | None
    df: float | None
    verdict: str  # faster, slower, same, unknown


@dataclass
class Comparison:
    base: str
    new: str
    metric: str
    match: list[str]
    pairs: list[Pair]
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    no_figure: list[str] = field(default_factory=list)  # matched, but a side has no figure
    geomean: float | None = None
    geomean_lo: float | None = None
    geomean_hi: float | None = None

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric][3]

    def below(self, threshold: float) -> list[Pair]:
        """Pairs significantly slower than `threshold` times BASE (for a rate NEW/BASE, for a time
        BASE/NEW: the interval wholly below it)."""
        out = []
        for p in self.pairs:
            if p.lo is None or p.hi is None:
                continue
            speed_hi = p.hi if self.higher_is_better else 1.0 / p.lo
            if speed_hi < threshold:
                out.append(p)
        return out


def ratio_interval(base: Figure, new: Figure) -> tuple[float, float | None, float | None, float | None]:
    """(r, lo, hi, df) of NEW/BASE as in the module docstring; no interval when a side has n < 2."""
    r = new.mean / base.mean
    if base.sd is None or new.sd is None or base.n < 2 or new.n < 2:
        return r, None, None, None
    a = new.sd ** 2 / (new.n * new.mean ** 2)
    b = base.sd ** 2 / (base.n * base.mean ** 2)
    se = math.sqrt(a + b)
    if se == 0:
        return r, r, r, math.inf
    df = (a + b) ** 2 / (a ** 2 / (new.n - 1) + b ** 2 / (base.n - 1))
    half = t_quantile_975(df) * se  # scipy.stats.t
    return r, math.exp(math.log(r) - half), math.exp(math.log(r) + half), df


def verdict(lo: float | None, hi: float | None, higher_is_better: bool) -> str:
    if lo is None or hi is None:
        return "unknown"
    if lo > 1:
        return "faster" if higher_is_better else "slower"
    if hi < 1:
        return "slower" if higher_is_better else "faster"
    return "same"


def parse_match(text: str | None) -> list[str]:
    if not text:
        return ["config_id"]
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise UserError("--match needs column names, e.g. --match model or --match model,board", where="--match")
    return cols


def compare(base: str | Path | Sequence[str | Path], new: str | Path | Sequence[str | Path], *,
            metric: str = DEFAULT_METRIC, match: Sequence[str] | None = None) -> Comparison:
    """Pair the finished rows of BASE and NEW and compare them on `metric` (module docstring)."""
    if metric not in METRICS:
        raise UserError(f'unknown metric "{metric}"{close_match_hint(metric, METRICS)}; one of {", ".join(METRICS)}',
                        where="--metric")
    match = list(match or ["config_id"])
    base_paths = [base] if isinstance(base, (str, Path)) else list(base)
    new_paths = [new] if isinstance(new, (str, Path)) else list(new)
    frames = []
    for side, paths in (("BASE", base_paths), ("NEW", new_paths)):
        df = load_results(paths)
        missing = [c for c in match if c not in df.columns]
        if missing:
            hint = close_match_hint(missing[0], df.columns)
            raise UserError(f"{side} has no column {missing[0]} to match on{hint}", where="--match")
        df = df.filter(pl.col("status") == "done")
        frames.append(_figures(df, metric, match, side, ", ".join(map(str, paths))))
    (b_figs, b_labels), (n_figs, n_labels) = frames
    pairs, no_figure = [], []
    higher = METRICS[metric][3]
    for key in b_figs:
        if key not in n_figs:
            continue
        fb, fn = b_figs[key], n_figs[key]
        label = n_labels[key]
        if fb is None or fn is None or fb.mean <= 0 or fn.mean <= 0:
            no_figure.append(label)
            continue
        r, lo, hi, df_ = ratio_interval(fb, fn)
        pairs.append(Pair(key, label, fb, fn, r, lo, hi, df_, verdict(lo, hi, higher)))
    out = Comparison(base=", ".join(map(str, base_paths)), new=", ".join(map(str, new_paths)), metric=metric,
                     match=match, pairs=pairs, no_figure=no_figure,
                     only_base=[b_labels[k] for k in b_figs if k not in n_figs],
                     only_new=[n_labels[k] for k in n_figs if k not in b_figs])
    logs = [math.log(p.ratio) for p in pairs]
    if logs:
        out.geomean = math.exp(mean(logs) or 0.0)
        sd = std(logs)
        if sd is not None and len(logs) >= 2:
            half = t_quantile_975(len(logs) - 1) * sd / math.sqrt(len(logs))
            centre = math.log(out.geomean)
            out.geomean_lo, out.geomean_hi = math.exp(centre - half), math.exp(centre + half)
    return out


def _figures(df: pl.DataFrame, metric: str, match: list[str], side: str,
             where: str) -> tuple[dict[tuple[str, ...], Figure | None], dict[tuple[str, ...], str]]:
    """Per match key, the row's figure (None: no value) and a label; a key twice -> UserError."""
    mean_col, std_col, rep_field, _ = METRICS[metric]
    keys = df.select(pl.col(c).cast(pl.String).fill_null("") for c in match).rows()
    dupes = df.select(pl.struct(match).is_duplicated()).to_series()
    if dupes.any():
        k = keys[int(dupes.arg_true()[0])]
        shown = ", ".join(f"{c}={v}" for c, v in zip(match, k))
        raise UserError(f"{side} has several rows with {shown}: add columns to --match (e.g. "
                        f"--match {','.join(match + varying_parameters(df)[:1] or ['config_id'])})", where=where)
    varying = varying_parameters(df)
    configs = configuration_labels(df, varying).to_list() if varying else [""] * df.height
    from edgetui.ranking.llamabench import RepsBySource

    reps = RepsBySource()
    figs: dict[tuple[str, ...], Figure | None] = {}
    labels: dict[tuple[str, ...], str] = {}
    for i, row in enumerate(df.iter_rows(named=True)):
        key = tuple(keys[i])
        labels[key] = " ".join(str(v) for v in (row.get("model"), configs[i]) if v) or str(row["config_id"])
        if match != ["config_id"]:
            labels[key] = " ".join(f"{v}" for v in key) + (f" ({configs[i]})" if configs[i] else "")
        figs[key] = _figure(row, mean_col, std_col, rep_field, reps)
    return figs, labels


def _figure(row: dict[str, Any], mean_col: str, std_col: str | None, rep_field: str,
            reps: RepsBySource) -> Figure | None:
    m = row.get(mean_col)
    sd = row.get(std_col) if std_col else None
    n = row.get("repetitions")
    if std_col is None or (sd is None and (n or 0) >= 2):
        # no deviation in the results: the run folder's repetitions, where it holds them
        vals = [r.get(rep_field) for r in reps.of(row.get("source"), row["config_id"])]
        vals = [float(v) for v in vals if isinstance(v, (int, float))]
        if vals:
            return Figure(mean(vals) or 0.0, std(vals), len(vals))
    if m is None or not math.isfinite(m):
        return None
    return Figure(float(m), None if sd is None or not math.isfinite(sd) else float(sd), int(n or 1))


# ------------------------------------------------------------------ text, CSV, markdown

HEADERS = ("pair", "base", "new", "ratio", "95% interval", "verdict")


def _cells(c: Comparison) -> list[list[str]]:
    rows = []
    for p in c.pairs:
        interval = f"{p.lo:.3f}..{p.hi:.3f}" if p.lo is not None and p.hi is not None else f"{NA} (one repetition)"
        rows.append([p.label, _figure_text(p.base), _figure_text(p.new), f"{p.ratio:.3f}", interval, p.verdict])
    return rows


def _figure_text(f: Figure) -> str:
    return f"{figure(f.mean)} (sd {figure(f.sd)}, n={f.n})" if f.sd is not None else f"{figure(f.mean)} (n={f.n})"


def summary_lines(c: Comparison) -> list[str]:
    out = []
    if c.geomean is not None:
        interval = (f", 95% interval {c.geomean_lo:.3f}..{c.geomean_hi:.3f} over the pairs"
                    if c.geomean_lo is not None and c.geomean_hi is not None else "")
        counts = {v: sum(1 for p in c.pairs if p.verdict == v) for v in ("faster", "slower", "same", "unknown")}
        said = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        out.append(f"geometric mean of NEW/BASE over {len(c.pairs)} pair(s): {c.geomean:.3f}{interval} ({said})")
    else:
        out.append("no matched pairs to compare")
    if c.only_base:
        out.append(f"only in BASE ({len(c.only_base)}): {', '.join(c.only_base)}")
    if c.only_new:
        out.append(f"only in NEW ({len(c.only_new)}): {', '.join(c.only_new)}")
    if c.no_figure:
        out.append(f"matched but without a {c.metric} figure ({len(c.no_figure)}): {', '.join(c.no_figure)}")
    out.append(f"{c.metric} ({'higher' if c.higher_is_better else 'lower'} is better), rows matched by "
               f"{', '.join(c.match)}; ratio = NEW/BASE, 95% interval on the log scale (delta method, Welch df)")
    return out


def format_comparison(c: Comparison) -> str:
    rows = _cells(c)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEADERS)]
    line = lambda cells: "  ".join(x.ljust(w) if i in (0, 5) else x.rjust(w)  # noqa: E731
                                   for i, (x, w) in enumerate(zip(cells, widths))).rstrip()
    out = [f"BASE: {c.base}", f"NEW:  {c.new}", "", line(list(HEADERS)), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join([*out, "", *summary_lines(c)])


def to_csv(c: Comparison) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["pair", *[f"match_{m}" for m in c.match], "base_mean", "base_sd", "base_n", "new_mean", "new_sd",
                "new_n", "ratio", "ratio_lo", "ratio_hi", "df", "verdict"])
    num = lambda v: "" if v is None else repr(float(v))  # noqa: E731
    for p in c.pairs:
        w.writerow([p.label, *p.key, num(p.base.mean), num(p.base.sd), p.base.n, num(p.new.mean), num(p.new.sd),
                    p.new.n, num(p.ratio), num(p.lo), num(p.hi), num(p.df), p.verdict])
    return buf.getvalue()


def to_markdown(c: Comparison) -> str:
    lines = [f"BASE: `{c.base}`  ", f"NEW: `{c.new}`", "", "| " + " | ".join(HEADERS) + " |",
             "|" + "|".join(["---", "---:", "---:", "---:", "---:", "---"]) + "|"]
    lines += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in _cells(c)]
    return "\n".join([*lines, "", *(f"{s}  " for s in summary_lines(c))]) + "\n"


def write_comparison(c: Comparison, out: str | Path, *, force: bool = False) -> Path:
    p = Path(out)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".md"):
        raise UserError("the comparison file must end in .csv or .md", where=str(p))
    if p.is_dir():
        raise UserError("is a folder; give a file name", where=str(p))
    if p.exists() and not force:
        raise UserError("file exists; use --force to overwrite it", where=str(p))
    atomic_write(p, to_csv(c) if suffix == ".csv" else to_markdown(c))
    return p
