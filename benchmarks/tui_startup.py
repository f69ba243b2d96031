"""Time from launching `edgetui` to its first drawn frame, against a bare Textual app measured in
the same run (target: at most 1.3x the bare app's, issue 25; the first frame is the queue screen
with the profiles listed, their estimates following it).

Each program is started in a pseudo-terminal, as a person's shell would start it, and the clock
stops when the frame's text (a word only the first frame holds) has been written to the terminal.
The two are launched alternately, so that a busy moment of the machine falls on both.

    .venv/bin/python benchmarks/tui_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE_APP = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("bare-textual-ready")

Bare().run()
"""


def first_frame_seconds(cmd: list[str], marker: bytes, cwd: Path, env: dict[str, str], timeout: float = 30.0,
                        size: tuple[int, int] = (80, 24)) -> float:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0:
                raise SystemExit(f"no first frame from {cmd} within {timeout} s; got {seen[-300:]!r}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                raise SystemExit(f"{cmd} closed its terminal before drawing; got {seen[-300:]!r}") from None
            seen += chunk
            if marker in seen:
                return time.perf_counter() - t0
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        os.close(master)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP)
        env = dict(os.environ, TERM="xterm-256color", EDGETUI_RUNS_DIR=str(Path(tmp) / "runs"))
        env.pop("TEXTUAL", None)
        edgetui = [sys.executable, "-m", "edgetui"]
        # warm the file cache for both before timing
        first_frame_seconds([sys.executable, str(bare)], b"bare-textual-ready", REPO, env)
        first_frame_seconds(edgetui, b"Profiles", REPO, env)
        bare_times, edgetui_times = [], []
        for _ in range(args.runs):
            bare_times.append(first_frame_seconds([sys.executable, str(bare)], b"bare-textual-ready", REPO, env))
            edgetui_times.append(first_frame_seconds(edgetui, b"Profiles", REPO, env))
    b, e = statistics.median(bare_times), statistics.median(edgetui_times)
    print(f"runs: {args.runs} each, alternating, 80x24 pseudo-terminal, {os.cpu_count()} CPUs")
    print(f"bare Textual app, first frame: median {b:.3f} s (min {min(bare_times):.3f}, max {max(bare_times):.3f})")
    print(f"edgetui, first frame:          median {e:.3f} s (min {min(edgetui_times):.3f}, max {max(edgetui_times):.3f})")
    print(f"ratio edgetui / bare: {e / b:.2f}; load average {os.getloadavg()[0]:.1f}")
    print(f"target: at most 1.3x the bare app's: {'met' if e <= 1.3 * b else 'NOT met'}")


if __name__ == "__main__":
    main()
