"""A compact text for each row's configuration: the swept parameters that differ between the rows
shown ("t2 ctx512"), so that two configurations that differ only in threads never look alike.

Which columns are parameters, and their prefixes, come from the column declarations
(edgetui.rundir.columns: a column with a `param` label), so a new sweep axis appears here by
itself. The console's "configuration" column and `edgetui rank` both use it.
"""

from __future__ import annotations

import polars as pl

from edgetui.rundir.columns import PARAM_LABELS

# Server engines can leave threads and GPU layers to the server (profiles.plan spells them so).
_SERVER_SENTINELS = {"n_threads": (pl.col("n_threads") <= 0, "t:server"),
                     "n_gpu_layers": (pl.col("n_gpu_layers") < 0, "ngl:server")}


def varying_parameters(df: pl.DataFrame) -> list[str]:
    """The parameter columns with more than one value (missing counts as one) among the rows of
    one model: what the model's name does not already tell apart (its quantisation, usually)."""
    present = [c for c in PARAM_LABELS if c in df.columns and c != "model"]
    if not present or df.height == 0:
        return []
    if "model" in df.columns:
        counts = df.group_by("model").agg(pl.col(c).n_unique() for c in present).select(
            pl.col(c).max() for c in present).row(0)
    else:
        counts = df.select(pl.col(c).n_unique() for c in present).row(0)
    return [c for c, n in zip(present, counts) if n > 1]


def constant_parameters(df: pl.DataFrame) -> str:
    """The parameters every row shares, as one text ("llama_cpp Q4_1 ngl0 ctx512"), missing ones left out.

    Only a value that every row holds: a parameter constant within each model but not across
    them (the quantisation of two models) is not shared, though the configuration column does
    not show it either (the model's name tells it)."""
    present = [c for c in PARAM_LABELS if c in df.columns and c != "model"]
    if not present or df.height == 0:
        return ""
    counts = df.select(pl.col(c).n_unique() for c in present).row(0)
    same = [c for c, n in zip(present, counts) if n == 1]
    if not same:
        return ""
    return df.head(1).select(_labels(same)).item() or ""


def parameter_text(column: str) -> pl.Expr:
    """One parameter's text per row ("t2"), null where the row has no value."""
    col = pl.col(column)
    dtype_text = col.cast(pl.String)
    if column in ("prompt_tokens",):  # a mean over repetitions: whole numbers without ".0"
        dtype_text = (pl.when(col == col.round(0)).then(col.round(0).cast(pl.Int64).cast(pl.String))
                      .otherwise(col.round(1).cast(pl.String)))
    text = pl.lit(PARAM_LABELS[column]) + dtype_text
    if column in _SERVER_SENTINELS:
        cond, server = _SERVER_SENTINELS[column]
        text = pl.when(cond).then(pl.lit(server)).otherwise(text)
    return pl.when(col.is_null()).then(None).otherwise(text)


def _labels(columns: list[str]) -> pl.Expr:
    return pl.concat_str([parameter_text(c) for c in columns], separator=" ", ignore_nulls=True)


def configuration_labels(df: pl.DataFrame, columns: list[str] | None = None) -> pl.Series:
    """Per row, the texts of the varying parameters (or of `columns`), space separated."""
    columns = varying_parameters(df) if columns is None else columns
    if not columns:
        return pl.repeat("", df.height, dtype=pl.String, eager=True).alias("configuration")
    return df.select(_labels(columns).alias("configuration")).to_series()
