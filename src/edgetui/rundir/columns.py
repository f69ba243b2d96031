"""The results columns, declared once: name, type, where the value comes from, meaning.

The store writes them in this order, the aggregation builds and types its rows from them, the
ranking loads results.csv / results.json with the polars schema made from them, and the
console's "configuration" column takes the swept parameters (those with a `param` label) from
them. A new results column is one line here (and its row in the README's column table).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "int", "float", "bool"]
TEXT: Kind = "text"
INT: Kind = "int"
FLOAT: Kind = "float"
BOOL: Kind = "bool"

Origin = Literal["config", "context", "measured"]
CONFIG: Origin = "config"  # a parameter of the configuration itself (what was asked for)
CONTEXT: Origin = "context"  # a fact of the run or the configuration's set-up (board, model file, sensors)
MEASURED: Origin = "measured"  # computed from the repetitions (or the outcome)


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    origin: Origin
    doc: str
    # for a swept parameter: its prefix in the compact configuration text ("t" gives "t2");
    # "" shows the value alone (engine, quant)
    param: str | None = None


COLUMNS: tuple[Column, ...] = (
    Column("config_id", TEXT, MEASURED, "stable id of the configuration (hash of what is measured)"),
    Column("status", TEXT, MEASURED, "done, failed or skipped"),
    Column("error", TEXT, MEASURED, "why it failed (exit code or signal and the engine's last log lines)"),
    Column("profile", TEXT, CONFIG, "profile name"),
    Column("board", TEXT, CONTEXT, "board name (profile, catalogue, or the machine's model string)"),
    Column("engine", TEXT, CONFIG, "llama_cpp, ollama, openai or stackflow", param=""),
    Column("model", TEXT, CONFIG, "model label"),
    Column("model_path", TEXT, CONTEXT, "GGUF file used"),
    Column("model_sha256", TEXT, CONTEXT, "its sha256"),
    Column("model_size_mb", FLOAT, CONTEXT, "its size, MB"),
    Column("quant", TEXT, CONTEXT, "quantisation (from the GGUF header)", param=""),
    Column("n_threads", INT, CONFIG, "CPU threads (generation and batch)", param="t"),
    Column("n_gpu_layers", INT, CONFIG, "layers offloaded to a GPU", param="ngl"),
    Column("n_ctx", INT, CONFIG, "context length", param="ctx"),
    Column("n_batch", INT, CONFIG, "batch size", param="b"),
    Column("flash_attn", TEXT, CONFIG, "flash attention as asked (auto, true, false)", param="fa:"),
    Column("prompt_tokens", FLOAT, CONFIG, "prompt tokens prefilled", param="pp"),
    Column("gen_tokens", INT, CONFIG, "tokens asked for", param="tg"),
    Column("repetitions", INT, MEASURED, "counted repetitions (warm-ups excluded)"),
    Column("load_s", FLOAT, CONTEXT, "model load time, s"),
    Column("ttft_ms_mean", FLOAT, MEASURED, "time to first token, ms (wall clock)"),
    Column("ttft_ms_std", FLOAT, MEASURED, "its sample standard deviation"),
    Column("prefill_tps_mean", FLOAT, MEASURED, "prompt processing, tokens/s (engine timers)"),
    Column("prefill_tps_std", FLOAT, MEASURED, "its standard deviation"),
    Column("decode_tps_mean", FLOAT, MEASURED, "generation, tokens/s (engine timers)"),
    Column("decode_tps_std", FLOAT, MEASURED, "its standard deviation"),
    Column("e2e_tps_mean", FLOAT, MEASURED, "tokens produced / whole request time"),
    Column("power_w_mean", FLOAT, MEASURED, "mean power during the repetitions, W"),
    Column("power_w_idle", FLOAT, CONTEXT, "idle power before the queue, W"),
    Column("power_source", TEXT, CONTEXT, "the power sensor, its scope and method, or why there is none"),
    Column("energy_j_per_token", FLOAT, MEASURED, "energy per generated token, J (gross)"),
    Column("net_energy_j_per_token", FLOAT, MEASURED, "the same above idle power, J"),
    Column("tokens_per_joule", FLOAT, MEASURED, "1 / energy_j_per_token"),
    Column("mj_per_mtok", FLOAT, MEASURED, "the paper's MJ per million tokens (= J/token)"),
    Column("temp_c_max", FLOAT, CONTEXT, "hottest reading during the configuration, C"),
    Column("throttled", BOOL, CONTEXT, "throttling seen during it (empty: no sensor)"),
    Column("rss_mb_peak", FLOAT, CONTEXT, "peak memory of the inference process (or server), MB"),
    Column("mem_used_mb_peak", FLOAT, CONTEXT, "peak system memory used, MB"),
    Column("volume_cm3", FLOAT, CONTEXT, "board volume, cm^3"),
    Column("tps_per_litre", FLOAT, MEASURED, "decode tokens/s per litre of board"),
    Column("price_usd", FLOAT, CONTEXT, "board price, USD"),
    Column("tps_per_usd", FLOAT, MEASURED, "decode tokens/s per dollar"),
    Column("started_at", TEXT, CONTEXT, "when the configuration started (UTC)"),
    Column("edgetui_version", TEXT, MEASURED, "edgetui version"),
    Column("engine_version", TEXT, CONTEXT, "engine and version"),
    Column("host", TEXT, CONTEXT, "host name"),
    Column("cpu_model", TEXT, CONTEXT, "CPU model"),
    # beyond the contract
    Column("kv_cache_type", TEXT, CONFIG, "KV cache type", param="kv:"),
    Column("gen_tokens_mean", FLOAT, MEASURED, "tokens actually produced, mean"),
    Column("decode_tps_wall_mean", FLOAT, MEASURED, "generation tokens/s by the wall clock"),
    Column("prefill_tps_wall_mean", FLOAT, MEASURED, "prompt tokens/s by the wall clock"),
    Column("timing_source", TEXT, MEASURED, "which clock the rates come from"),
    Column("timing_flags", INT, MEASURED, "repetitions where engine and wall clock differ by over 5%"),
    Column("decode_energy_j_per_token", FLOAT, MEASURED, "decode-phase energy per decoded token, J"),
    Column("power_mode", TEXT, CONTEXT, "power mode (nvpmodel) in force"),
    Column("board_model", TEXT, CONTEXT, "/proc/device-tree/model or DMI"),
    Column("os", TEXT, CONTEXT, "operating system"),
    Column("kernel", TEXT, CONTEXT, "kernel release"),
    Column("governor", TEXT, CONTEXT, "CPU frequency governor"),
    Column("flash_attn_in_force", TEXT, CONTEXT, "what flash attention resolved to"),
    Column("sample_hz", FLOAT, CONTEXT, "sensor sampling rate"),
    Column("load_energy_j", FLOAT, CONTEXT, "energy of the model load, J"),
    Column("prefill_energy_j_mean", FLOAT, MEASURED, "energy of the prefill phase, J"),
    Column("model_type", TEXT, CONTEXT, "the model as llama.cpp describes it (llama-bench's model_type)"),
    Column("model_n_params", INT, CONTEXT, "its parameters, as llama.cpp counts them"),
    Column("n_depth", INT, CONFIG, "tokens in the context before the timed prompt (llama-bench -d)", param="d"),
    Column("concurrency", INT, CONFIG, "requests in flight at once (server engines)", param="c"),
    # quantised variants ([sweep] quant) and the quality pass ([quality])
    Column("quant_source", TEXT, CONTEXT, "the file a quantised variant was made from (empty: the model file "
           "as given)"),
    Column("quant_note", TEXT, CONTEXT, "how the variant was made when its source was already quantised "
           "(to more bits: it measures the format's speed, not recovered precision)"),
    Column("quality_ppl", FLOAT, CONTEXT, "perplexity over the quality corpus (second half of each window "
           "scored, as llama-perplexity does)"),
    Column("quality_kld_mean", FLOAT, CONTEXT, "mean KL divergence from the reference per token, nats "
           "(its top 64 tokens exact, the rest estimated from 64 tokens drawn from it)"),
    Column("quality_kld_p99", FLOAT, CONTEXT, "99th percentile of that divergence, nats"),
    Column("quality_top1_agree", FLOAT, CONTEXT, "share of positions whose most likely token is the "
           "reference's (the reference itself: 1)"),
    Column("quality_reference", TEXT, CONTEXT, 'what divergence is measured from: "source" or a GGUF file'),
    Column("quality_corpus", TEXT, CONTEXT, '"bundled" or the corpus file'),
    Column("quality_tokens", INT, CONTEXT, "corpus tokens evaluated (windows of the quality n_ctx)"),
    Column("quality_s", FLOAT, CONTEXT, "duration of the quality pass, s"),
    Column("quality_energy_j", FLOAT, CONTEXT, "energy of the quality pass, J (a phase of its own, not in decode)"),
    Column("itl_ms_p50", FLOAT, MEASURED,
           "inter-token latency, median over every token of the counted repetitions, ms (wall clock)"),
    Column("itl_ms_p90", FLOAT, MEASURED, "inter-token latency, 90th percentile, ms"),
    Column("itl_ms_p99", FLOAT, MEASURED, "inter-token latency, 99th percentile, ms"),
    Column("tpot_ms_mean", FLOAT, MEASURED,
           "time per output token: decode time / (tokens - 1), mean over repetitions, ms"),
    Column("decode_tps_aggregate_mean", FLOAT, MEASURED,
           "decode tokens/s of all streams together: their tokens after the first over first token to last "
           "end (one stream: its wall-clock decode rate)"),
    Column("stream_ttft_ms_mean", FLOAT, MEASURED, "time to first token of each stream, mean over every stream, ms"),
    Column("stream_ttft_ms_p50", FLOAT, MEASURED, "the same, median"),
    Column("stream_ttft_ms_p99", FLOAT, MEASURED, "the same, 99th percentile"),
    # 95% intervals (STATISTICS.md): half-widths of means over the counted repetitions, Student t
    # (empty below 2 repetitions, never 0); the ITL percentiles by a bootstrap over repetitions
    Column("ttft_ms_ci95", FLOAT, MEASURED, "95% half-width of ttft_ms_mean (t over the counted repetitions)"),
    Column("prefill_tps_ci95", FLOAT, MEASURED, "95% half-width of prefill_tps_mean"),
    Column("decode_tps_ci95", FLOAT, MEASURED, "95% half-width of decode_tps_mean"),
    Column("e2e_tps_ci95", FLOAT, MEASURED, "95% half-width of e2e_tps_mean"),
    Column("power_w_mean_ci95", FLOAT, MEASURED, "95% half-width of power_w_mean"),
    Column("energy_j_per_token_ci95", FLOAT, MEASURED, "95% half-width of energy_j_per_token (and of mj_per_mtok)"),
    Column("net_energy_j_per_token_ci95", FLOAT, MEASURED, "95% half-width of net_energy_j_per_token"),
    Column("decode_energy_j_per_token_ci95", FLOAT, MEASURED, "95% half-width of decode_energy_j_per_token"),
    Column("itl_ms_p50_ci95_lo", FLOAT, MEASURED, "95% bootstrap interval of itl_ms_p50 over repetitions, lower end "
           "(from 5 repetitions on)"),
    Column("itl_ms_p50_ci95_hi", FLOAT, MEASURED, "the same, upper end"),
    Column("itl_ms_p90_ci95_lo", FLOAT, MEASURED, "95% bootstrap interval of itl_ms_p90, lower end"),
    Column("itl_ms_p90_ci95_hi", FLOAT, MEASURED, "the same, upper end"),
    Column("itl_ms_p99_ci95_lo", FLOAT, MEASURED, "95% bootstrap interval of itl_ms_p99, lower end"),
    Column("itl_ms_p99_ci95_hi", FLOAT, MEASURED, "the same, upper end"),
    Column("ci_target_met", BOOL, MEASURED, 'repetitions = "auto": decode_tps_ci95 under [stats] target_ci_pct of '
           "the mean when it stopped (empty: fixed repetitions)"),
    Column("paper_tps", FLOAT, MEASURED, "the paper's tok/s: tokens asked for / mean seconds from request to end "
           "of stream (TTFT included), for holding a run against its Table 3"),
    Column("paper_mj_per_mtok", FLOAT, MEASURED, "the paper's MJ/Mtok: mean power / paper_tps"),
    Column("fleet_host", TEXT, CONTEXT, "inventory host of a fleet run (empty for a run on this machine)"),
    # soak runs ([workload] soak_s) and the evidence of throttling
    Column("soak_s", FLOAT, CONFIG, "length of the soak window, s: counted repetitions back to back after the "
           "warm-up (empty: no soak)", param="soak"),
    Column("sustained_tps", FLOAT, MEASURED, "decode tokens/s held: mean over the repetitions that started in the "
           "last quarter of the soak window"),
    Column("tps_drop_pct", FLOAT, MEASURED, "100 x (1 - sustained_tps / mean decode of the repetitions that "
           "started in the first quarter), %"),
    Column("time_to_throttle_s", FLOAT, CONTEXT, "seconds from the start of the soak window to the first sample "
           "showing throttling (empty: none seen, or no soak)"),
    Column("temp_c_steady", FLOAT, CONTEXT, "mean of the hottest zone over the last quarter of the soak window, C"),
    Column("throttle_source", TEXT, CONTEXT, 'the evidence of throttling seen: "board flag" (get_throttled, '
           'soctherm_oc, NVML), "cpufreq" (a policy held below 90% of its ceiling), or both'),
    Column("sample_ms_per_token_mean", FLOAT, MEASURED, "time spent choosing each token from the logits (llama_cpp's "
           "greedy argmax), outside llama.cpp's decode timer, mean over repetitions, ms (empty: the engine samples "
           "where edgetui cannot time it)"),
)

# The first block (up to cpu_model) is the documented, stable contract.
CONTRACT_END = "cpu_model"

RESULT_COLUMNS: list[str] = [c.name for c in COLUMNS]
COLUMN_DOCS: dict[str, str] = {c.name: c.doc for c in COLUMNS}
COLUMN_KINDS: dict[str, Kind] = {c.name: c.kind for c in COLUMNS}
CONTRACT_COLUMNS: list[str] = RESULT_COLUMNS[: RESULT_COLUMNS.index(CONTRACT_END) + 1]
CONFIG_COLUMNS: list[str] = [c.name for c in COLUMNS if c.origin == CONFIG]
CONTEXT_COLUMNS: list[str] = [c.name for c in COLUMNS if c.origin == CONTEXT]
PARAM_LABELS: dict[str, str] = {c.name: c.param for c in COLUMNS if c.param is not None}


def typed_value(name: str, kind: Kind, v: Any) -> Any:
    """A value as its column's type (None stays None); ValueError when it is not one."""
    if v is None:
        return None
    if kind == TEXT:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)
    if kind == BOOL:
        if isinstance(v, bool):
            return v
        raise ValueError(f"{name} = {v!r} is not true or false")
    if isinstance(v, bool) or not isinstance(v, numbers.Real):  # numpy's numbers are Real too
        raise ValueError(f"{name} = {v!r} is not a number")
    if kind == INT:
        f = float(v)
        if not f.is_integer():
            raise ValueError(f"{name} = {v!r} is not a whole number")
        return int(f)
    return float(v)


def typed_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row in column order, every value as its column's type; a key that is not a declared
    column is a programming error (declare the column here first)."""
    unknown = [k for k in row if k not in COLUMN_KINDS]
    if unknown:
        raise ValueError(f"undeclared results column(s): {', '.join(unknown)} (declare them in "
                         "edgetui/rundir/columns.py)")
    return {c.name: typed_value(c.name, c.kind, row.get(c.name)) for c in COLUMNS}
