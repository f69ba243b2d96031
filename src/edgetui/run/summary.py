"""The plain-text summary table printed at the end of a headless run."""

from __future__ import annotations

from typing import Any

from edgetui.fmt import cell

COLUMNS = [
    ("config_id", "id", "{}"), ("status", "status", "{}"), ("model", "model", "{}"), ("quant", "quant", "{}"),
    ("n_threads", "thr", "{}"),
    ("prompt_tokens", "pp", "{:.0f}"), ("gen_tokens", "tg", "{}"), ("ttft_ms_mean", "ttft ms", "{:.0f}"),
    ("prefill_tps_mean", "prefill t/s", "{:.1f}"), ("decode_tps_mean", "decode t/s", "{:.1f}"),
    ("decode_tps_std", "+-", "{:.1f}"), ("power_w_mean", "W", "{:.2f}"), ("energy_j_per_token", "J/tok", "{:.3f}"),
    ("rss_mb_peak", "RSS MB", "{:.0f}"), ("temp_c_max", "max C", "{:.0f}"),
]


# shown when a quality pass ran ([quality])
QUALITY_COLUMNS = [("quality_ppl", "ppl", "{:.2f}"), ("quality_kld_mean", "KLD", "{:.4f}"),
                   ("quality_top1_agree", "top-1", "{:.3f}")]
TEXT_COLUMNS = 4  # id, status, model, quant: left-aligned


def summary_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no configurations ran"
    columns = COLUMNS + (QUALITY_COLUMNS if any(r.get("quality_ppl") is not None for r in rows) else [])
    table = [[h for _, h, _ in columns]] + [[cell(r.get(k), f) for k, _, f in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i >= TEXT_COLUMNS else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [r for r in rows if r.get("status") == "failed"]
    for r in failed:
        lines.append(f"failed {r['config_id']}: {(r.get('error') or '').splitlines()[0] if r.get('error') else ''}")
    return "\n".join(lines)
