"""The fleet end to end on this machine, loopback only: an sshd of the test's own on 127.0.0.1
(tests/sshd.py) and an inventory of "boards" that all point at it, each with its own edgetui_dir
and sysfs fixture (so each reports a different board). The board's edgetui is this very Python
(edgetui_python), so nothing is installed over the network, except in the install test, which
installs a wheel built here into a fresh venv.

Slow: each test runs the smoke profile for real on 2-3 boards at once, on a shared 2-core
machine; every wait is generous and none is a timing assertion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from edgetui.rundir.layout import CHILD, CONTROL, RUNNER_LOCK

from conftest import EDGETUI, REPO, run_cli
from sshd import LoopbackSshd, ansible_missing, board_env, find_sshd, free_port

SSHD, _why = find_sshd()
_why = _why or ansible_missing()
pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.skipif(bool(_why), reason=f"fleet tests: {_why}")]

SMOKE = REPO / "profiles" / "smoke.toml"
# inventory host -> the sysfs fixture it stands on, and the board that fixture is
BOARDS = {"pi5": ("rpi5", "Raspberry Pi 5"), "orin": ("jetson-orin-nano", "Jetson Orin Nano"),
          "rock": ("rock5b", "ROCK 5B")}
LONG = 900  # seconds: a whole fleet run on a loaded machine


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"), SSHD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fleet_env(tmp_path, smollm2_path):
    """The environment of the controller: Ansible's control sockets and temp files kept in the test's folder."""
    env = {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    yield env
    _kill_board_runs(tmp_path)


def _kill_board_runs(tmp_path: Path) -> None:
    """A failed test must not leave the boards' detached runners busy on the shared machine."""
    for hosts_json in tmp_path.glob("*/hosts.json"):
        for entry in json.loads(hosts_json.read_text()).values():
            pid = entry.get("remote_pid")
            try:
                proc = psutil.Process(pid) if pid else None
                if proc is not None and any("edgetui" in part for part in proc.cmdline()):
                    proc.kill()
            except psutil.Error:
                pass


def board_vars(tmp_path: Path, host: str, fixture: str) -> dict:
    env = board_env(fixture, sharing_cores=True)  # the tests run two or three boards at once; they time nothing
    return {"edgetui_dir": str(tmp_path / "boards" / host), "edgetui_python": sys.executable, "edgetui_env": env}


def write_inventory(tmp_path: Path, sshd: LoopbackSshd, hosts: dict[str, dict]) -> Path:
    """A YAML inventory (JSON is YAML) with these hosts behind the test's sshd."""
    inv = tmp_path / "fleet.yml"
    inv.write_text(json.dumps({"all": {"vars": sshd.ssh_vars(), "hosts": hosts}}, indent=1))
    return inv


def start_controller(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([*EDGETUI, *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **env), start_new_session=True)


def wait_for(what: str, cond, timeout: float = 600, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


def hosts_state(fleet: Path) -> dict:
    try:
        return json.loads((fleet / "hosts.json").read_text())
    except (OSError, ValueError):
        return {}


def mirror_events(fleet: Path, host: str) -> list[str]:
    path = fleet / host / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line).get("ev"))
        except ValueError:
            pass
    return out


def remote_run_dir(fleet: Path, host: str) -> Path:
    return Path(hosts_state(fleet)[host]["remote_run"])


def assert_mirror_is_the_boards_run(fleet: Path, host: str) -> None:
    """Nothing lost, nothing twice: every file of the board's run folder, byte for byte."""
    remote = remote_run_dir(fleet, host)
    # control.json is the console's own; runner.lock and child.json are the board's runner's (a flock
    # and a pid mean nothing here)
    local = {CONTROL, RUNNER_LOCK, CHILD}
    theirs = {p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file()} - local
    mine = {p.relative_to(fleet / host).as_posix() for p in (fleet / host).rglob("*") if p.is_file()} - local
    assert theirs == mine, (host, theirs ^ mine)
    for name in theirs:
        assert (remote / name).read_bytes() == (fleet / host / name).read_bytes(), (host, name)


