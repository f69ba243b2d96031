"""Where ranked rows come from: run folders, results.csv / results.json, exported rankings,
read with polars into one typed frame (several boards merged with pl.concat).

A run folder is read from its results.csv (polars parses it in a fraction of the time a JSON of
the same rows takes); the run's manifest says whether an incompatible edgetui wrote it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path

import polars as pl

from edgetui.errors import DataWarning, UserError
from edgetui.ranking.export import is_export, load_ranking_export
from edgetui.ranking.frame import frame_from_rows, read_csv_typed
from edgetui.run.aggregate import folder_rows
from edgetui.rundir.store import SCHEMA_VERSION, RunStore, repeated_note

# Without these a CSV is not a results table (the rest may be absent in an older edgetui's file).
REQUIRED = ("config_id", "status", "decode_tps_mean")


def load_results(paths: Sequence[str | Path], columns: Sequence[str] | None = None, *,
                 notes: list[str] | None = None) -> pl.DataFrame:
    """Merge run folders / results.json / results.csv (several boards) into one frame.

    A `source` column holds the path each row came from. Rows are identified by (source,
    config_id): the same configuration measured on two boards stays two rows. An exported
    ranking (.toml, or a .csv with its .meta.toml) is accepted too and keeps the `source`
    recorded in it. Unreadable, incompatible or empty input -> UserError.
    columns: only these (config_id, status and source always; a CSV's other columns are not parsed).
    notes: where to say what the user should know though nothing was refused (a thread's list);
    without it, a DataWarning.
    """
    if not paths:
        raise UserError("no results given: pass run folders, results.json or results.csv files")
    frames: list[pl.DataFrame] = []
    seen: dict[Path, str] = {}
    for i, path in enumerate(paths):
        resolved = Path(path).resolve()
        if resolved in seen:
            raise UserError(f"given twice (also as {seen[resolved]})", where=str(path))
        seen[resolved] = str(path)
        df = frame_of(path, None if columns is None else {"config_id", "status", "source", *columns}, notes=notes)
        no_id = df["config_id"].is_null() | (df["config_id"] == "") | df["status"].is_null()
        if no_id.any():
            raise UserError(f"row {int(no_id.arg_true()[0]) + 1} has no config_id or status: not an edgetui "
                            "results row", where=str(path))
        frames.append(df.with_columns(pl.col("source").fill_null(str(path)), pl.lit(i).alias("_input")))
    # one input is not copied; several are put end to end (columns one lacks are empty in its rows)
    df = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed", rechunk=False)
    if df.height == 0:
        raise UserError("no result rows in " + ", ".join(str(p) for p in paths)
                        + " (did the run finish any configuration?)")
    ident = pl.struct("source", "config_id")
    again = df.select(~ident.is_first_distinct()).to_series()
    if again.any():
        j = int(again.arg_true()[0])
        source, config_id, second = df["source"][j], df["config_id"][j], str(paths[df["_input"][j]])
        first_at = df.filter((pl.col("source") == source) & (pl.col("config_id") == config_id))["_input"][0]
        first = str(paths[first_at])
        also = "" if first == second else f" (also in {first})"
        raise UserError(f"configuration {config_id} from {source} appears twice{also}; "
                        "a row is identified by its source and config_id", where=second)
    return df.drop("_input")


def frame_of(path: str | Path, columns: Collection[str] | None = None, *,
             notes: list[str] | None = None) -> pl.DataFrame:
    """The typed rows of one input: a run folder, a results file or an exported ranking."""
    p = Path(path)
    if p.is_file() and is_export(p):
        frame = load_ranking_export(p).frame()
        return frame if columns is None else frame.select(c for c in frame.columns if c in columns)
    if p.is_dir():
        store = RunStore(p)
        store.read_manifest()  # an incompatible edgetui's run -> UserError
        repeated = store.repeated_reps()
        if repeated:  # its results.csv counted them twice: the rows are rebuilt from one record each
            note = f"{path}: {repeated_note(repeated)}; its results were recomputed"
            if notes is not None:
                notes.append(note)
            else:
                warnings.warn(DataWarning(note), stacklevel=2)
            frame = frame_from_rows(folder_rows(store), str(p))
            return frame if columns is None else frame.select(c for c in frame.columns if c in columns)
        if store.csv_path.is_file():
            p = store.csv_path
        elif store.json_path.is_file():
            p = store.json_path
        else:
            raise UserError("no results.json or results.csv in this folder", where=str(path))
    if not p.is_file():
        raise UserError("no such results file or folder", where=str(path))
    if p.suffix == ".csv":
        return read_results_csv(p, columns)
    if p.suffix == ".json":
        frame = read_results_json(p)
        return frame if columns is None else frame.select(c for c in frame.columns if c in columns)
    raise UserError("expected a run folder, results.json or results.csv", where=str(p))


def read_results_csv(p: Path, columns: Collection[str] | None = None) -> pl.DataFrame:
    """results.csv with the declared schema; an empty cell is a missing value."""
    try:
        header = pl.read_csv(p, n_rows=0).columns
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise UserError(f"unreadable results file: {exc}", where=str(p)) from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UserError(f"not an edgetui results file: no column(s) {', '.join(missing)}", where=str(p))
    return read_csv_typed(p, str(p), None if columns is None else list(columns))


def read_results_json(p: Path) -> pl.DataFrame:
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"unreadable results file: {exc}", where=str(p)) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        got = data.get("schema") if isinstance(data, dict) else None
        raise UserError(f"results file from an incompatible edgetui (schema {got}, expected "
                        f"{SCHEMA_VERSION})", where=str(p))
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError('"rows" must be a list of objects', where=str(p))
    return frame_from_rows(rows, str(p))
