"""Export a Ranking to TOML (tomli-w) or CSV (polars), and read an export back.

Both formats hold what reproduces the ranking: the weights, the normalisation and the
missing-value policy, and per row its rank, score, Pareto mark, identity and raw metrics.
`edgetui rank EXPORT --weights <the same>` (or rank(load_ranking_export(p).frame(), p.weights))
gives the same order, since normalisation is over the rows shown and the file holds exactly those.

TOML: a [ranking] table, then one [[rows]] table per row. TOML has no null, so a missing value
is an absent key (said in the file's header comment and in ranking.null_values).
CSV: leading "# " comment lines carry the weights and policies (read back with polars'
comment_prefix="#"); then a header and one line per row; an empty cell is a missing value.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import tomli_w

from edgetui import __version__
from edgetui.errors import UserError
from edgetui.ranking.rank import (CRITERIA, RANK_COLUMNS, Ranking, format_weights, frame_from_rows, parse_weights,
                             validate_weights)
from edgetui.rundir.store import atomic_write

from edgetui.tomlread import tomllib

FORMAT_NAME = "edgetui ranking"
FORMAT_VERSION = 1
CSV_MAGIC = f"# {FORMAT_NAME}"
NULL_NOTE = "TOML has no null: a key absent from a row is a missing value (not measured), never zero"


def _derived(col: str) -> bool:
    return col in RANK_COLUMNS or col.startswith(("value_", "norm_"))


def _meta(ranking: Ranking) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "weights": {k: float(ranking.weights[k]) for k in CRITERIA if k in ranking.weights},
        "normalisation": ranking.normalisation,
        "missing_policy": ranking.missing_policy,
        "filters": dict(ranking.filters or {}),
        "include_failed": ranking.include_failed,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        "edgetui_version": __version__,
        "sources": ranking.sources,
        "criteria": {k: {"column": CRITERIA[k].column, "unit": CRITERIA[k].unit,
                         "direction": CRITERIA[k].direction} for k in ranking.selected},
        "rows": ranking.table.height,
    }


def export_ranking(ranking: Ranking, path: str | Path, *, force: bool = False) -> Path:
    """Write the ranking to PATH (.toml or .csv), atomically; an existing file only with force."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".csv"):
        raise UserError("export file must end in .toml or .csv", where=str(p))
    if p.exists() and not force:
        raise UserError("file exists; use --force to overwrite it", where=str(p))
    if p.exists() and p.is_dir():
        raise UserError("is a folder, not a file", where=str(p))
    text = _to_toml(ranking) if suffix == ".toml" else _to_csv(ranking)
    try:
        atomic_write(p, text)
    except OSError as exc:
        raise UserError(f"cannot write the export: {exc.strerror}", where=str(p)) from None
    return p


def _to_toml(ranking: Ranking) -> str:
    rows = [{k: v for k, v in row.items() if v is not None} for row in ranking.table.to_dicts()]
    doc = {"ranking": {**_meta(ranking), "null_values": NULL_NOTE}, "rows": rows}
    header = (f"# {FORMAT_NAME}, written by edgetui {__version__}\n"
              f"# Reproduce: edgetui rank THIS_FILE --weights {format_weights(ranking.weights)}\n"
              f"# {NULL_NOTE}\n")
    return header + tomli_w.dumps(doc)


