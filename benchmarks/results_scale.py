"""Results at fleet scale: the console and `edgetui rank` on 2,000 / 20,000 / 100,000 result rows.

Targets (issue 9): at 100,000 rows the console's first frame under 3 s, a weight change redrawn
under 0.5 s, the console's memory (RSS) under 400 MB, and `edgetui rank ... --export` (TOML and
CSV) under 2 s end to end; at 20,000 rows first frame under 1 s and a weight change under 0.2 s.

The rows are synthetic but complete: every column of the documented contract is filled (a
seeded generator, so every run measures the same data), written by the store's own writer into
a run folder as the runner leaves it (run.json, results.csv, results.json).

The console is timed as a person meets it: `edgetui results DIR` is started in a pseudo-terminal
and the clock stops when the terminal has received the drawn table (its "N row(s)" line); then
`+` is typed on the weights pane and the clock stops when the table drawn with the new weight
("decode ×2", ...) has arrived: key press to redrawn table, through the terminal. The console's
peak RSS is read from /proc at the end. References measured in the same run: the console on a
10-row folder (what start-up alone costs) and, for `edgetui rank`, polars reading the same
results.csv (what the least work on the file costs).

    .venv/bin/python benchmarks/results_scale.py [--rows 2000,20000,100000] [--reweights 5] [--repeat 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

TARGETS = {  # rows: (first frame s, re-weight s)
    20_000: (1.0, 0.2),
    100_000: (3.0, 0.5),
}
RSS_TARGET_MB = 400.0
EXPORT_TARGET_S = 2.0
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][AB0-2]|\x1b[=>]")


def synthetic_rows(n: int, seed: int = 20261202) -> list[dict]:
    """n results rows with every contract column filled, correlated as real ones are."""
    import numpy as np

    from edgetui.rundir.columns import COLUMNS, CONTRACT_COLUMNS, typed_row

    rng = np.random.default_rng(seed)
    boards = np.array(["Raspberry Pi 5 8 GB", "Jetson Orin Nano Super Developer Kit (8 GB)", "Rock 5B",
                       "Raspberry Pi 5 + Hailo-10H", "Intel NUC 13"])
    models = np.array(["smollm2-135m-q4_1", "qwen2.5-0.5b-q4_k_m", "llama3.2-1b-q4_k_m", "qwen2.5-1.5b-q8_0",
                       "llama3.2-3b-q4_0"])
    quants = np.array(["Q4_1", "Q4_K_M", "Q4_K_M", "Q8_0", "Q4_0"])
    b = rng.integers(0, len(boards), n)
    m = rng.integers(0, len(models), n)
    size = np.array([0.135, 0.5, 1.0, 1.5, 3.0])[m]
    threads = rng.integers(1, 9, n)
    ctx = rng.choice([512, 1024, 2048, 4096], n)
    decode = rng.lognormal(np.log(40 / size), 0.5, n) * np.sqrt(threads / 4)
    prefill = decode * rng.uniform(4, 12, n)
    ttft = 1000 * 128 / prefill + rng.uniform(5, 30, n)
    power = 3 + 0.08 * decode * rng.uniform(0.6, 1.4, n)
    idle = rng.uniform(1.5, 4.0, n)
    energy = power / decode
    net = (power - idle).clip(0.05) / decode
    rss = 1000 * size * 0.7 + ctx * 0.05 + rng.normal(60, 10, n)
    temp = 40 + 1.2 * power + rng.normal(0, 3, n)
    volume = np.array([250.0, 900.0, 300.0, 400.0, 700.0])[b]
    price = np.array([80.0, 250.0, 130.0, 230.0, 400.0])[b]
    failed = rng.random(n) < 0.02
    cols: dict[str, object] = {
        "config_id": [f"{i:012x}" for i in range(n)], "status": np.where(failed, "failed", "done"),
        "error": np.where(failed, "EngineError: out of memory", None), "profile": "fleet", "board": boards[b],
        "engine": "llama_cpp", "model": models[m], "model_path": np.char.add("/models/", models[m]),
        "model_sha256": "ab" * 32, "model_size_mb": 700 * size, "quant": quants[m], "n_threads": threads,
        "n_gpu_layers": 0, "n_ctx": ctx, "n_batch": 512, "flash_attn": "auto", "prompt_tokens": 128.0,
        "gen_tokens": 128, "repetitions": 5, "load_s": 0.2 + size * rng.uniform(0.5, 1.5, n),
        "ttft_ms_mean": ttft, "ttft_ms_std": ttft * 0.02, "prefill_tps_mean": prefill,
        "prefill_tps_std": prefill * 0.03, "decode_tps_mean": decode, "decode_tps_std": decode * 0.02,
        "e2e_tps_mean": decode * 0.9, "power_w_mean": power, "power_w_idle": idle,
        "power_source": "ina3221:VDD_IN (board, measured)", "energy_j_per_token": energy,
        "net_energy_j_per_token": net, "tokens_per_joule": 1 / energy, "mj_per_mtok": energy,
        "temp_c_max": temp, "throttled": rng.random(n) < 0.05, "rss_mb_peak": rss, "mem_used_mb_peak": rss + 900,
        "volume_cm3": volume, "tps_per_litre": decode / (volume / 1000), "price_usd": price,
        "tps_per_usd": decode / price, "started_at": "2026-12-02T10:00:00+00:00", "edgetui_version": "0.1.0",
        "engine_version": "llama-cpp-python 0.3.36", "host": np.char.add("board-", b.astype(str)),
        "cpu_model": "Cortex-A76",
    }
    assert set(CONTRACT_COLUMNS) <= set(cols), set(CONTRACT_COLUMNS) - set(cols)
    names = [c.name for c in COLUMNS if c.name in cols]
    arrays = {k: (v if isinstance(v, (list, np.ndarray)) else [v] * n) for k, v in cols.items()}
    out = []
    for i in range(n):
        row = {k: arrays[k][i] for k in names}
        out.append(typed_row({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}))
    return out


def make_run(folder: Path, n: int) -> Path:
    from edgetui.rundir.store import RunStore

    if (folder / "results.csv").is_file():
        return folder
    store = RunStore(folder)
    store.prepare()
    store.write_manifest({"status": "finished", "profiles": ["fleet"]})
    store.write_results(synthetic_rows(n))
    return folder


class Console:
    """`edgetui results DIR` in a pseudo-terminal."""

    def __init__(self, run: Path, size: tuple[int, int] = (160, 45)) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TERM": "xterm-256color", "COLUMNS": str(size[0]),
               "LINES": str(size[1]), "EDGETUI_KEYMAP": os.devnull}
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "edgetui", "results", str(run)], stdin=slave,
                                     stdout=slave, stderr=slave, cwd=run.parent, env=env, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def wait_for(self, pattern: bytes, timeout: float = 120.0) -> float:
        """Seconds until `pattern` (a regex, escape codes removed) has arrived since the last wait."""
        start = time.perf_counter()
        self.seen = b""
        while True:
            left = timeout - (time.perf_counter() - start)
            if left <= 0:
                raise SystemExit(f"timed out waiting for {pattern!r}; got {ANSI.sub(b'', self.seen)[-400:]!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 1 << 20)
            except OSError:
                raise SystemExit(f"the console ended; it wrote {self.seen[-600:]!r}") from None
            self.seen += chunk
            if re.search(pattern, ANSI.sub(b"", self.seen)):
                return time.perf_counter()

    def press(self, key: bytes) -> float:
        t = time.perf_counter()
        os.write(self.master, key)
        return t

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        os.close(self.master)


def measure_console(run: Path, n: int, reweights: int, repeat: int = 1) -> dict[str, Any]:
    """Medians over `repeat` starts of the console (first frame, each start's median re-weight,
    peak RSS); the worst re-weight of all."""
    runs = [_console_once(run, reweights) for _ in range(repeat)]
    return {"first_frame_s": statistics.median(r["first_frame_s"] for r in runs),
            "reweight_s": statistics.median(r["reweight_s"] for r in runs),
            "reweight_max_s": max(r["reweight_max_s"] for r in runs),
            "rss_mb": statistics.median(r["rss_mb"] for r in runs),
            "first_frames": [r["first_frame_s"] for r in runs]}


def _console_once(run: Path, reweights: int) -> dict[str, float]:
    c = Console(run)
    try:
        first = c.wait_for(rb"[0-9,]+ row\(s\)") - c.t0  # the ranked rows (failed ones are left out)
        times = []
        for i in range(reweights):
            time.sleep(0.3)  # the previous frame settled
            t = c.press(b"+")  # the weights pane has the focus, on decode
            done = c.wait_for(f"decode ×{i + 2}".encode())
            times.append(done - t)
        rss = c.peak_rss_mb()
    finally:
        c.close()
    return {"first_frame_s": first, "reweight_s": statistics.median(times), "reweight_max_s": max(times),
            "rss_mb": rss}


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed: {p.stderr[-800:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="2000,20000,100000")
    ap.add_argument("--reweights", type=int, default=5)
    ap.add_argument("--data", help="keep the synthetic run folders here (made once, reused)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="console starts per size and exports per format, alternating; medians are reported")
    args = ap.parse_args()
    sizes = [int(s) for s in args.rows.split(",")]
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="edgetui-scale-"))
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at start; synthetic runs in {data}")
    try:
        t = time.perf_counter()
        runs = {n: make_run(data / f"rows-{n}", n) for n in [10, *sizes]}
        print(f"run folders ready in {time.perf_counter() - t:.1f} s")
        ref = measure_console(runs[10], 10, 2, args.repeat)
        print(f"reference, the console on 10 rows: first frame {ref['first_frame_s']:.2f} s, re-weight "
              f"{ref['reweight_s'] * 1000:.0f} ms, peak RSS {ref['rss_mb']:.0f} MB")
        for n in sizes:
            r = measure_console(runs[n], n, args.reweights, args.repeat)
            first_t, reweight_t = TARGETS.get(n, (None, None))
            line = (f"{n:>7,} rows: first frame {r['first_frame_s']:.2f} s"
                    + (f" (target {first_t:g} s: {r['first_frame_s'] / first_t:.2f} of it)" if first_t else "")
                    + f", {r['first_frame_s'] / ref['first_frame_s']:.2f}x the 10-row start; re-weight "
                    f"{r['reweight_s'] * 1000:.0f} ms median, {r['reweight_max_s'] * 1000:.0f} ms worst"
                    + (f" (target {reweight_t * 1000:.0f} ms: {r['reweight_s'] / reweight_t:.2f} of it)"
                       if reweight_t else "")
                    + f"; peak RSS {r['rss_mb']:.0f} MB"
                    + (f" (target {RSS_TARGET_MB:.0f} MB: {r['rss_mb'] / RSS_TARGET_MB:.2f} of it)"
                       if n == 100_000 else "")
                    + f"; first frames {', '.join(f'{s:.2f}' for s in r['first_frames'])} s")
            print(line, flush=True)
        n = max(sizes)
        csv_path = runs[n] / "results.csv"
        reference = [sys.executable, "-c", f"import polars; polars.read_csv({str(csv_path)!r})"]
        times: dict[str, list[float]] = {"ref": [], ".toml": [], ".csv": []}
        for _ in range(args.repeat):  # alternating, so a slow spell of the machine hits all three
            times["ref"].append(timed(reference, data))
            for suffix in (".toml", ".csv"):
                times[suffix].append(timed([sys.executable, "-m", "edgetui", "rank", str(runs[n]), "--weights",
                                            "decode_tps=3,net_energy_j_per_token=2,ttft_ms=1", "--export",
                                            str(data / f"export{suffix}"), "--force"], data))
        read_ref = statistics.median(times["ref"])
        for suffix in (".toml", ".csv"):
            s = statistics.median(times[suffix])
            print(f"edgetui rank {n:,} rows --export {suffix}: {s:.2f} s end to end (target {EXPORT_TARGET_S:g} s: "
                  f"{s / EXPORT_TARGET_S:.2f} of it; {s / read_ref:.1f}x a python that only reads the CSV with "
                  f"polars, {read_ref:.2f} s; median of {', '.join(f'{t:.2f}' for t in times[suffix])})", flush=True)
    finally:
        if not args.data:
            shutil.rmtree(data, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
