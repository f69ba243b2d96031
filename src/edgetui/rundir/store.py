"""The results store: one folder per run, append-only logs plus aggregated tables.

    run.json          manifest: version, plan, host, profiles, runner pid, status (rewritten atomically)
    repetitions.jsonl one line per finished repetition, fsync'd before the next begins
    configs.jsonl     one line per configuration outcome (done, failed, skipped)
    events.jsonl      what the live screen follows: phases, progress, outcomes
    samples.jsonl     the sensor stream (monotonic timestamps)
    results.csv       one row per configuration (rewritten atomically after each)
    results.json      the same rows as JSON
    logs/<id>.log     the engine's own output, per configuration
    control.json      pause, skip and abort asked of the runner (edgetui.rundir.control)
    runner.log        a detached runner's own output (console or --detach)
    console_seen      marks that a console has shown this run's outcome once
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgetui.errors import UserError

SCHEMA_VERSION = 1

# The columns of results.csv, in order; the first block is the documented contract.
RESULT_COLUMNS = [
    "config_id", "status", "error", "profile", "board", "engine", "model", "model_path", "model_sha256",
    "model_size_mb", "quant", "n_threads", "n_gpu_layers", "n_ctx", "n_batch", "flash_attn",
    "prompt_tokens", "gen_tokens", "repetitions", "load_s", "ttft_ms_mean", "ttft_ms_std",
    "prefill_tps_mean", "prefill_tps_std", "decode_tps_mean", "decode_tps_std", "e2e_tps_mean",
    "power_w_mean", "power_w_idle", "power_source", "energy_j_per_token", "net_energy_j_per_token",
    "tokens_per_joule", "mj_per_mtok", "temp_c_max", "throttled", "rss_mb_peak", "mem_used_mb_peak",
    "volume_cm3", "tps_per_litre", "price_usd", "tps_per_usd", "started_at", "edgetui_version",
    "engine_version", "host", "cpu_model",
    # beyond the contract
    "kv_cache_type", "gen_tokens_mean", "decode_tps_wall_mean", "prefill_tps_wall_mean", "timing_source",
    "timing_flags", "decode_energy_j_per_token", "power_mode", "board_model", "os", "kernel", "governor",
    "flash_attn_in_force", "sample_hz", "load_energy_j", "prefill_energy_j_mean",
]

# What each column means (the README's column table is checked against this).
COLUMN_DOCS = {
    "config_id": "stable id of the configuration (hash of what is measured)",
    "status": "done, failed or skipped",
    "error": "why it failed (exit code or signal and the engine's last log lines)",
    "profile": "profile name",
    "board": "board name (profile, catalogue, or the machine's model string)",
    "engine": "llama_cpp, ollama, openai or stackflow",
    "model": "model label",
    "model_path": "GGUF file used",
    "model_sha256": "its sha256",
    "model_size_mb": "its size, MB",
    "quant": "quantisation (from the GGUF header)",
    "n_threads": "CPU threads (generation and batch)",
    "n_gpu_layers": "layers offloaded to a GPU",
    "n_ctx": "context length",
    "n_batch": "batch size",
    "flash_attn": "flash attention as asked (auto, true, false)",
    "prompt_tokens": "prompt tokens prefilled",
    "gen_tokens": "tokens asked for",
    "repetitions": "counted repetitions (warm-ups excluded)",
    "load_s": "model load time, s",
    "ttft_ms_mean": "time to first token, ms (wall clock)",
    "ttft_ms_std": "its sample standard deviation",
    "prefill_tps_mean": "prompt processing, tokens/s (engine timers)",
    "prefill_tps_std": "its standard deviation",
    "decode_tps_mean": "generation, tokens/s (engine timers)",
    "decode_tps_std": "its standard deviation",
    "e2e_tps_mean": "tokens produced / whole request time",
    "power_w_mean": "mean power during the repetitions, W",
    "power_w_idle": "idle power before the queue, W",
    "power_source": "the power sensor, its scope and method, or why there is none",
    "energy_j_per_token": "energy per generated token, J (gross)",
    "net_energy_j_per_token": "the same above idle power, J",
    "tokens_per_joule": "1 / energy_j_per_token",
    "mj_per_mtok": "the paper's MJ per million tokens (= J/token)",
    "temp_c_max": "hottest reading during the configuration, C",
    "throttled": "throttling seen during it (empty: no sensor)",
    "rss_mb_peak": "peak memory of the inference process (or server), MB",
    "mem_used_mb_peak": "peak system memory used, MB",
    "volume_cm3": "board volume, cm^3",
    "tps_per_litre": "decode tokens/s per litre of board",
    "price_usd": "board price, USD",
    "tps_per_usd": "decode tokens/s per dollar",
    "started_at": "when the configuration started (UTC)",
    "edgetui_version": "edgetui version",
    "engine_version": "engine and version",
    "host": "host name",
    "cpu_model": "CPU model",
    "kv_cache_type": "KV cache type",
    "gen_tokens_mean": "tokens actually produced, mean",
    "decode_tps_wall_mean": "generation tokens/s by the wall clock",
    "prefill_tps_wall_mean": "prompt tokens/s by the wall clock",
    "timing_source": "which clock the rates come from",
    "timing_flags": "repetitions where engine and wall clock differ by over 5%",
    "decode_energy_j_per_token": "decode-phase energy per decoded token, J",
    "power_mode": "power mode (nvpmodel) in force",
    "board_model": "/proc/device-tree/model or DMI",
    "os": "operating system",
    "kernel": "kernel release",
    "governor": "CPU frequency governor",
    "flash_attn_in_force": "what flash attention resolved to",
    "sample_hz": "sensor sampling rate",
    "load_energy_j": "energy of the model load, J",
    "prefill_energy_j_mean": "energy of the prefill phase, J",
}


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete line; a torn last line (a crash mid-write) is skipped, not fatal."""
    try:
        f = path.open("r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn write at the end
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def repair_torn_tail(path: Path) -> int:
    """Truncate a JSON-lines file after its last complete line; returns the bytes cut."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        # walk back to the last newline, in blocks
        pos = size
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            block = f.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos - step + nl + 1
                break
            pos -= step
        else:
            keep = 0
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


def rows_to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _csv_cell(row.get(k)) for k in columns})
    return buf.getvalue()


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""  # missing stays missing, never zero
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


class RunStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.logs = self.root / "logs"

    # --------------------------------------------------------------- paths
    @property
    def manifest_path(self) -> Path:
        return self.root / "run.json"

    @property
    def reps_path(self) -> Path:
        return self.root / "repetitions.jsonl"

    @property
    def configs_path(self) -> Path:
        return self.root / "configs.jsonl"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def samples_path(self) -> Path:
        return self.root / "samples.jsonl"

    @property
    def csv_path(self) -> Path:
        return self.root / "results.csv"

    @property
    def json_path(self) -> Path:
        return self.root / "results.json"

    def log_path(self, config_id: str) -> Path:
        return self.logs / f"{config_id}.log"

    # --------------------------------------------------------------- set-up
    def prepare(self) -> None:
        """Create the folder and check it is writable before anything runs; cut any line torn
        by a crash mid-write, so that new lines never glue onto a broken one."""
        try:
            self.logs.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
            for path in (self.reps_path, self.configs_path, self.events_path, self.samples_path):
                repair_torn_tail(path)
        except OSError as exc:
            raise UserError(f"results folder is not writable: {exc.strerror}", where=str(self.root)) from None

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise UserError(f"unreadable run manifest: {exc}", where=str(self.manifest_path)) from None
        version = data.get("schema")
        if version != SCHEMA_VERSION:
            raise UserError(f"results written by an incompatible edgetui (schema {version}, "
                            f"this edgetui reads {SCHEMA_VERSION})", where=str(self.manifest_path))
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest = {**manifest, "schema": SCHEMA_VERSION}
        atomic_write(self.manifest_path, json.dumps(manifest, indent=1, default=str))

    def update_manifest(self, **changes: Any) -> None:
        m = self.read_manifest() or {}
        m.update(changes)
        self.write_manifest(m)

    # --------------------------------------------------------------- appends
    def _append(self, path: Path, record: dict[str, Any], *, sync: bool) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            if sync:
                os.fsync(f.fileno())

    def append_rep(self, row: dict[str, Any]) -> None:
        """On disk (flushed and fsync'd) before the next repetition begins."""
        self._append(self.reps_path, row, sync=True)

    def append_config_status(self, record: dict[str, Any]) -> None:
        self._append(self.configs_path, record, sync=True)

    def reps(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.reps_path))

    def config_statuses(self) -> dict[str, dict[str, Any]]:
        """The latest outcome of each configuration."""
        return {r["config_id"]: r for r in read_jsonl(self.configs_path)}

    # --------------------------------------------------------------- tables
    def write_results(self, rows: list[dict[str, Any]]) -> None:
        atomic_write(self.csv_path, rows_to_csv(rows, RESULT_COLUMNS))
        payload = {"schema": SCHEMA_VERSION, "columns": RESULT_COLUMNS, "rows": rows}
        atomic_write(self.json_path, json.dumps(payload, indent=1, default=str))


def load_result_rows(path: str | Path) -> list[dict[str, Any]]:
    """Aggregated rows from a run folder, a results.json or a results.csv (for ranking and merging)."""
    p = Path(path)
    if p.is_dir():
        if (p / "results.json").is_file():
            p = p / "results.json"
        elif (p / "results.csv").is_file():
            p = p / "results.csv"
        else:
            raise UserError("no results.json or results.csv in this folder", where=str(path))
    if not p.is_file():
        raise UserError("no such results file or folder", where=str(path))
    if p.suffix == ".json":
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"unreadable results file: {exc}", where=str(p)) from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            got = data.get("schema") if isinstance(data, dict) else None
            raise UserError(f"results file from an incompatible edgetui (schema {got}, expected "
                            f"{SCHEMA_VERSION})", where=str(p))
        return list(data["rows"])
    if p.suffix == ".csv":
        with p.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("config_id", "status", "decode_tps_mean") if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"not an edgetui results file: no column(s) {', '.join(missing)}", where=str(p))
            return [_parse_csv_row(r) for r in reader]
    raise UserError("expected a run folder, results.json or results.csv", where=str(p))


def _parse_csv_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v == "" or v is None:
            out[k] = None
        elif v in ("true", "false"):
            out[k] = v == "true"
        else:
            try:
                out[k] = int(v) if v.lstrip("-").isdigit() else float(v)
            except ValueError:
                out[k] = v
    # ids and names stay text even when they look numeric
    for k in ("config_id", "model", "board", "profile", "host", "model_sha256", "quant", "flash_attn"):
        if out.get(k) is not None:
            out[k] = row[k]
    return out