def _to_csv(ranking: Ranking) -> str:
    meta = _meta(ranking)
    filters = ";".join(f"{c}={'|'.join(v)}" for c, v in meta["filters"].items())
    lines = [
        f"{CSV_MAGIC} v{FORMAT_VERSION}, written by edgetui {__version__}",
        f"# weights: {format_weights(ranking.weights)}",
        f"# normalisation: {ranking.normalisation}",
        f"# missing_policy: {ranking.missing_policy}",
        f"# filters: {filters}",
        f"# include_failed: {str(ranking.include_failed).lower()}",
        f"# created: {meta['created'].isoformat()}",
        f"# sources: {';'.join(meta['sources'])}",
        "# empty cell = missing value (not measured), never zero",
    ]
    # a comment line must never be mistaken for data nor a data line for a comment: newlines
    # inside text cells (engine error messages) are flattened so no data line can start with "#"
    table = ranking.table.with_columns(
        pl.col(c).str.replace_all(r"[\r\n]+", " ") for c, t in ranking.table.schema.items() if t == pl.String)
    buf = io.StringIO()
    table.write_csv(buf)
    return "\n".join(lines) + "\n" + buf.getvalue()


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
        return self.table.select([c for c in self.table.columns if not _derived(c)])

    def result_rows(self) -> list[dict[str, Any]]:
        return self.frame().to_dicts()


def load_ranking_export(path: str | Path) -> RankingExport:
    """Read a file written by export_ranking (.toml or .csv); anything else -> UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError("no such export file", where=str(p))
    if p.suffix.lower() == ".toml":
        return _load_toml(p)
    if p.suffix.lower() == ".csv":
        return _load_csv(p)
    raise UserError("an exported ranking ends in .toml or .csv", where=str(p))


def _load_toml(p: Path) -> RankingExport:
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"unreadable TOML: {exc}", where=str(p)) from None
    meta = doc.get("ranking")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise UserError(f'not an edgetui ranking export: no [ranking] table with format = "{FORMAT_NAME}"',
                        where=str(p))
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(f"ranking export version {meta.get('format_version')}, this edgetui reads "
                        f"{FORMAT_VERSION}", where=str(p))
    rows = doc.get("rows", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError("[[rows]] must be tables", where=str(p))
    try:
        weights = validate_weights(meta.get("weights") or {})
    except UserError as exc:
        raise UserError(f"[ranking] weights: {exc.message}", where=str(p)) from None
    rows = [{k: (v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v) for k, v in r.items()}
            for r in rows]
    return RankingExport(table=_typed(rows, p), weights=weights,
                         normalisation=str(meta.get("normalisation", "")),
                         missing_policy=str(meta.get("missing_policy", "")),
                         filters={k: list(v) for k, v in (meta.get("filters") or {}).items()},
                         include_failed=bool(meta.get("include_failed", False)), meta=meta)


def _load_csv(p: Path) -> RankingExport:
    meta: dict[str, str] = {}
    try:
        with p.open(encoding="utf-8") as f:
            first = f.readline()
            if not first.startswith(CSV_MAGIC):
                raise UserError(f'not an edgetui ranking export: the first line is not "{CSV_MAGIC} ..."',
                                where=str(p))
            for line in f:
                if not line.startswith("# "):
                    break
                key, sep, value = line[2:].rstrip("\n").partition(": ")
                if sep:
                    meta[key] = value
        # every cell as text: types come from the column (frame_from_rows), as for results.csv
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
    rows = [{k: (None if v == "" else v) for k, v in r.items()} for r in df.to_dicts()]
    return RankingExport(table=_typed(rows, p), weights=weights, normalisation=meta.get("normalisation", ""),
                         missing_policy=meta.get("missing_policy", ""), filters=filters,
                         include_failed=meta.get("include_failed") == "true", meta=dict(meta))


def _typed(rows: list[dict[str, Any]], p: Path) -> pl.DataFrame:
    for i, r in enumerate(rows):
        if not r.get("config_id"):
            raise UserError(f"row {i + 1} has no config_id", where=str(p))
        r.setdefault("source", str(p))
    if not rows:
        return pl.DataFrame()
    df = frame_from_rows(rows)
    if "missing" in df.columns:  # "nothing missing" is an empty list, as in a fresh ranking
        df = df.with_columns(pl.col("missing").fill_null(""))
    return df.select([c for c in df.columns if _derived(c)] + [c for c in df.columns if not _derived(c)])
