"""Export a Ranking to TOML or CSV, and read an export back.

Both hold what reproduces the ranking: the weights, the normalisation and the missing-value
policy, and per row its rank, score, Pareto mark, identity and raw metrics.
`edgetui rank EXPORT --weights <the same>` (or rank(load_ranking_export(p).frame(), p.weights))
gives the same order, since normalisation is over the rows shown and the file holds exactly those.

TOML: a [ranking] table, then one [[rows]] table per row. TOML has no null, so a missing value
is an absent key (said in the file's header comment and in ranking.null_values).
CSV: a plain CSV (the header on the first line, an empty cell for a missing value) that a
spreadsheet or csv.DictReader reads as it is; the [ranking] table goes beside it in
FILE.csv.meta.toml. A text cell that a spreadsheet would run as a formula (it starts with
= + - @, a tab or a carriage return: a model named =HYPERLINK(...)) is written with a quote
before it (edgetui.fmt.spreadsheet_text; a number is never changed), said in the sidecar, and
taken off again when edgetui reads the export back. (Exports written before that, with "# " comment lines above the header, are
still read.)

The rows are written by polars column by column, not row by row: 100,000 rows take well under
a second where a TOML library's writer took half a minute.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import tomli_w

from edgetui import __version__
from edgetui.errors import UserError
from edgetui.fmt import SPREADSHEET_GUARDED_PATTERN, SPREADSHEET_QUOTE
from edgetui.ranking.criteria import CRITERIA, format_weights, parse_weights, validate_weights
from edgetui.ranking.frame import frame_from_rows, is_derived, read_csv_typed, typed
from edgetui.ranking.noise import METHOD as INTERVAL_METHOD
from edgetui.ranking.outfile import check_target, write_export, write_export_text
from edgetui.ranking.rank import Ranking
from edgetui.tomlread import loads as toml_loads
from edgetui.tomlread import tomllib

FORMAT_NAME = "edgetui ranking"
FORMAT_VERSION = 1
CSV_MAGIC = f"# {FORMAT_NAME}"  # the first line of a CSV export written before the sidecar
META_SUFFIX = ".meta.toml"
NULL_NOTE = "TOML has no null: a key absent from a row is a missing value (not measured), never zero"
CSV_NULL_NOTE = "an empty cell in the CSV is a missing value (not measured), never zero"
CSV_TEXT_NOTE = (f"a text cell that starts with = + - @, a tab, a carriage return or {SPREADSHEET_QUOTE} has a "
                 f"{SPREADSHEET_QUOTE} put before it, so that a spreadsheet shows it rather than running it "
                 "as a formula; numbers are written as they are")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def meta_path(csv_path: str | Path) -> Path:
    """Where the settings of a CSV export are kept: FILE.csv.meta.toml."""
    p = Path(csv_path)
    return p.with_name(p.name + META_SUFFIX)


def is_export(p: Path) -> bool:
    """A file written by export_ranking (a .toml, or a .csv with its sidecar or the old header)."""
    suffix = p.suffix.lower()
    if suffix == ".toml":
        return True
    if suffix != ".csv":
        return False
    if meta_path(p).is_file():
        return True
    try:
        with p.open(encoding="utf-8") as f:
            return f.readline().startswith(CSV_MAGIC)
    except (OSError, UnicodeDecodeError):
        return False


def _meta(ranking: Ranking) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "weights": {k: float(ranking.weights[k]) for k in CRITERIA if k in ranking.weights},
        "normalisation": ranking.normalisation,
        "missing_policy": ranking.missing_policy,
        "filters": dict(ranking.filters or {}),
        "include_failed": ranking.include_failed,
        # --where: the file holds only the rows meeting them; the others are counted here
        "constraints": [c.text for c in ranking.constraints],
        "left_out": {why: n for why, n in ranking.left_out},
        **({"rank_intervals": {"resamples": ranking.resamples, "seed": ranking.seed, "method": INTERVAL_METHOD}}
           if ranking.resamples and ranking.seed is not None else {}),
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        "edgetui_version": __version__,
        "sources": ranking.sources,
        "criteria": {k: {"column": CRITERIA[k].column, "unit": CRITERIA[k].unit,
                         "direction": CRITERIA[k].direction} for k in ranking.selected},
        "rows": ranking.table.height,
    }


def export_ranking(ranking: Ranking, path: str | Path, *, force: bool = False) -> Path:
    """Write the ranking to PATH (.toml, or .csv and its .meta.toml), atomically and never through
    a symbolic link (ranking.outfile); an existing file only with force."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".csv"):
        raise UserError("export file must end in .toml or .csv", where=str(p))
    check_target(p, force=force)
    if suffix == ".toml":
        return write_export(p, lambda f: _write_toml(ranking, f), force=force)
    # the settings first: a CSV is never left beside another ranking's settings
    write_export_text(meta_path(p), _csv_meta(ranking, p), force=True)
    return write_export(p, spreadsheet_safe(ranking.table).write_csv, force=force)


