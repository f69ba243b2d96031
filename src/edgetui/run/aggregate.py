"""From repetition rows to one results row per configuration."""

from __future__ import annotations

from typing import Any

from edgetui import __version__
from edgetui.errors import UserError
from edgetui.profiles.plan import LATER_ID_FIELDS
from edgetui.run.latency import itl_interval_columns, latency_columns
from edgetui.run.schedule import precise_enough
from edgetui.run.soak import last_window, soak_columns
from edgetui.rundir.columns import CONFIG_COLUMNS, CONTEXT_COLUMNS, typed_row
from edgetui.rundir.events import MalformedRecord
from edgetui.rundir.manifest import RunManifest
from edgetui.rundir.store import RunStore, unique_repetitions
from edgetui.stats import ci95_half_width, maximum, mean, std

STD_METRICS = ("ttft_ms", "prefill_tps", "decode_tps")


def per_token(energy_j: float | None, tokens: int | None) -> float | None:
    return energy_j / tokens if energy_j is not None and tokens is not None and tokens > 0 else None


def result_row(
    config: dict[str, Any],
    reps: list[dict[str, Any]],
    *,
    status: str,
    error: str | None,
    context: dict[str, Any],
) -> dict[str, Any]:
    """One row of results.csv.

    config: the configuration's dict (with config_id); reps: its counted repetition rows;
    context: run-wide and per-configuration facts (board, host, idle power, model facts,
    load time, peaks from the sampler).
    """
    counted = unique_repetitions(r for r in reps if not r.get("warmup"))[0]  # a repetition recorded twice counts once
    counted = last_window(counted)  # a soak cut short by a crash was run again from its start (run.soak)
    row: dict[str, Any] = {"config_id": config["config_id"], "status": status, "error": error}
    # what was asked for, and the facts of the set-up, as the column declarations list them
    # (a configuration recorded before a parameter existed had that parameter's first value)
    row.update({col: config[col] if col not in LATER_ID_FIELDS else config.get(col, LATER_ID_FIELDS[col])
                for col in CONFIG_COLUMNS})
    row.update({col: context.get(col) for col in CONTEXT_COLUMNS})
    row["flash_attn"] = str(config["flash_attn"]).lower()
    # what was prefilled (servers may tokenise to a count other than the one asked for)
    if counted:
        row["prompt_tokens"] = mean(r.get("prompt_tokens") for r in counted)
    row["repetitions"] = len(counted)
    row["edgetui_version"] = __version__

    for m in STD_METRICS:
        row[f"{m}_mean"] = mean(r.get(m) for r in counted)
        row[f"{m}_std"] = std(r.get(m) for r in counted)
    row["e2e_tps_mean"] = mean(r.get("e2e_tps") for r in counted)
    # 95% half-widths of the means over repetitions (Student t; None below two, never 0)
    for m in (*STD_METRICS, "e2e_tps"):
        row[f"{m}_ci95"] = ci95_half_width(r.get(m) for r in counted)
    row["decode_tps_wall_mean"] = mean(r.get("decode_tps_wall") for r in counted)
    row["prefill_tps_wall_mean"] = mean(r.get("prefill_tps_wall") for r in counted)
    row["gen_tokens_mean"] = mean(r.get("gen_tokens_actual") for r in counted)
    row["sample_ms_per_token_mean"] = mean(r["sample_ms"] / r["gen_tokens_actual"] for r in counted
                                           if r.get("sample_ms") is not None and r.get("gen_tokens_actual"))
    row.update(latency_columns(counted))
    row.update(itl_interval_columns(counted))
    row["decode_tps_aggregate_mean"] = mean(r.get("decode_tps_aggregate") for r in counted)
    sources = sorted({str(r["timing_source"]) for r in counted if r.get("timing_source")})
    row["timing_source"] = ", ".join(sources) or None
    row["timing_flags"] = sum(1 for r in counted if r.get("timing_flags"))

    # Energy: per repetition, divided by the tokens it actually produced, then averaged (so each
    # has an interval over repetitions, as the rates do).
    per_rep = {
        "power_w_mean": [r.get("power_w_mean") for r in counted],
        "energy_j_per_token": [per_token(r.get("energy_j"), r.get("gen_tokens_actual")) for r in counted],
        "net_energy_j_per_token": [per_token(r.get("net_energy_j"), r.get("gen_tokens_actual")) for r in counted],
        # the decode phase produces the tokens after the first chunk (one token, or a few for StackFlow)
        "decode_energy_j_per_token": [
            per_token(r.get("decode_energy_j"), (r.get("gen_tokens_actual") or 0) - r.get("first_token_count", 1))
            for r in counted],
    }
    for col, values in per_rep.items():
        row[col] = mean(values)
        row[f"{col}_ci95"] = ci95_half_width(values)
    row["prefill_energy_j_mean"] = mean(r.get("prefill_energy_j") for r in counted)
    e = row["energy_j_per_token"]
    row["tokens_per_joule"] = 1.0 / e if e else None
    row["mj_per_mtok"] = e  # J per token is numerically MJ per million tokens: the paper's unit
    if row["power_source"] is None and context.get("power_reason"):
        row["power_source"] = context["power_reason"]
    rep_peak = maximum(r.get("temp_c_max") for r in counted)
    if rep_peak is not None and (row["temp_c_max"] is None or rep_peak > row["temp_c_max"]):
        row["temp_c_max"] = rep_peak

    row.update(paper_columns(config, counted, row["power_w_mean"]))
    row.update(soak_columns(config, counted))
    row["ci_target_met"] = ci_target_met(config, counted)

    tps = row["decode_tps_mean"]
    vol = row["volume_cm3"]
    price = row["price_usd"]
    row["tps_per_litre"] = tps / (vol / 1000.0) if tps is not None and vol else None
    row["tps_per_usd"] = tps / price if tps is not None and price else None
    return typed_row(row)


