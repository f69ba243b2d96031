"""How long does a 3-board smoke fleet take from the command to the merged ranking, against the
same three runs started by hand one after another (each `edgetui run profiles/smoke.toml
--headless`, then `edgetui rank A B C`)? Both on this machine: the three "boards" are loopback
hosts of a throw-away sshd (tests/sshd.py), each on its own sysfs fixture, and the board's edgetui
is this Python, so nothing is installed.

    .venv/bin/python benchmarks/fleet_loopback.py [--profile profiles/smoke.toml] [--rounds 1]

On loopback the three runs share this machine's cores, so the fleet's runs compete with each
other where on three real boards they would not: the ratio printed is an upper bound on what the
fleet costs (Ansible's deploy, the SSH followers, the merge), not the speed-up three boards give.
The fleet's boards run llama.cpp with OMP_WAIT_POLICY=PASSIVE (see board_env), the runs by hand
with llama.cpp's default.
Both orders are timed in each round, alternated, so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from sshd import LoopbackSshd, ansible_missing, board_env, find_sshd  # noqa: E402

EDGETUI = [sys.executable, "-m", "edgetui"]
BOARDS = {"pi5": "rpi5", "orin": "jetson-orin-nano", "rock": "rock5b"}


def timed(cmd: list[str], env: dict[str, str], log: Path) -> float:
    start = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, **env), stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}; see {log}")
    return elapsed


def by_hand(work: Path, profile: Path, log: Path) -> float:
    start = time.monotonic()
    outs = []
    for host, fixture in BOARDS.items():
        out = work / host
        timed([*EDGETUI, "run", str(profile), "--headless", "--out", str(out)], board_env(fixture, sharing_cores=False), log)
        outs.append(str(out))
    timed([*EDGETUI, "rank", *outs], {}, log)
    return time.monotonic() - start


def fleet(work: Path, profile: Path, sshd: LoopbackSshd, log: Path) -> float:
    hosts = {h: {"edgetui_dir": str(work / "boards" / h), "edgetui_python": sys.executable,
                 "edgetui_env": board_env(fx, sharing_cores=True)} for h, fx in BOARDS.items()}
    inv = work / "fleet.yml"
    inv.write_text(json.dumps({"all": {"vars": sshd.ssh_vars(), "hosts": hosts}}))
    env = {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp")}
    return timed([*EDGETUI, "fleet", "run", str(inv), str(profile), "--out", str(work / "fleet"), "--headless"],
                 env, log)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--profile", default=str(REPO / "profiles" / "smoke.toml"))
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    sshd_path, why = find_sshd()
    why = why or ansible_missing()
    if why:
        raise SystemExit(f"cannot measure: {why}")
    profile = Path(args.profile).resolve()
    with tempfile.TemporaryDirectory(prefix="edgetui-fleet-bench-") as tmp:
        root = Path(tmp)
        sshd = LoopbackSshd(root / "sshd", sshd_path)
        sshd.start()
        log = root / "bench.log"
        try:
            fleet_s, hand_s = [], []
            for r in range(args.rounds):
                order = ("fleet", "hand") if r % 2 == 0 else ("hand", "fleet")
                for what in order:
                    work = root / f"{what}-{r}"
                    work.mkdir()
                    t = fleet(work, profile, sshd, log) if what == "fleet" else by_hand(work, profile, log)
                    (fleet_s if what == "fleet" else hand_s).append(t)
                    print(f"round {r + 1}: {what:<5} {t:7.1f} s", flush=True)
        finally:
            sshd.stop()
        f, h = sum(fleet_s) / len(fleet_s), sum(hand_s) / len(hand_s)
        print(f"\n3-board fleet, command to merged ranking: {f:.1f} s (mean of {len(fleet_s)})")
        print(f"the same 3 runs by hand, one after another, then edgetui rank: {h:.1f} s")
        print(f"ratio fleet / by hand: {f / h:.2f}  (load average now {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