def merged_rows(fleet: Path) -> list[dict]:
    return json.loads((fleet / "results.json").read_text())["rows"]


def last_phase(run_dir: Path) -> str | None:
    """The phase of the newest sample the board's sampler wrote (a pause shows as "paused")."""
    try:
        lines = (run_dir / "samples.jsonl").read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line).get("phase")
        except ValueError:  # the line being written
            continue
    return None


def fleet_events(fleet: Path, host: str) -> list[dict]:
    return [json.loads(ln) for ln in (fleet / "fleet-events.jsonl").read_text().splitlines()
            if json.loads(ln)["host"] == host]


def test_check_reports_each_host_and_keeps_host_keys_checked(tmp_path, sshd, fleet_env):
    # "stranger" is the same server under another name, whose known_hosts entry holds another key.
    # (Another name, so that Ansible's shared ssh connection to 127.0.0.1 is not reused for it.)
    wrong = tmp_path / "wrong_known_hosts"
    other = LoopbackSshd(tmp_path / "other-keys", SSHD)  # keys only; never started
    wrong.write_text(f"[localhost]:{sshd.port} {Path(f'{other.host_key}.pub').read_text()}")
    hosts = {h: board_vars(tmp_path, h, fx) for h, (fx, _) in BOARDS.items()}
    hosts["gone"] = {"ansible_port": str(free_port())}
    hosts["stranger"] = {**sshd.ssh_vars(known_hosts=wrong), "ansible_host": "localhost"}
    # a board whose python3 is a pyenv shim without the Python it names
    shim = tmp_path / "shim" / "python3"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    hosts["shim"] = {**board_vars(tmp_path, "shim", "rpi5"), "ansible_python_interpreter": str(shim)}
    inv = write_inventory(tmp_path, sshd, hosts)
    proc = run_cli("fleet", "check", str(inv), env=fleet_env, timeout=LONG)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    import platform

    for host, (_, board) in BOARDS.items():
        lines = out.splitlines()
        line = next(ln for ln in lines if ln.startswith(f"{host}: "))
        assert "reachable, Python" in line and "edgetui 0.1.0 (this version)" in line and "GB free" in line, line
        board_line = lines[lines.index(line) + 1]
        assert board in board_line, (host, board_line)
        block = lines[lines.index(line):lines.index(line) + 7]
        assert any(f"CPU {platform.machine()}; the probe ran with" in ln for ln in block), block
        assert any("llama-cpp-python" in ln and "there: nothing to compile" in ln for ln in block), block
    assert "gone: NOT REACHABLE" in out and "Connection refused" in out
    assert "stranger: NOT REACHABLE" in out and "Host key verification failed" in out
    assert (f"shim: NOT USABLE: reached over SSH, but the probe did not run with {shim} (ansible_python_interpreter): "
            "pyenv: python3.13: command not found (exit code 127)") in out, out
    assert "3 of 6 host(s) reachable; not: gone, stranger, shim" in out


