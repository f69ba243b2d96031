"""Typed frames of results rows: one polars schema, made from the column declarations
(edgetui.rundir.columns) and the ranking's own columns, whatever file the rows came from.

A CSV cell "4" and a JSON 4 both become 4; a value that cannot be read as its column's type is
a UserError naming the configuration and the column, never a silent null. Columns this edgetui
does not declare (a newer version's, or a tool's) are kept as they were read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from edgetui.errors import UserError
from edgetui.rundir.columns import COLUMN_KINDS, RESULT_COLUMNS, Kind

# Columns the ranking adds in front of the results columns, and their types.
RANK_COLUMNS = ("rank", "score", "pareto", "missing", "energy_basis", "rank_lo", "rank_hi", "tied_best")
RANKING_KINDS: dict[str, Kind] = {"rank": "int", "score": "float", "pareto": "bool", "missing": "text",
                                  "energy_basis": "text", "source": "text", "rank_lo": "int", "rank_hi": "int",
                                  "tied_best": "bool"}
DERIVED_PREFIXES = ("value_", "norm_")  # per selected criterion: the value ranked on, normalised

DTYPES: dict[str, type[pl.DataType]] = {"text": pl.String, "int": pl.Int64, "float": pl.Float64,
                                        "bool": pl.Boolean}
# The order of a typed frame: every results column, then where each row came from.
FRAME_COLUMNS = [*RESULT_COLUMNS, "source"]


def kind_of(name: str) -> Kind | None:
    """The declared type of a column (results or ranking), or None for one this edgetui does not know."""
    kind = COLUMN_KINDS.get(name) or RANKING_KINDS.get(name)
    if kind is None and name.startswith(DERIVED_PREFIXES):
        return "float"
    return kind


def is_derived(name: str) -> bool:
    """A column the ranking computes (rank, score, ..., value_*, norm_*), not a measured one."""
    return name in RANK_COLUMNS or name.startswith(DERIVED_PREFIXES)


def declared_schema(names: list[str]) -> dict[str, pl.DataType]:
    """{name: polars type} for those of these columns that are declared."""
    return {n: DTYPES[k]() for n in names if (k := kind_of(n)) is not None}


def typed(df: pl.DataFrame, where: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Every declared column as its type (checked, see the module docstring); declared results
    columns that the input lacks (an older edgetui's file) added empty; results columns and
    `source` first, in their order, then the others as they came. `columns`: only those."""
    if columns is not None:
        df = df.select(c for c in df.columns if c in set(columns))
    casts = []
    for name, dtype in df.schema.items():
        kind = kind_of(name)
        if kind is not None and dtype != DTYPES[kind]:
            casts.append(_convert(df, name, kind, where))
    if casts:
        df = df.with_columns(casts)
    frame_columns = FRAME_COLUMNS if columns is None else [c for c in FRAME_COLUMNS if c in set(columns)]
    absent = [pl.lit(None, dtype=DTYPES[kind_of(c) or "text"]).alias(c) for c in frame_columns if c not in df.columns]
    if absent:
        df = df.with_columns(absent)
    known = set(frame_columns)
    return df.select([*frame_columns, *(c for c in df.columns if c not in known)])


def read_csv_typed(p: Path, where: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """A CSV of results (or ranked) rows, parsed by polars with the declared schema; an empty
    cell is a missing value. `columns`: only those are read (the others are not parsed)."""
    try:
        header = pl.read_csv(p, n_rows=0).columns
        wanted = header if columns is None else [c for c in header if c in set(columns)]
        try:
            df = pl.read_csv(p, columns=wanted, schema_overrides=declared_schema(wanted))
        except pl.exceptions.ComputeError:
            # a cell that is not of its column's type (or an older file's "4.0" for a whole
            # number): every cell as text, and typed() converts what it can and names the first
            # value that it cannot
            df = pl.read_csv(p, columns=wanted, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise UserError(f"unreadable CSV: {exc}", where=where) from None
    return typed(df, where, columns)


def frame_from_rows(rows: list[dict[str, Any]], where: str = "results") -> pl.DataFrame:
    """Rows as dicts (a results.json, a TOML export) -> a typed frame."""
    if not rows:
        return typed(pl.DataFrame(), where)
    names = list(dict.fromkeys(k for row in rows for k in row))
    try:
        df = pl.from_dicts(rows, schema=[(n, declared_schema([n]).get(n)) for n in names],
                           infer_schema_length=None)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        # values of several types in one column: read every cell as text and let typed() check
        # each against the column's type (and name the first that does not fit)
        df = pl.DataFrame({n: pl.Series(n, [_as_text(row.get(n)) for row in rows], dtype=pl.String)
                           for n in names})
    return typed(df, where)


def _as_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else repr(v)


def _convert(df: pl.DataFrame, name: str, kind: Kind, where: str) -> pl.Series:
    """Column `name` of df as `kind`; UserError at the first value that is not one."""
    s = df[name]
    if kind == "text":
        return s.cast(pl.String)
    if s.dtype == pl.Null:
        return s.cast(DTYPES[kind])
    if s.dtype == pl.String:
        text = s.str.strip_chars()
        text = pl.select(pl.when(text == "").then(None).otherwise(text)).to_series()
        if kind == "bool":
            low = text.str.to_lowercase()
            out = pl.select(pl.when(low == "true").then(True).when(low == "false").then(False)
                            .otherwise(None)).to_series()
        else:
            out = text.cast(pl.Float64, strict=False)
        bad = text.is_not_null() & out.is_null()
    elif s.dtype == pl.Boolean or kind == "bool":
        # a flag where a number belongs, or a number where a flag belongs
        out = pl.Series(name, [None] * len(s), dtype=DTYPES[kind])
        bad = s.is_not_null()
    else:
        out = s.cast(pl.Float64)
        bad = pl.Series(name, [False] * len(s))
    if bad.any():
        i = int(bad.arg_true()[0])
        raise _bad(df, i, name, s[i], "true or false" if kind == "bool" else "a number", where)
    if kind == "int":
        fractional = out.is_not_null() & ~(out.is_finite() & (out == out.floor())).fill_null(False)
        if fractional.any():
            i = int(fractional.arg_true()[0])
            raise _bad(df, i, name, s[i], "a whole number", where)
        out = out.cast(pl.Int64)
    return out.alias(name)


def _bad(df: pl.DataFrame, i: int, name: str, v: Any, expected: str, where: str) -> UserError:
    config = df["config_id"][i] if "config_id" in df.columns else None
    source = df["source"][i] if "source" in df.columns else None
    return UserError(f"config {config}: {name} = {v!r} is not {expected}", where=str(source or where))
