"""The console's own memory (RSS of the `edgetui` process, not the model's) while it follows a
long run: target under 120 MB and flat (bounded histories).

A writer process plays a run into a run folder at the runner's real rates (samples at 10 Hz with
a board's worth of rails and zones, progress events at 4 Hz, a repetition every 2 s, a new
configuration every 20 s); `edgetui` is started in a pseudo-terminal, attaches to that run as it
would after an SSH drop, and draws it. Its RSS and CPU time are sampled every few seconds.
--speedup N plays N seconds of run per second (the console still ticks at its own fixed rate and
so reads bigger batches): --minutes 6 --speedup 10 stands for an hour of run.

    .venv/bin/python benchmarks/tui_memory.py [--minutes 3] [--speedup 1]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RAILS = {"VDD_IN": 6.4, "VDD_CPU_GPU_CV": 1.8, "VDD_SOC": 1.4}
ZONES = {"cpu-thermal": 47.7, "gpu-thermal": 46.5, "soc0-thermal": 46.9, "soc1-thermal": 46.0, "tj-thermal": 48.6}
SAMPLE_HZ, PROGRESS_HZ, REP_S, REPS_PER_CONFIG = 10.0, 4.0, 2.0, 10


def write_run(run_dir: Path, seconds: float, speedup: float) -> None:
    """Play a run into run_dir: run time advances `speedup` times faster than the wall clock."""
    events = (run_dir / "events.jsonl").open("a")
    samples = (run_dir / "samples.jsonl").open("a")
    start = time.monotonic()
    sim = 0.0  # seconds of run played so far
    next_sample = next_progress = 0.0
    config = rep = 0
    rep_start = None

    def ev(rec: dict) -> None:
        events.write(json.dumps({**rec, "t": start + sim}) + "\n")

    ev({"ev": "run_start", "n_configs": 100000, "pid": os.getpid(), "power_source": "jetson:VDD_IN (module, measured)"})
    while sim < seconds:
        wall_target = start + sim / speedup
        delay = wall_target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if rep_start is None:
            if rep == 0:
                config += 1
                ev({"ev": "config_start", "config_id": f"c{config:06d}", "index": config, "n": 100000,
                    "describe": f"synthetic-model t2 ngl0 ctx512 b512 fa:auto kv:f16 pp128 tg128 #{config}",
                    "config": {"repetitions": REPS_PER_CONFIG - 1, "warmup": 1}})
            ev({"ev": "rep_start", "config_id": f"c{config:06d}", "rep": rep, "warmup": rep == 0, "of": REPS_PER_CONFIG})
            rep_start = sim
        if sim >= next_progress:
            tokens = int((sim - rep_start) * 100)
            ev({"ev": "progress", "config_id": f"c{config:06d}", "rep": rep, "warmup": rep == 0,
                "phase": "decode", "tokens": tokens})
            next_progress += 1.0 / PROGRESS_HZ
        if sim >= next_sample:
            wobble = (int(sim * 10) % 7) / 10
            samples.write(json.dumps({
                "t": start + sim, "wall": time.time(), "phase": "decode", "temp_c_max": 48.6 + wobble,
                "temp_zone": "tj-thermal", "throttled": False, "power_w": 6.4 + wobble, "energy_j": None,
                "rss_mb": 350.0 + wobble, "cpu_pct": 100.0, "mem_used_mb": 1200.0, "mem_total_mb": 7600.0,
                "readings": {"jetson": {"power": {k: v + wobble for k, v in RAILS.items()},
                                        "load": {"gpu": 51.2}, "frequency": {"gpu": 612e6}},
                             "thermal": {"temperature": {k: v + wobble for k, v in ZONES.items()}}}}) + "\n")
            next_sample += 1.0 / SAMPLE_HZ
        if sim - rep_start >= REP_S:
            ev({"ev": "rep_end", "config_id": f"c{config:06d}", "rep": rep, "warmup": rep == 0, "ttft_ms": 120.0,
                "prefill_tps": 500.0, "decode_tps": 100.0 + (rep % 5), "e2e_tps": 80.0, "energy_j": 12.8,
                "power_w_mean": 6.4, "gen_tokens_actual": 128})
            rep += 1
            rep_start = None
            if rep == REPS_PER_CONFIG:
                ev({"ev": "config_end", "config_id": f"c{config:06d}", "status": "done", "error": None})
                rep = 0
        events.flush()
        samples.flush()
        sim += 1.0 / (SAMPLE_HZ * 2)
    ev({"ev": "run_end", "status": "finished", "failed": 0})
    events.close()
    samples.close()


def drain(fd: int, stop: threading.Event) -> None:
    """Read the console's output as a terminal would (a full pty would block its writes)."""
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                os.read(fd, 1 << 16)
            except OSError:
                return


