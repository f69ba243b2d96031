"""Results in llama-bench's own words (`edgetui export`), so that scripts and dashboards written
for llama-bench read edgetui's runs: its field names where a field means the same thing, and one
record per configuration and test, prefill and decode apart as llama-bench splits them (a `pp`
test of n_prompt tokens, a `tg` test of n_gen tokens).

    llama-bench-jsonl  one JSON object per line, as `llama-bench -o jsonl`
    json               a JSON array of the same objects, as `llama-bench -o json`
    csv                the fields without the samples, every value quoted, as `llama-bench -o csv`; a
                       text value a spreadsheet would run as a formula gets a quote before it
                       (edgetui.fmt.spreadsheet_text; numbers are written as they are)
    llama-bench-md     llama-bench's markdown table (its `backend` column holds the board and engine)

Where edgetui measured differently, the figure is edgetui's: the rates are its benchmark rates
(engine timers where the engine has them), n_gen counts the tokens the timed decode produced
(the first comes out of the prefill), a sample is one counted repetition. Fields with no
edgetui counterpart (build commit, CPU mask, ...) are left out; what edgetui knows beyond
llama-bench is in fields named edgetui_*."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgetui.errors import UserError
from edgetui.fmt import spreadsheet_text
from edgetui.stats import mean, std  # std: the sample deviation (n - 1), as llama-bench's
from edgetui.ranking.outfile import write_export_text
from edgetui.ranking.sources import load_results
from edgetui.rundir.store import RunStore

FORMATS = ("llama-bench-jsonl", "llama-bench-md", "json", "csv")

# llama-bench's test fields (tools/llama-bench/llama-bench.cpp, test::get_fields), those with an
# edgetui counterpart, in llama-bench's order; the samples follow them in JSON.
FIELDS = ("cpu_info", "model_filename", "model_type", "model_size", "model_n_params", "n_batch", "n_ubatch",
          "n_threads", "type_k", "type_v", "n_gpu_layers", "flash_attn", "n_prompt", "n_gen", "n_depth",
          "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts")
SAMPLES = ("samples_ns", "samples_ts")
EXTRA = ("edgetui_config_id", "edgetui_board", "edgetui_engine", "edgetui_model", "edgetui_concurrency",
         "edgetui_timing_source", "edgetui_source")
FLASH = {"auto": -1, "true": 1, "false": 0}  # llama_flash_attn_type, as llama-bench writes it


def export_llama_bench(paths: Sequence[str | Path], fmt: str, out: str | Path | None, *,
                       force: bool = False) -> tuple[str, int]:
    """Write the records of these runs in a llama-bench format to out (None: return the text
    only); the text and the number of records."""
    if fmt not in FORMATS:
        raise UserError(f'unknown format "{fmt}" (one of {", ".join(FORMATS)})', where="--format")
    recs = records(paths)
    if not recs:
        raise UserError("no finished configuration with a prefill or decode figure to export",
                        where=", ".join(map(str, paths)))
    text = {"llama-bench-jsonl": to_jsonl, "json": to_json, "csv": to_csv, "llama-bench-md": to_markdown}[fmt](recs)
    if out is not None:
        write_export_text(out, text, force=force)
    return text, len(recs)


def records(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """One record per finished configuration and test (pp, then tg), in the order of the inputs."""
    rows = load_results(paths).to_dicts()
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
    n_prompt: int | None
    n_gen: int | None
    if test == "pp":
        n_prompt, n_gen = _whole(row.get("prompt_tokens")), 0
        rate_key, mean_key, std_key = "prefill_tps", "prefill_tps_mean", "prefill_tps_std"
        counts = [r.get("engine_prefill_n") or r.get("prompt_tokens") for r in reps]
        n = n_prompt
    else:
        decoded = [_decoded(r) for r in reps]
        n_prompt, n_gen = 0, _whole(mean([d for d in decoded if d is not None]))
        if n_gen is None and row.get("gen_tokens") is not None:
            n_gen = int(row["gen_tokens"]) - 1  # the first token comes out of the prefill
        rate_key, mean_key, std_key = "decode_tps", "decode_tps_mean", "decode_tps_std"
        counts = decoded
        n = n_gen
    if not n or row.get(mean_key) is None:
        return None
    samples_ts = [r[rate_key] for r in reps if r.get(rate_key)]
    samples_ns = [round(c * 1e9 / r[rate_key]) for r, c in zip(reps, counts) if r.get(rate_key) and c]
    if samples_ts:
        avg_ts, stddev_ts = mean(samples_ts), std(samples_ts)
    else:  # a results file without its run folder: the means it holds, no samples
        avg_ts, stddev_ts = row[mean_key], row.get(std_key)
    size_mb = row.get("model_size_mb")
    rec: dict[str, Any] = {
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
        "n_depth": _whole(row.get("n_depth")) or 0,
        "test_time": row.get("started_at"),
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
    }
    return rec


def _decoded(rep: dict[str, Any]) -> int | None:
    """Tokens the timed decode of one repetition (of one of its streams, on average) produced:
    the engine's count, else those after the first."""
    if rep.get("streams"):
        per = [_decoded(s | {"gen_tokens_actual": s.get("gen_tokens")}) for s in rep["streams"]]
        known = [d for d in per if d is not None]
        return round(sum(known) / len(known)) if known else None
    if rep.get("engine_decode_n"):
        return int(rep["engine_decode_n"])
    produced = rep.get("gen_tokens_actual")
    return produced - rep.get("first_token_count", 1) if produced else None


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


def to_csv(recs: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    keys = FIELDS + EXTRA
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(keys)
    for r in recs:
        w.writerow(["" if r.get(k) is None else spreadsheet_text(r[k]) if isinstance(r[k], str) else r[k]
                    for k in keys])
    return buf.getvalue()


def test_label(rec: dict[str, Any]) -> str:
    """llama-bench's test label: pp512, tg128, with " @ d2048" at a depth."""
    name = f"pp{rec['n_prompt']}" if rec["n_prompt"] and not rec["n_gen"] else f"tg{rec['n_gen']}"
    return name + (f" @ d{rec['n_depth']}" if rec.get("n_depth") else "")


def _size(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**20:.2f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _params(n: int | None) -> str:
    if n is None:
        return "n/a"
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
            "n/a" if r.get("n_gpu_layers") is None else str(r["n_gpu_layers"]),
            "n/a" if not r.get("n_threads") else str(r["n_threads"]),
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