def _write_toml(ranking: Ranking, f: BinaryIO) -> None:
    header = (f"# {FORMAT_NAME}, written by edgetui {__version__}\n"
              f"# Reproduce: edgetui rank THIS_FILE --weights {format_weights(ranking.weights)}\n"
              f"# {NULL_NOTE}\n")
    f.write((header + tomli_w.dumps({"ranking": {**_meta(ranking), "null_values": NULL_NOTE}})).encode())
    if ranking.table.height:
        f.write(b"\n")
        # each row's text made by polars' streaming engine and written as it is made: no 150 MB text
        # held anywhere, and the writing overlaps the formatting (100,000 rows: 0.6 s, not 0.9 s)
        ranking.table.lazy().select(_toml_row_text(ranking.table)).sink_csv(
            f, include_header=False, quote_style="never")


def _csv_meta(ranking: Ranking, csv_path: Path) -> str:
    header = (f"# The settings of the ranking in {csv_path.name} ({FORMAT_NAME}, edgetui {__version__})\n"
              f"# Reproduce: edgetui rank {csv_path.name} --weights {format_weights(ranking.weights)}\n")
    return header + tomli_w.dumps({"ranking": {**_meta(ranking), "file": csv_path.name,
                                               "null_values": CSV_NULL_NOTE, "text_cells": CSV_TEXT_NOTE}})


def spreadsheet_safe(table: pl.DataFrame) -> pl.DataFrame:
    """The table as the CSV export writes it: every text column through the spreadsheet rule
    (edgetui.fmt.spreadsheet_text, column-wise); other columns as they are."""
    text = [c for c, dtype in table.schema.items() if dtype == pl.String]
    if not text or table.height == 0:
        return table
    # one look at every text column first: most have no such cell, and are written as they are
    seen = table.select(pl.col(text).str.contains(SPREADSHEET_GUARDED_PATTERN).any()).row(0, named=True)
    guarded = [c for c in text if seen[c]]
    if not guarded:
        return table
    return table.with_columns(pl.col(guarded).str.replace(SPREADSHEET_GUARDED_PATTERN, SPREADSHEET_QUOTE + "$1"))


def spreadsheet_safe_back(table: pl.DataFrame) -> pl.DataFrame:
    """What spreadsheet_safe was given: the quote taken off every text cell it was put before."""
    text = [c for c, dtype in table.schema.items() if dtype == pl.String]
    if not text:
        return table
    return table.with_columns(pl.col(text).str.strip_prefix(SPREADSHEET_QUOTE))


def toml_rows(table: pl.DataFrame) -> str:
    """One [[rows]] table per row (what the export writes after its [ranking] table)."""
    if table.height == 0:
        return ""
    return table.select(_toml_row_text(table)).to_series().str.join("\n").item()


# a character a TOML basic string cannot hold as it is: a quote, a backslash, a control character
_NEEDS_ESCAPE = r'["\\\x00-\x1f\x7f]'


