"""Results in llama-bench's own words (`edgetui export`), so that scripts and dashboards written
for llama-bench read edgetui's runs (llama.cpp's scripts/compare-llama-bench.py among them): every
field llama-bench writes, in its order, and one record per configuration and test, prefill and
decode apart as llama-bench splits them (a `pp` test of n_prompt tokens, a `tg` test of n_gen).

    llama-bench-jsonl  one JSON object per line, as `llama-bench -o jsonl`
    json               a JSON array of the same objects, as `llama-bench -o json`
    csv                the fields without the samples, every value quoted, as `llama-bench -o csv`; a
                       text value a spreadsheet would run as a formula gets a quote before it
                       (edgetui.fmt.spreadsheet_text; numbers are written as they are)
    llama-bench-md     llama-bench's markdown table (its `backend` column holds the board and engine)
    llama-bench-sql    a SQLite file with llama-bench's table, as `llama-bench -o sql | sqlite3 FILE`
                       (llama-bench.sqlite is the file compare-llama-bench.py reads by default)

Where edgetui measured differently, the figure is edgetui's: the rates are its benchmark rates
(engine timers where the engine has them), a sample is one counted repetition. Tests are named
as llama-bench names them: n_gen is the tokens generated (128 for 128, though edgetui's timed
decode makes 127 of them: the first comes out of the prefill; a sample's time is n_gen tokens at
its rate), and a tg record's n_depth is the context it decoded at (the prompt and any depth
before it). Settings edgetui has no counterpart for are at llama-bench's own defaults; what
edgetui knows beyond llama-bench is in fields named edgetui_*."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgetui.errors import UserError
from edgetui.fmt import NA, spreadsheet_text
from edgetui.profiles.engines import in_process
from edgetui.ranking.constraints import Constraint, apply_constraints, constraints_text, left_out_text
from edgetui.ranking.outfile import write_export, write_export_text
from edgetui.ranking.sources import load_results
from edgetui.rundir.store import RunStore
from edgetui.stats import mean, std  # std: the sample deviation (n - 1), as llama-bench's

FORMATS = ("llama-bench-jsonl", "llama-bench-md", "json", "csv", "llama-bench-sql")

# llama-bench's test fields, in its order (tools/llama-bench/llama-bench.cpp, test::get_fields, of
# the llama.cpp that llama-cpp-python 0.3.36 vendors); the samples follow them in JSON.
FIELDS = ("build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename", "model_type",
          "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "cpu_mask", "cpu_strict", "poll",
          "type_k", "type_v", "n_gpu_layers", "n_cpu_moe", "split_mode", "main_gpu", "no_kv_offload", "flash_attn",
          "devices", "tensor_split", "tensor_buft_overrides", "load_mode", "lazy_mode", "embeddings",
          "no_op_offload", "no_host", "repack", "fit_target", "fit_min_ctx", "n_prompt", "n_gen", "n_depth",
          "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts")
# their types (test::get_field_type): the rest are text; SQL: INTEGER for both int and bool, REAL
INT_FIELDS = frozenset(("build_number", "n_batch", "n_ubatch", "n_threads", "poll", "model_size", "model_n_params",
                        "n_gpu_layers", "main_gpu", "n_prompt", "n_gen", "n_depth", "avg_ns", "stddev_ns",
                        "no_op_offload", "n_cpu_moe", "fit_target", "fit_min_ctx", "flash_attn"))
BOOL_FIELDS = frozenset(("no_kv_offload", "cpu_strict", "embeddings", "no_host", "repack"))
FLOAT_FIELDS = frozenset(("avg_ts", "stddev_ts"))
SAMPLES = ("samples_ns", "samples_ts")
EXTRA = ("edgetui_config_id", "edgetui_board", "edgetui_engine", "edgetui_model", "edgetui_concurrency",
         "edgetui_timing_source", "edgetui_source")
FLASH = {"auto": -1, "true": 1, "false": 0}  # llama_flash_attn_type, as llama-bench writes it

# llama-bench's defaults (cmd_params_defaults, and what its test::get_values writes for them) for
# the settings edgetui has no counterpart of: edgetui's llama_cpp engine leaves each of them at
# llama.cpp's default, as llama-bench does. backends "CPU" and gpu_info empty: the wheel
# scripts/llama-wheel.sh builds has no GPU backend.
LLAMA_BENCH_DEFAULTS: dict[str, Any] = {
    "gpu_info": "", "backends": "CPU", "cpu_mask": "0x0", "cpu_strict": False, "poll": 50, "n_cpu_moe": 0,
    "split_mode": "layer", "main_gpu": 0, "no_kv_offload": False, "devices": "auto", "tensor_split": "0.00",
    "tensor_buft_overrides": "none", "load_mode": "auto", "lazy_mode": "auto", "embeddings": False,
    "no_op_offload": 0, "no_host": False, "repack": True, "fit_target": 0, "fit_min_ctx": 0,
}

# The llama.cpp each pinned llama-cpp-python vendors, as llama-bench names its build: build_commit
# is `git rev-parse --short HEAD` and build_number `git rev-list --count HEAD` of llama.cpp, which
# its cmake (cmake/build-info.cmake) compiles in. The wheel is built from the sdist, which has no
# .git, so the build itself knows neither ("unknown", 0) and llama_cpp offers neither at run time:
# they are recorded here. 0.3.36: the sdist's CHANGELOG.md says "update llama.cpp to
# ggml-org/llama.cpp@0c1e57098"; that commit is llama.cpp's release b11312 (build 11312).
VENDORED_LLAMA_CPP: dict[str, tuple[str, int]] = {"0.3.36": ("0c1e57098", 11312)}
UNKNOWN_BUILD = ("unknown", 0)  # what llama.cpp writes when built without git; any engine but llama_cpp


def build_of(row: dict[str, Any]) -> tuple[str, int]:
    """build_commit and build_number of the llama.cpp that measured this row."""
    version = str(row.get("engine_version") or "")
    prefix = "llama-cpp-python "
    if not in_process(row.get("engine")) or not version.startswith(prefix):  # a server: its own build
        return UNKNOWN_BUILD
    return VENDORED_LLAMA_CPP.get(version[len(prefix):].strip(), UNKNOWN_BUILD)


def export_llama_bench(paths: Sequence[str | Path], fmt: str, out: str | Path | None, *,
                       force: bool = False, where: Sequence[Constraint] = (),
                       left_out: list[tuple[str, int]] | None = None) -> tuple[str, int]:
    """Write the records of these runs in a llama-bench format to out (None: return the text
    only; the SQLite format needs a file); the text ("" for SQLite) and the number of records.
    Constraints keep the rows meeting them; the rows they leave out are counted into left_out."""
    if fmt not in FORMATS:
        raise UserError(f'unknown format "{fmt}" (one of {", ".join(FORMATS)})', where="--format")
    if fmt == "llama-bench-sql" and out is None:
        raise UserError("llama-bench-sql writes a SQLite file: give --out FILE (compare-llama-bench.py reads "
                        "llama-bench.sqlite by default)", where="--out")
    dropped: list[tuple[str, int]] = []
    recs = records(paths, where, dropped)
    if left_out is not None:
        left_out.extend(dropped)
    if not recs:
        why = f" meeting {constraints_text(where)} ({left_out_text(dropped)})" if where else ""
        raise UserError(f"no finished configuration with a prefill or decode figure{why} to export",
                        where=", ".join(map(str, paths)))
    if fmt == "llama-bench-sql" and out is not None:
        write_export(out, lambda f: f.write(sqlite_bytes(recs)), force=force)
        return "", len(recs)
    text = {"llama-bench-jsonl": to_jsonl, "json": to_json, "csv": to_csv, "llama-bench-md": to_markdown}[fmt](recs)
    if out is not None:
        write_export_text(out, text, force=force)
    return text, len(recs)


def records(paths: Sequence[str | Path], where: Sequence[Constraint] = (),
            left_out: list[tuple[str, int]] | None = None) -> list[dict[str, Any]]:
    """One record per finished configuration and test (pp, then tg), in the order of the inputs;
    with constraints (`--where`), of the rows meeting them (the others counted into left_out)."""
    frame, dropped = apply_constraints(load_results(paths), where)
    if left_out is not None:
        left_out.extend(dropped)
    rows = frame.to_dicts()
    reps = RepsBySource()
    out: list[dict[str, Any]] = []
    for row in rows:
        if row.get("status") != "done":
            continue  # a failed or skipped configuration has no figures
        counted = reps.of(row.get("source"), row["config_id"])
        for test in ("pp", "tg"):
            rec = record(row, counted, test)
            if rec is not None:
                out.append(rec)
    return out


class RepsBySource:
    """The counted repetitions of each run folder, read once: the samples behind each mean."""

    def __init__(self) -> None:
        self._by_folder: dict[Path, dict[str, list[dict[str, Any]]]] = {}

    def of(self, source: str | None, config_id: str) -> list[dict[str, Any]]:
        folder = run_folder(source)
        if folder is None:
            return []
        if folder not in self._by_folder:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for r in RunStore(folder).reps():  # one record per repetition
                if not r.get("warmup"):
                    grouped.setdefault(str(r.get("config_id")), []).append(r)
            self._by_folder[folder] = grouped
        return self._by_folder[folder].get(config_id, [])


def run_folder(source: str | None) -> Path | None:
    """The run folder a row came from (a folder, or its results file), if it is one."""
    if not source:
        return None
    p = Path(source)
    folder = p if p.is_dir() else p.parent
    store = RunStore(folder)
    return folder if store.manifest_path.is_file() and store.reps_path.is_file() else None


def record(row: dict[str, Any], reps: list[dict[str, Any]], test: str) -> dict[str, Any] | None:
    """The pp or tg record of one configuration; None when it has no figure for that test."""
    depth = _whole(row.get("n_depth")) or 0
    n_prompt: int | None
    n_gen: int | None
    if test == "pp":
        n_prompt, n_gen = _whole(row.get("prompt_tokens")), 0
        rate_key, mean_key, std_key = "prefill_tps", "prefill_tps_mean", "prefill_tps_std"
        n = n_prompt
    else:
        # llama-bench's tg128 is 128 tokens generated, from a context of the depth before them: here
        # the tokens produced (one stream's, with concurrency), after the prompt and its depth
        n_prompt = 0
        n_gen = _whole(mean(_generated(r) for r in reps))
        if n_gen is None:
            n_gen = _whole(row.get("gen_tokens_mean")) or _whole(row.get("gen_tokens"))
        depth += _whole(row.get("prompt_tokens")) or 0
        rate_key, mean_key, std_key = "decode_tps", "decode_tps_mean", "decode_tps_std"
        n = n_gen
    if not n or row.get(mean_key) is None:
        return None
    samples_ts = [r[rate_key] for r in reps if r.get(rate_key)]
    if test == "pp":
        counts = [r.get("engine_prefill_n") or r.get("prompt_tokens") for r in reps]
    else:
        counts = [n_gen] * len(reps)  # a sample's time: n_gen tokens at its rate, as llama-bench's ts = n / time
    samples_ns = [round(c * 1e9 / r[rate_key]) for r, c in zip(reps, counts) if r.get(rate_key) and c]
    if samples_ts:
        avg_ts, stddev_ts = mean(samples_ts), std(samples_ts)
    else:  # a results file without its run folder: the means it holds, no samples
        avg_ts, stddev_ts = row[mean_key], row.get(std_key)
    size_mb = row.get("model_size_mb")
    commit, number = build_of(row)
    rec: dict[str, Any] = dict(LLAMA_BENCH_DEFAULTS)
    rec.update({
        "build_commit": commit,
        "build_number": number,
        "cpu_info": row.get("cpu_model"),
        "model_filename": row.get("model_path"),
        "model_type": row.get("model_type") or " ".join(str(v) for v in (row.get("model"), row.get("quant")) if v),
        "model_size": round(size_mb * 1e6) if size_mb is not None else None,
        "model_n_params": _whole(row.get("model_n_params")),
        "n_batch": _whole(row.get("n_batch")),
        "n_ubatch": min(int(row["n_batch"]), 512) if row.get("n_batch") is not None else None,
        "n_threads": _whole(row.get("n_threads")),
        "type_k": row.get("kv_cache_type"),
        "type_v": row.get("kv_cache_type"),
        "n_gpu_layers": _whole(row.get("n_gpu_layers")),
        "flash_attn": FLASH.get(str(row.get("flash_attn")).lower()),
        "n_prompt": n_prompt,
        "n_gen": n_gen,
        "n_depth": depth,
        "test_time": _test_time(row.get("started_at")),
        "avg_ns": round(sum(samples_ns) / len(samples_ns)) if samples_ns else None,
        "stddev_ns": round(std(samples_ns) or 0.0) if len(samples_ns) > 1 else None,
        "avg_ts": avg_ts,
        "stddev_ts": stddev_ts,
        "samples_ns": samples_ns,
        "samples_ts": samples_ts,
        "edgetui_config_id": row["config_id"],
        "edgetui_board": row.get("board"),
        "edgetui_engine": row.get("engine"),
        "edgetui_model": row.get("model"),
        "edgetui_concurrency": _whole(row.get("concurrency")) or 1,
        "edgetui_timing_source": row.get("timing_source"),
        "edgetui_source": row.get("source"),
    })
    return rec


def _test_time(started_at: Any) -> str | None:
    """llama-bench's test_time, RFC 3339 in UTC to the second ("2026-01-01T00:00:00Z"), from
    edgetui's started_at; as given when it does not parse."""
    if not started_at:
        return None
    try:
        t = datetime.fromisoformat(str(started_at).replace("Z", "+00:00"))
    except ValueError:
        return str(started_at)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _generated(rep: dict[str, Any]) -> float | None:
    """Tokens one repetition generated (one of its streams, on average)."""
    if rep.get("streams"):
        per = [s.get("gen_tokens") for s in rep["streams"] if s.get("gen_tokens") is not None]
        return sum(per) / len(per) if per else None
    return rep.get("gen_tokens_actual")


