"""What this board measured before: the rates of every configuration finished in the run folders
here, for the estimates of profiles/estimate.py (`edgetui plan`, the queue, the live ETA).

Only rows of this host count (a fleet's mirrored runs of other boards say nothing of this one);
a folder that cannot be read is passed over, as a results file that is not what edgetui writes."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path
from typing import Any

from edgetui.profiles.engines import in_process
from edgetui.profiles.estimate import History, Measured, model_key
from edgetui.profiles.plan import Configuration
from edgetui.rundir.layout import MANIFEST, RESULTS_JSON, default_runs_dir

MAX_RUNS = 200  # the newest run folders read
MAX_RESULTS_BYTES = 64 * 2**20


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        return None
    return float(v)


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None


def measured_in(run_dir: Path, host: str | None) -> list[Measured]:
    """The finished configurations of one run folder, as rates (rows of another host left out)."""
    results = _read_json(run_dir / RESULTS_JSON)
    rows = results.get("rows") if isinstance(results, dict) else None
    if not isinstance(rows, list):
        return []
    manifest = _read_json(run_dir / MANIFEST)
    configs: dict[str, Configuration] = {}
    for d in (manifest.get("configs") if isinstance(manifest, dict) else None) or []:
        try:
            c = Configuration.from_dict(d)
            configs[c.config_id] = c
        except (TypeError, ValueError, AttributeError):
            continue
    out = []
    for row in rows:
        if not isinstance(row, dict) or row.get("status") != "done":
            continue
        if host is not None and row.get("host") not in (None, host):
            continue
        decode = _number(row.get("decode_tps_mean"))
        cid = row.get("config_id")
        if decode is None or not isinstance(cid, str):
            continue
        known = configs.get(cid)
        path = row.get("model_path")
        if isinstance(path, str) and path and in_process(row.get("engine", "llama_cpp")):
            key = path
        elif known is not None:
            key = model_key(known)
        else:
            continue
        threads = row.get("n_threads")
        size_mb = _number(row.get("model_size_mb"))
        out.append(Measured(config_id=cid, model_key=key, model=str(row.get("model") or key)[:80],
                            n_threads=threads if isinstance(threads, int) else 0, decode_tps=decode,
                            prefill_tps=_number(row.get("prefill_tps_mean")), load_s=_number(row.get("load_s")),
                            model_bytes=int(size_mb * 1e6) if size_mb else None))
    return out


def board_history(runs_dir: str | Path | None = None, *, host: str | None = "",
                  exclude: Path | None = None) -> History:
    """Every finished configuration of the newest run folders under runs_dir (default: the user's),
    of this host ("": the machine's name; None: any host); `exclude`: a run not to learn from (the
    one under way)."""
    base = Path(runs_dir) if runs_dir else default_runs_dir()
    host = socket.gethostname() if host == "" else host
    try:
        dirs = sorted((d for d in base.iterdir() if (d / RESULTS_JSON).is_file()), key=lambda d: d.name,
                      reverse=True)[:MAX_RUNS]
    except OSError:
        return History()
    skip = exclude.resolve() if exclude is not None else None
    records: list[Measured] = []
    for d in dirs:
        if skip is not None and d.resolve() == skip:
            continue
        records += measured_in(d, host)
    return History(records)