def test_smoke_across_three_boards_through_an_sshd_restart_with_one_host_unreachable(tmp_path, sshd, fleet_env):
    hosts = {h: board_vars(tmp_path, h, fx) for h, (fx, _) in BOARDS.items()}
    hosts["gone"] = {"ansible_port": str(free_port())}
    inv = write_inventory(tmp_path, sshd, hosts)
    fleet, log = tmp_path / "fleet", tmp_path / "controller.log"
    # the smoke profile, with repetitions enough that the boards are still measuring when the pause
    # below reaches them (each repetition is under a second)
    profile = tmp_path / "smoke.toml"
    profile.write_text(SMOKE.read_text().replace("repetitions = 3\n", "repetitions = 12\n"))
    assert profile.read_text() != SMOKE.read_text()
    proc = start_controller(["fleet", "run", str(inv), str(profile), "--out", str(fleet), "--headless"], fleet_env, log)

    def mid_run():  # two or more boards measuring: their followers are connected and their runs not over
        busy = [h for h in BOARDS if "config_start" in mirror_events(fleet, h)
                and "run_end" not in mirror_events(fleet, h)
                and hosts_state(fleet).get(h, {}).get("state") == "following"]
        return busy if len(busy) >= 2 else None

    busy = wait_for("two boards mid-run", mid_run, log=log)
    # The console's live screen on a board writes the mirror's control.json; the controller sends it
    # there. A pause holds those boards mid-run however fast their runs would otherwise end, so the
    # drop below lands while they are running.
    from edgetui.rundir.control import write_control

    for host in busy:
        write_control(fleet / host, pause=True)
    for host in busy:
        wait_for(f"the controller to confirm {host}'s pause",
                 lambda h=host: f'[{h}] sent to the board: {{"pause": true,' in log.read_text(), timeout=120, log=log)
    # (a run already in its last repetition when the pause arrived ends anyway)
    wait_for("each board paused or done",
             lambda: all(last_phase(remote_run_dir(fleet, h)) == "paused" or "run_end" in mirror_events(fleet, h)
                         for h in busy), timeout=120, log=log)
    dropped = [h for h in busy if "run_end" not in mirror_events(fleet, h)]
    assert dropped, "no board held its pause"
    print("paused, then dropped:", dropped)
    sshd.stop()  # every connection ends, as a network drop would
    time.sleep(3)
    sshd.start()
    for host in dropped:
        wait_for(f"{host} followed again", lambda h=host: any(
            e["state"] == "following" and "again" in (e["detail"] or "") for e in fleet_events(fleet, h)),
            timeout=300, log=log)
        write_control(fleet / host, pause=False)  # the run goes on, and ends
    assert proc.wait(LONG) == 1, log.read_text()[-3000:]  # 1: the unreachable host could not run
    out = log.read_text()
    assert "[gone] failed: unreachable" in out
    for host in dropped:
        assert f'[{host}] sent to the board: {{"pause": false,' in out
    for host in BOARDS:
        assert f"[{host}] edgetui 0.1.0 already there: nothing installed" in out
        assert_mirror_is_the_boards_run(fleet, host)
    for host in dropped:
        states = [e["state"] for e in fleet_events(fleet, host)]
        assert "reconnecting" in states, (host, states)
        again = [e for e in fleet_events(fleet, host) if e["state"] == "following" and "again" in (e["detail"] or "")]
        assert again, (host, fleet_events(fleet, host))
    rows = merged_rows(fleet)
    assert sorted(r["fleet_host"] for r in rows) == sorted(BOARDS)  # every host's row, exactly once
    assert all(r["status"] == "done" for r in rows), [(r["fleet_host"], r["status"], r.get("error")) for r in rows]
    for r in rows:
        assert BOARDS[r["fleet_host"]][1] in r["board"], r
    rank = run_cli("rank", str(fleet))
    assert rank.returncode == 0 and "fleet_host" in rank.stdout
    status = run_cli("fleet", "status", str(fleet))
    assert status.returncode == 0 and "controller: not running" in status.stdout
    assert "gone  failed" in status.stdout.replace("    ", "  ")