def _whole(v: Any) -> int | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else int(round(v))


# ------------------------------------------------------------------ printers


def _ordered(rec: dict[str, Any], samples: bool = True) -> dict[str, Any]:
    keys = FIELDS + (SAMPLES if samples else ()) + EXTRA
    return {k: rec.get(k) for k in keys}


def to_jsonl(recs: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(_ordered(r)) + "\n" for r in recs)


def to_json(recs: list[dict[str, Any]]) -> str:
    return json.dumps([_ordered(r) for r in recs], indent=2) + "\n"


def _sql_type(field: str) -> str:
    if field in INT_FIELDS or field in BOOL_FIELDS or field == "edgetui_concurrency":
        return "INTEGER"
    return "REAL" if field in FLOAT_FIELDS else "TEXT"


def sqlite_bytes(recs: list[dict[str, Any]]) -> bytes:
    """llama-bench's table `llama_bench` (its fields and SQL types, as its sql printer creates it,
    then edgetui's own), one row per record: the bytes of a SQLite file, made aside so that the
    export is written over its name at once, as every export is (ranking.outfile)."""
    keys = FIELDS + EXTRA
    with tempfile.TemporaryDirectory(prefix="edgetui-sql-") as tmp:
        made = Path(tmp) / "llama-bench.sqlite"
        db = sqlite3.connect(made)
        try:
            with db:
                db.execute("CREATE TABLE llama_bench (" + ", ".join(f"{k} {_sql_type(k)}" for k in keys) + ")")
                db.executemany(f"INSERT INTO llama_bench ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})",
                               [[int(r[k]) if isinstance(r.get(k), bool) else r.get(k) for k in keys] for r in recs])
        finally:
            db.close()
        return made.read_bytes()


