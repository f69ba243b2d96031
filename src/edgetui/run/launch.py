"""Start `edgetui run --headless` detached: in a session of its own, with no terminal on its
stdin or stdout, so that a dropped SSH connection never reaches it. Used by `--detach` and by
the console's run and resume keys."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from edgetui.childenv import child_env
from edgetui.rundir.layout import RUNNER_LOG


def reap_when_done(proc: subprocess.Popen) -> threading.Thread:
    """Collect the runner's exit once it comes (no <defunct> child left per run), in a thread that
    waits without reaping (waitid WNOWAIT), then lets Popen reap: whoever follows the runner with
    proc.poll() still gets its exit code, and never blocks on the waiter."""

    def wait() -> None:
        try:
            if hasattr(os, "waitid"):
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                while proc.poll() is None:  # a poll() of the follower's under way holds Popen's lock
                    time.sleep(0.05)
            else:
                proc.wait()
        except ChildProcessError:  # already reaped by a poll()
            pass

    t = threading.Thread(target=wait, name=f"edgetui-reap-{proc.pid}", daemon=True)
    t.start()
    return t



def launch_runner(profile_paths: Sequence[str | Path], run_dir: str | Path, *, sysfs_root: str | None = None,
                  power_source: str | None = None, resume: bool = False, prometheus: str | Path | None = None,
                  metrics_port: int | None = None) -> subprocess.Popen:
    """`edgetui run --headless` as a process of its own session, writing into run_dir."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "edgetui", "run", "--headless"]
    if resume:
        cmd += ["--resume", str(run_dir)]
    else:
        # absolute paths: run.json records them, and a resume may start from another folder
        cmd += ["--out", str(run_dir), *[str(Path(p).resolve()) for p in profile_paths]]
    if power_source:
        cmd += ["--power-source", power_source]
    if sysfs_root:
        cmd += ["--sysfs-root", str(sysfs_root)]
    if prometheus:
        cmd += ["--prometheus", str(Path(prometheus).resolve())]
    if metrics_port:
        cmd += ["--metrics-port", str(metrics_port)]
    env = child_env()
    with (run_dir / RUNNER_LOG).open("ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env)
    reap_when_done(proc)
    return proc