def _toml_row_text(table: pl.DataFrame) -> pl.Expr:
    """Per row, its [[rows]] table as text, built by polars column by column: a missing value is
    an absent key (a null text makes a null part, which concat_str leaves out); text is a TOML
    basic string (JSON's escapes are TOML's, less DEL).

    What a column holds is looked at first, in one pass, so that each column pays only for what it
    needs: a column without nulls goes straight into the row's text (no part of its own to drop), a
    float column without NaN is cast as it is, and a text column with nothing to escape is just
    quoted (`edgetui rank` of 100,000 rows of 101 columns to .toml: 1.17 s, against 1.49 s when every
    column was treated alike)."""
    schema = table.schema
    checks: list[pl.Expr] = []
    for name, dtype in schema.items():
        col = pl.col(name)
        checks.append(col.null_count().gt(0).alias(f"null:{name}"))
        if dtype.is_float():
            checks.append(col.is_nan().any().alias(f"nan:{name}"))
        elif not (dtype == pl.Boolean or dtype.is_integer()):
            checks.append(col.cast(pl.String).str.contains(_NEEDS_ESCAPE).any().alias(f"esc:{name}"))
    seen = table.select(checks).row(0, named=True) if table.height else {}
    pieces: list[pl.Expr] = [pl.lit("[[rows]]\n")]
    for name, dtype in schema.items():
        col = pl.col(name)
        text: pl.Expr
        if dtype == pl.Boolean:
            text = pl.when(col).then(pl.lit("true")).when(col.not_()).then(pl.lit("false"))  # null stays null
        elif dtype.is_integer():
            text = col.cast(pl.String)
        elif dtype.is_float():
            # polars writes the shortest text that reads back as the same float; TOML spells NaN "nan"
            text = col.cast(pl.String)
            if seen.get(f"nan:{name}"):
                text = pl.when(col.is_nan()).then(pl.lit("nan")).otherwise(text)
        elif seen.get(f"esc:{name}"):
            quoted = pl.struct(col.cast(pl.String).alias("v")).struct.json_encode()  # a null is "null" here
            text = pl.when(col.is_null()).then(None).otherwise(
                quoted.str.strip_prefix('{"v":').str.strip_suffix("}").str.replace_all("\x7f", r"\u007f", literal=True))
        else:
            text = pl.concat_str([pl.lit('"'), col.cast(pl.String), pl.lit('"')])  # null stays null
        key = name if _BARE_KEY.fullmatch(name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if seen.get(f"null:{name}"):
            pieces.append(pl.lit(f"{key} = ") + text + pl.lit("\n"))  # null as a whole when the value is
        else:
            pieces += [pl.lit(f"{key} = "), text, pl.lit("\n")]
    return pl.concat_str(pieces, ignore_nulls=True).alias("toml")


@dataclass
class RankingExport:
    """An export read back: its rows (with rank, score, ...) and the settings that made them."""

    table: pl.DataFrame
    weights: dict[str, float]
    normalisation: str
    missing_policy: str
    filters: dict[str, list[str]] = field(default_factory=dict)
    include_failed: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pl.DataFrame:
        """The result columns only (no rank, score, norm_...): input for ranking.rank()."""
        return self.table.select([c for c in self.table.columns if not is_derived(c)])


def load_ranking_export(path: str | Path) -> RankingExport:
    """Read a file written by export_ranking (.toml or .csv); anything else -> UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError("no such export file", where=str(p))
    if p.suffix.lower() == ".toml":
        return _load_toml(p)
    if p.suffix.lower() == ".csv":
        if meta_path(p).is_file():
            return _load_csv(p)
        return _load_commented_csv(p)
    raise UserError("an exported ranking ends in .toml or .csv", where=str(p))


def _read_settings(doc: dict[str, Any], p: Path) -> tuple[dict[str, Any], dict[str, float]]:
    meta = doc.get("ranking")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise UserError(f'not an edgetui ranking export: no [ranking] table with format = "{FORMAT_NAME}"',
                        where=str(p))
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(f"ranking export version {meta.get('format_version')}, this edgetui reads "
                        f"{FORMAT_VERSION}", where=str(p))
    try:
        weights = validate_weights(meta.get("weights") or {})
    except UserError as exc:
        raise UserError(f"[ranking] weights: {exc.message}", where=str(p)) from None
    return meta, weights


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        return toml_loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"unreadable TOML: {exc}", where=str(p)) from None


def _export(table: pl.DataFrame, meta: dict[str, Any], weights: dict[str, float], p: Path) -> RankingExport:
    return RankingExport(table=_typed(table, p), weights=weights, normalisation=str(meta.get("normalisation", "")),
                         missing_policy=str(meta.get("missing_policy", "")),
                         filters={k: list(v) for k, v in (meta.get("filters") or {}).items()},
                         include_failed=bool(meta.get("include_failed", False)), meta=meta)


def _load_toml(p: Path) -> RankingExport:
    doc = _read_toml(p)
    meta, weights = _read_settings(doc, p)
    rows = doc.get("rows", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError("[[rows]] must be tables", where=str(p))
    rows = [{k: (v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v) for k, v in r.items()}
            for r in rows]
    return _export(_rows_frame(rows, p), meta, weights, p)


def _load_csv(p: Path) -> RankingExport:
    meta, weights = _read_settings(_read_toml(meta_path(p)), p)
    table = read_csv_typed(p, str(p))
    if "text_cells" in meta:  # written with the spreadsheet rule (exports before it were not)
        table = spreadsheet_safe_back(table)
    return _export(table, meta, weights, p)


def _load_commented_csv(p: Path) -> RankingExport:
    """An export from before the sidecar: "# key: value" lines above the header."""
    meta: dict[str, Any] = {}
    try:
        with p.open(encoding="utf-8") as f:
            first = f.readline()
            if not first.startswith(CSV_MAGIC):
                raise UserError(f'not an edgetui ranking export: no {meta_path(p).name} beside it and the first '
                                f'line is not "{CSV_MAGIC} ..."', where=str(p))
            for line in f:
                if not line.startswith("# "):
                    break
                key, sep, value = line[2:].rstrip("\n").partition(": ")
                if sep:
                    meta[key] = value
        df = pl.read_csv(p, comment_prefix="#", infer_schema=False)
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        raise UserError(f"unreadable CSV: {exc}", where=str(p)) from None
    if "weights" not in meta:
        raise UserError('no "# weights: ..." line in the header', where=str(p))
    try:
        weights = parse_weights(meta["weights"])
    except UserError as exc:
        raise UserError(f"weights line: {exc.message}", where=str(p)) from None
    filters: dict[str, list[str]] = {}
    for part in filter(None, meta.get("filters", "").split(";")):
        col, _, values = part.partition("=")
        filters[col] = values.split("|")
    meta["filters"] = filters
    meta["include_failed"] = meta.get("include_failed") == "true"
    return _export(df, meta, weights, p)


def _rows_frame(rows: list[dict[str, Any]], p: Path) -> pl.DataFrame:
    for i, r in enumerate(rows):
        if not r.get("config_id"):
            raise UserError(f"row {i + 1} has no config_id", where=str(p))
    return frame_from_rows(rows, str(p)) if rows else pl.DataFrame()


def _typed(df: pl.DataFrame, p: Path) -> pl.DataFrame:
    """Rows of an export: typed, `source` filled in where the file has none, the ranking's
    columns first as in the file."""
    if df.width == 0:
        return df
    if "config_id" in df.columns and df["config_id"].is_null().any():
        raise UserError(f"row {int(df['config_id'].is_null().arg_true()[0]) + 1} has no config_id", where=str(p))
    df = typed(df, str(p)).with_columns(pl.col("source").fill_null(str(p)))
    if "missing" in df.columns:  # "nothing missing" is an empty list, as in a fresh ranking
        df = df.with_columns(pl.col("missing").fill_null(""))
    return df.select([c for c in df.columns if is_derived(c)] + [c for c in df.columns if not is_derived(c)])