def ci_target_met(config: dict[str, Any], counted: list[dict[str, Any]]) -> bool | None:
    """repetitions = "auto": whether the counted repetitions meet its rule (at least min_repetitions,
    the decode half-width under target_ci_pct of the mean); None for a fixed count."""
    target = config.get("target_ci_pct")
    if target is None:
        return None
    return len(counted) >= (config.get("min_repetitions") or 1) and precise_enough(
        (r.get("decode_tps") for r in counted), target)


def paper_columns(config: dict[str, Any], counted: list[dict[str, Any]], power_w: float | None) -> dict[str, Any]:
    """The paper's own figures, by its own code's method (LLM-Edge-Benchmarking-Suite benchmark.py:
    avg_tokens_per_sec = num_tokens / avg_time_s): the tokens asked for, not those produced, over
    the mean time from request to end of stream, TTFT included; MJ/Mtok = mean power / that rate.
    Kept only to hold a run against the paper's Table 3."""
    times = [r["t_end"] - r["t_start"] for r in counted if r.get("t_end") is not None and r.get("t_start") is not None]
    elapsed = mean(times)
    asked = config["gen_tokens"] * config.get("concurrency", 1)
    tps = asked / elapsed if elapsed else None
    return {"paper_tps": tps, "paper_mj_per_mtok": power_w / tps if power_w is not None and tps else None}


def folder_rows(store: RunStore) -> list[dict[str, Any]]:
    """The results rows of a run folder rebuilt from its records (the plan in run.json, each
    configuration's outcome and context in configs.jsonl, its repetitions), in queue order: what
    results.csv holds when its runner wrote it from the same records."""
    try:
        manifest = RunManifest.from_dict(store.read_manifest() or {})
    except MalformedRecord as exc:  # a folder from elsewhere (a board's, a shared one): bad input
        raise UserError(str(exc), where=str(store.manifest_path)) from None
    outcomes = store.config_statuses()
    by_config: dict[str, list[dict[str, Any]]] = {}
    for r in store.reps():
        by_config.setdefault(r["config_id"], []).append(r)
    rows = []
    for config in manifest.configs:
        outcome = outcomes.get(config["config_id"])
        if outcome is None:
            continue  # not reached (aborted or still running): no row, as in results.csv
        rows.append(result_row(config, by_config.get(config["config_id"], []), status=outcome["status"],
                               error=outcome.get("error"), context=outcome.get("context") or {}))
    return rows