def to_csv(recs: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    keys = FIELDS + EXTRA
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(keys)
    for r in recs:
        w.writerow(["" if r.get(k) is None else spreadsheet_text(r[k]) if isinstance(r[k], str)
                    else int(r[k]) if isinstance(r[k], bool) else r[k] for k in keys])
    return buf.getvalue()


def test_label(rec: dict[str, Any]) -> str:
    """llama-bench's test label: pp512, tg128, with " @ d2048" at a depth."""
    name = f"pp{rec['n_prompt']}" if rec["n_prompt"] and not rec["n_gen"] else f"tg{rec['n_gen']}"
    return name + (f" @ d{rec['n_depth']}" if rec.get("n_depth") else "")


def _size(n: int | None) -> str:
    if n is None:
        return NA
    return f"{n / 2**20:.2f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _params(n: int | None) -> str:
    if n is None:
        return NA
    return f"{n / 1e6:.2f} M" if n < 1e9 else f"{n / 1e9:.2f} B"


def to_markdown(recs: list[dict[str, Any]]) -> str:
    """llama-bench's markdown table: model, size, params, backend (here the board and engine),
    ngl, threads, test, t/s as mean ± standard deviation."""
    header = ("model", "size", "params", "backend", "ngl", "threads", "test", "t/s")
    right = {"size", "params", "ngl", "threads", "test", "t/s"}
    rows = []
    for r in recs:
        std = r.get("stddev_ts")
        rows.append((
            str(r["model_type"]), _size(r.get("model_size")), _params(r.get("model_n_params")),
            " ".join(str(v) for v in (r.get("edgetui_board"), r.get("edgetui_engine")) if v),
            NA if r.get("n_gpu_layers") is None else str(r["n_gpu_layers"]),
            NA if not r.get("n_threads") else str(r["n_threads"]),
            test_label(r), f"{r['avg_ts']:.2f} ± {std:.2f}" if std is not None else f"{r['avg_ts']:.2f}",
        ))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.rjust(w) if h in right else h.ljust(w) for h, w in zip(header, widths)) + " |",
             "| " + " | ".join(("-" * (w - 1) + ":") if h in right else "-" * w for h, w in zip(header, widths))
             + " |"]
    for row in rows:
        lines.append("| " + " | ".join(v.rjust(w) if h in right else v.ljust(w)
                                       for h, v, w in zip(header, row, widths)) + " |")
    return "\n".join(lines) + "\n"