def test_controller_killed_mid_run_then_resume_collects(tmp_path, sshd, fleet_env):
    two = {h: BOARDS[h] for h in ("pi5", "orin")}
    inv = write_inventory(tmp_path, sshd, {h: board_vars(tmp_path, h, fx) for h, (fx, _) in two.items()})
    fleet, log = tmp_path / "fleet", tmp_path / "controller.log"
    proc = start_controller(["fleet", "run", str(inv), str(SMOKE), "--out", str(fleet), "--headless"], fleet_env, log)
    wait_for("both boards followed mid-run", lambda: all(
        hosts_state(fleet).get(h, {}).get("state") == "following" and "config_start" in mirror_events(fleet, h)
        for h in two), log=log)
    os.killpg(proc.pid, signal.SIGKILL)  # the controller and its ssh children, as a closed terminal would
    proc.wait(30)
    # the boards' runs never depended on the controller: they finish on their own
    for h in two:
        manifest = remote_run_dir(fleet, h) / "run.json"
        wait_for(f"{h}'s run to finish on the board",
                 lambda m=manifest: json.loads(m.read_text()).get("status") == "finished", timeout=LONG)
    status = run_cli("fleet", "status", str(fleet))
    assert "controller: not running" in status.stdout and "edgetui fleet resume" in status.stdout, status.stdout
    for h in two:  # what was last known, and when: no live state that nobody holds
        line = next(ln for ln in status.stdout.splitlines() if ln.startswith(f"{h} "))
        assert "last known at " in line and ": following" in line and "no controller follows it now" in line, line
    assert not (fleet / "results.json").exists()
    resumed = run_cli("fleet", "resume", str(fleet), "--headless", env=fleet_env, timeout=LONG)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    from edgetui.tomlread import tomllib

    asked = tomllib.loads(SMOKE.read_text())["repetitions"]
    for h in two:
        assert f"[{h}] collected: finished on the board: 1 of 1 configurations done" in resumed.stdout
        assert_mirror_is_the_boards_run(fleet, h)
        reps = [json.loads(ln) for ln in (fleet / h / "repetitions.jsonl").read_text().splitlines()]
        assert sum(1 for r in reps if not r.get("warmup")) == asked, (h, reps)  # the kill lost no repetition
    assert sorted(r["fleet_host"] for r in merged_rows(fleet)) == sorted(two)
    again = run_cli("fleet", "resume", str(fleet), env=fleet_env, timeout=LONG)  # nothing left: nothing twice
    assert again.returncode == 0 and sorted(r["fleet_host"] for r in merged_rows(fleet)) == sorted(two)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)]
    # with this venv's own setuptools when it can build wheels, else in pip's isolated build (from PyPI)
    proc = subprocess.run([*build, "--no-build-isolation"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        proc = subprocess.run(build, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"could not build an edgetui wheel here: {proc.stderr[-500:]}")
    return out


def test_install_from_a_copied_wheel_then_nothing_installed_the_second_time(tmp_path, sshd, fleet_env, wheel):
    # A board without edgetui: the venv is made in its edgetui_dir and the wheel built here is copied and
    # installed (--no-deps: the test must not fetch llama-cpp-python and the rest; the run then cannot
    # start there, which is that host's failure, reported with its reason).
    fresh = {"edgetui_dir": str(tmp_path / "boards" / "fresh"), "edgetui_pip_args": "--no-deps --no-index"}
    inv = write_inventory(tmp_path, sshd, {"fresh": fresh})
    first = run_cli("fleet", "run", str(inv), str(SMOKE), "--out", str(tmp_path / "f1"), "--headless",
                    "--wheel", str(wheel), env=fleet_env, timeout=LONG)
    venv_python = tmp_path / "boards" / "fresh" / "venv" / "bin" / "python"
    assert f"[fresh] installed edgetui 0.1.0 into {venv_python}" in first.stdout, first.stdout + first.stderr
    version = subprocess.run([str(venv_python), "-c", "import edgetui; print(edgetui.__version__)"],
                             capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert version.stdout.strip() == "0.1.0"
    assert first.returncode == 1 and "[fresh] failed: launch failed" in first.stdout
    assert "No module named" in first.stdout  # the reason, from the board
    second = run_cli("fleet", "run", str(inv), str(SMOKE), "--out", str(tmp_path / "f2"), "--headless",
                     "--wheel", str(wheel), env=fleet_env, timeout=LONG)
    assert "[fresh] edgetui 0.1.0 already there: nothing installed" in second.stdout, second.stdout
    assert "installed edgetui" not in second.stdout


# ------------------------------------------------------------------ hostile input (issue 22)
def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_profile_or_a_board_answering_with_a_template_runs_nothing_on_the_controller(tmp_path, sshd, fleet_env):
    """Ansible renders the text of its variables as templates: a profile's name (which names the
    fleet folder without --out, and the runs on the boards) and a board's answer must stay text."""
    profile = tmp_path / "shared.toml"  # a profile someone shared
    # ($M: the test's folder; a lookup runs in the playbook's folder, and a "/" would not survive
    # into the fleet folder's name)
    profile.write_text(SMOKE.read_text().replace('name = "smoke"', "name = \"{{ lookup('pipe', 'cd $M; id > pwned.txt') }}\"",
                                                 1))
    assert "lookup('pipe'" in profile.read_text()
    # a board whose Python answers the probe with a template of its own
    real = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"dir": "{{ lookup('pipe', 'cd $M; id > pwned-by-board.txt') }}", "python": "/x"}))
    evil_python = _script(tmp_path / "evil-python", f"""#!/bin/sh
case "$1" in *probe*) cat {answer}; exit 0 ;; esac
exec {real} "$@"
""")
    hosts = {"pi5": board_vars(tmp_path, "pi5", "rpi5"),
             "evil": {**board_vars(tmp_path, "evil", "rock5b"), "ansible_python_interpreter": str(evil_python)}}
    inv = write_inventory(tmp_path, sshd, hosts)
    runs = tmp_path / "runs"
    env = {**fleet_env, "EDGETUI_RUNS_DIR": str(runs), "M": str(tmp_path)}
    proc = subprocess.run([*EDGETUI, "fleet", "run", str(inv), str(profile), "--headless"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=LONG, env=dict(os.environ, **env))
    out = proc.stdout + proc.stderr
    from edgetui.fleet.deploy import PLAYBOOKS

    assert not list(tmp_path.rglob("pwned*")) and not list(PLAYBOOKS.rglob("pwned*")), out  # no command ran here
    assert proc.returncode == 1, out  # the hostile board's failure; the other finished
    assert "[evil] failed: check probe failed: the board's answer to the probe holds a template mark" in out, out
    (fleet,) = runs.glob("fleet-*")
    assert "{" not in fleet.name and "'" not in fleet.name
    assert "[pi5] collected: finished on the board: 1 of 1 configurations done" in out, out
    remote = remote_run_dir(fleet, "pi5")
    assert remote.name.startswith(fleet.name) and remote.is_dir()


HOSTILE_STREAM = r'''
import json, sys
from pathlib import Path
sys.stdin.buffer.read()
count = Path(sys.argv[1])
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
out = sys.stdout.buffer
def frame(header, payload=b""):
    out.write((header if isinstance(header, bytes) else json.dumps(header).encode()) + b"\n" + payload)
frame({"status": "running", "pid": 1, "mono": 1.0})
if n == 1:  # records of the wrong types, then a header that is not one
    for name, payload in (("events.jsonl", b'{"ev":"rep_end","t":1,"config_id":"c1","decode_tps":"fast"}\n'),
                          ("configs.jsonl", b'"config_id"\n')):
        frame({"f": name, "o": 0, "n": len(payload)}, payload)
    run = b'{"schema": 1, "status": "running", "configs": [1]}'
    frame({"f": "run.json", "whole": True, "n": len(run)}, run)
    frame(b'{"f":"events.jsonl","o":0,"n":"x"}')
elif n == 2:
    frame(b'{"f":"events.jsonl","o":0,"n":1e999}')
elif n == 3:
    frame(b"[" * 50000)
else:
    frame(b'{"n": [1]}')
out.flush()
'''


def test_one_hostile_board_of_three_and_the_other_two_finish_and_are_ranked(tmp_path, sshd, fleet_env):
    real = sys.executable
    stream = tmp_path / "hostile_stream.py"
    stream.write_text(HOSTILE_STREAM)
    # the hostile board's edgetui Python: its run is only said to start, its stream is the script above
    evil_python = _script(tmp_path / "evil-python", f"""#!/bin/sh
case "$*" in
  *edgetui.fleet.stream*) exec {real} {stream} {tmp_path / 'connections'} ;;
  *"-m edgetui run"*) echo "started: running in the background, pid 999999"; exit 0 ;;
esac
exec {real} "$@"
""")
    hosts = {h: board_vars(tmp_path, h, fx) for h, (fx, _) in BOARDS.items() if h in ("pi5", "orin")}
    hosts["evil"] = {**board_vars(tmp_path, "evil", "rock5b"), "edgetui_python": str(evil_python)}
    inv = write_inventory(tmp_path, sshd, hosts)
    fleet = tmp_path / "fleet"
    proc = run_cli("fleet", "run", str(inv), str(SMOKE), "--out", str(fleet), "--headless", env=fleet_env, timeout=LONG)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    states = hosts_state(fleet)
    for good in ("pi5", "orin"):
        assert states[good]["state"] == "collected" and states[good]["remote_status"] == "finished", (good, out)
    assert states["evil"]["state"] == "lost", states["evil"]
    assert "in a row" in states["evil"]["detail"] and "a frame of [1] bytes" in states["evil"]["detail"]
    assert "[evil] warning: skipped a record that is not edgetui's" in out, out
    assert int((tmp_path / "connections").read_text()) >= 5
    events = [e["detail"] or "" for e in fleet_events(fleet, "evil")]
    for why in ("a frame of x bytes", "a frame of inf bytes", "not a frame header"):
        assert any(why in d for d in events), (why, events)  # each told, as it happened
    assert sorted(r["fleet_host"] for r in merged_rows(fleet)) == ["orin", "pi5"]
    assert "fleet_host" in out and "merged results:" in out  # the ranking printed


def test_unknown_host_keys_fail_whatever_the_users_ssh_config_says(tmp_path, sshd, fleet_env):
    """A `StrictHostKeyChecking accept-new` in the ssh configuration would take any key on first
    contact: edgetui's ssh and Ansible's refuse an unknown key all the same."""
    from edgetui.fleet.inventory import FleetHost
    from edgetui.fleet.ssh import ssh_argv

    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  StrictHostKeyChecking accept-new\n")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    vars_ = {**sshd.ssh_vars(known_hosts=empty), "ansible_host": "localhost"}  # a name ControlPersist has not seen
    vars_["ansible_ssh_common_args"] = f"-F {config} " + vars_["ansible_ssh_common_args"]
    argv = ssh_argv(FleetHost("newkey", vars_), ["true"])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 255 and "Host key verification failed" in proc.stderr, proc.stderr
    assert empty.read_text() == ""  # nothing was accepted
    inv = write_inventory(tmp_path, sshd, {"newkey": vars_})
    check = run_cli("fleet", "check", str(inv), env=fleet_env, timeout=LONG)
    assert "newkey: NOT REACHABLE" in check.stdout and "Host key verification failed" in check.stdout, check.stdout
    assert empty.read_text() == ""


def test_a_board_without_edgetui_is_refused_without_a_wheel_and_a_hung_deploy_ends_at_its_deadline(
        tmp_path, sshd, fleet_env):
    real = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    hung = _script(tmp_path / "hung-python", f"""#!/bin/sh
case "$1" in *probe*) exec sleep 120 ;; esac
exec {real} "$@"
""")
    fresh = {"edgetui_dir": str(tmp_path / "boards" / "fresh")}
    hosts = {"fresh": fresh, "hung": {"edgetui_dir": str(tmp_path / "boards" / "hung"),
                                      "ansible_python_interpreter": str(hung)}}
    inv = write_inventory(tmp_path, sshd, hosts)
    started = time.monotonic()
    proc = run_cli("fleet", "run", str(inv), str(SMOKE), "--out", str(tmp_path / "f"), "--headless",
                   "--deploy-deadline", "45", env=fleet_env, timeout=LONG)
    took = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "[fresh] failed: no wheel failed: edgetui 0.1.0 is not on this board, and edgetui is not published" in out, out
    assert not (tmp_path / "boards" / "fresh" / "venv").exists()  # refused before anything was made there
    assert "[hung] failed: not started (the deploy did not finish within 45 s)" in out, out
    assert took < 45 + 120, took  # the deadline, not the hung probe, ended it
