"""The ranking's answer in words, the first line of `edgetui rank` and of the results screen:
"best under your constraints: smollm2 t2 (tied with 2 others); 41 rows meet them"."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from edgetui.ranking.configuration import configuration_labels, varying_parameters
from edgetui.ranking.constraints import left_out_text
from edgetui.ranking.rank import Ranking


def row_labels(frame: pl.DataFrame) -> list[str]:
    """Per row: the model and the parameters that vary among the rows ("smollm2 t2")."""
    varying = varying_parameters(frame)
    config = configuration_labels(frame, varying).to_list() if varying else [""] * frame.height
    models = frame["model"].cast(pl.String).to_list() if "model" in frame.columns else [None] * frame.height
    ids = frame["config_id"].to_list() if "config_id" in frame.columns else [""] * frame.height
    return [" ".join(p for p in (m, c) if p) or str(i) for m, c, i in zip(models, config, ids)]


def answer_line(ranking: Ranking, labels: Sequence[str] | None = None, *, pending: bool = False) -> str:
    """The best row by name, how many rows are tied with it for best (rank intervals), how many
    rows the constraints leave. labels: per row of the table (default: from its own columns);
    pending: the intervals are still being computed (said so), else without them no tie is told."""
    t = ranking.table
    n = t.height
    under = "best under your constraints" if ranking.constraints else "best"
    meet = (f"{n:,} row{'s' if n != 1 else ''} meet{'s' if n == 1 else ''} them" if ranking.constraints
            else f"{n:,} row{'s' if n != 1 else ''} ranked")
    out_of = f" ({left_out_text(ranking.left_out)})" if ranking.left_out else ""
    if n == 0:
        return f"no row {'meets your constraints' if ranking.constraints else 'to rank'}{out_of}"
    name = labels[0] if labels is not None else row_labels(t)[0]
    if n == 1:
        tied = ""
    elif "tied_best" in t.columns:
        others = int(t["tied_best"].sum()) - (1 if t["tied_best"][0] else 0)
        tied = (f" (tied with {others} other{'s' if others != 1 else ''})" if others
                else " (ahead beyond the noise)")
    else:
        tied = " (rank intervals: computing)" if pending else ""
    return f"{under}: {name}{tied}; {meet}{out_of}"