def main() -> None:
    import psutil

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0, help="wall-clock length of the measurement")
    ap.add_argument("--speedup", type=float, default=1.0, help="seconds of run played per second")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--writer", nargs=3, metavar=("RUN_DIR", "SECONDS", "SPEEDUP"), help=argparse.SUPPRESS)
    args, _ = ap.parse_known_args()
    if args.writer:  # the child that plays the run (its command line names edgetui, as a runner's does)
        write_run(Path(args.writer[0]), float(args.writer[1]), float(args.writer[2]))
        return

    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        run_dir = runs / "20260101-000000-synthetic"
        run_dir.mkdir(parents=True)
        writer = subprocess.Popen([sys.executable, __file__, "--writer", str(run_dir), str(seconds * args.speedup + 30),
                                   str(args.speedup), "edgetui-synthetic-runner"])
        (run_dir / "run.json").write_text(json.dumps({
            "schema": 1, "status": "running", "runner_pid": writer.pid, "configs": [],
            "power_source": "jetson:VDD_IN (module, measured)", "sensors": []}))
        time.sleep(1.0)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", EDGETUI_RUNS_DIR=str(runs))
        console = subprocess.Popen([sys.executable, "-m", "edgetui"], stdin=slave, stdout=slave, stderr=slave,
                                   cwd=tmp, env=env, start_new_session=True)
        os.close(slave)
        stop = threading.Event()
        threading.Thread(target=drain, args=(master, stop), daemon=True).start()
        proc = psutil.Process(console.pid)
        points: list[tuple[float, float, float]] = []  # (seconds, RSS MB, CPU seconds)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < seconds:
                time.sleep(args.every)
                if console.poll() is not None:
                    raise SystemExit(f"the console exited early (code {console.returncode})")
                cpu = proc.cpu_times()
                points.append((time.monotonic() - t0, proc.memory_info().rss / 2**20, cpu.user + cpu.system))
                print(f"  t={points[-1][0]:6.0f} s  RSS {points[-1][1]:6.1f} MB  CPU {points[-1][2]:6.1f} s", flush=True)
        finally:
            stop.set()
            os.killpg(console.pid, signal.SIGTERM)
            console.wait(timeout=10)
            writer.kill()
            writer.wait()
            os.close(master)
    half = [p for p in points if p[0] >= points[-1][0] / 2]
    n = len(half)
    mx = sum(p[0] for p in half) / n
    my = sum(p[1] for p in half) / n
    slope = sum((p[0] - mx) * (p[1] - my) for p in half) / max(1e-9, sum((p[0] - mx) ** 2 for p in half))
    cpu_pct = 100 * (points[-1][2] - points[0][2]) / (points[-1][0] - points[0][0])
    run_minutes = seconds * args.speedup / 60
    print(f"{run_minutes:.0f} min of run played in {args.minutes:g} min (speedup {args.speedup:g}), console at 120x36")
    print(f"console RSS: first {points[0][1]:.1f} MB, last {points[-1][1]:.1f} MB, max {max(p[1] for p in points):.1f} MB")
    print(f"second-half slope: {slope * 60:+.3f} MB per wall minute ({slope * 60 / args.speedup:+.3f} MB per run minute)")
    print(f"console CPU while following: {cpu_pct:.1f}% of one core")
    print(f"target: under 120 MB and flat: {'met' if max(p[1] for p in points) < 120 and abs(slope * 60) < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
