"""The fleet's parts on their own, without SSH: the board-side streamer and the controller's
mirror (byte offsets, reconnection, a torn line cut, refused names), the ssh command line,
inventories read by Ansible, the merge with fleet_host, and bad input refused with exit code 2."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from edgetui.errors import UserError
from edgetui.fleet.inventory import FleetHost, hosts_of
from edgetui.fleet.mirror import FrameReader, Mirror, ProtocolError
from edgetui.fleet.ssh import ssh_argv
from edgetui.fleet.stream import Streamer

from conftest import REPO, run_cli
from result_rows import make_row
from sshd import ansible_missing

needs_ansible = pytest.mark.skipif(bool(ansible_missing()), reason=ansible_missing() or "ansible present")


def _frames(data: bytes) -> list[tuple[dict, bytes]]:
    """The frames in data, read the way the controller reads ssh's stdout."""
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        reader = FrameReader(f.fileno())
        out = []
        while reader.fill(1.0) or not reader.eof:
            while (frame := reader.next()) is not None:
                out.append(frame)
        assert not reader.buf, "bytes left over after the last frame"
    return out


def _stream_once(run: Path, offsets: dict[str, int]) -> tuple[list[tuple[dict, bytes]], Streamer]:
    buf = io.BytesIO()
    s = Streamer(run, offsets, buf)
    s.send_new_bytes()
    s.beat(*s.status(), force=True)
    return _frames(buf.getvalue()), s


def _apply(mirror: Mirror, frames) -> None:
    for header, payload in frames:
        if "truncate" in header:
            mirror.truncate(header["f"], header["truncate"])
        elif header.get("whole"):
            mirror.whole(header["f"], payload, offset=header.get("o", 0), size=header.get("size"))
        elif "o" in header:
            mirror.append(header["f"], header["o"], payload)


def _fake_run(root: Path) -> None:
    (root / "logs").mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"schema": 1, "status": "finished", "configs": []}))
    (root / "events.jsonl").write_text('{"ev":"run_start","t":1}\n')
    (root / "samples.jsonl").write_bytes(os.urandom(300_000).hex().encode() + b"\n")  # several frames
    (root / "logs" / "abc.log").write_text("loading\n")


def test_mirror_follows_by_offset_and_resumes_without_duplicates(tmp_path):
    run, local = tmp_path / "board-run", tmp_path / "mirror"
    _fake_run(run)
    mirror = Mirror(local)
    frames, _ = _stream_once(run, mirror.offsets())
    _apply(mirror, frames)
    assert any(h.get("status") == "finished" for h, _ in frames)
    for name in ("run.json", "events.jsonl", "samples.jsonl", "logs/abc.log"):
        assert (local / name).read_bytes() == (run / name).read_bytes(), name
    # the board appends; a new connection asks from what is held and gets only the new bytes
    with (run / "events.jsonl").open("a") as f:
        f.write('{"ev":"run_end","t":2}\n')
    frames, _ = _stream_once(run, mirror.offsets())
    appended = [(h, p) for h, p in frames if h.get("f") == "events.jsonl"]
    assert appended == [({"f": "events.jsonl", "o": 25, "n": 23}, b'{"ev":"run_end","t":2}\n')]
    assert not [h for h, _ in frames if h.get("f") == "samples.jsonl"]
    _apply(mirror, frames)
    assert (local / "events.jsonl").read_bytes() == (run / "events.jsonl").read_bytes()
    # a frame that overlaps what is held (a reconnection mid-frame) is not written twice
    mirror.append("events.jsonl", 0, (run / "events.jsonl").read_bytes())
    assert (local / "events.jsonl").read_bytes() == (run / "events.jsonl").read_bytes()
    with pytest.raises(ProtocolError):  # a gap is refused, never papered over
        mirror.append("events.jsonl", 10_000, b"x")


def test_a_line_cut_on_the_board_is_cut_in_the_mirror(tmp_path):
    run, local = tmp_path / "board-run", tmp_path / "mirror"
    _fake_run(run)
    mirror = Mirror(local)
    with (run / "events.jsonl").open("a") as f:
        f.write('{"ev":"torn')
    _apply(mirror, _stream_once(run, mirror.offsets())[0])
    (run / "events.jsonl").write_text('{"ev":"run_start","t":1}\n')  # `edgetui run --resume` repairs the tail
    frames, _ = _stream_once(run, mirror.offsets())
    assert ({"f": "events.jsonl", "truncate": 25}, b"") in frames
    _apply(mirror, frames)
    assert (local / "events.jsonl").read_bytes() == (run / "events.jsonl").read_bytes()


def test_a_board_cannot_write_outside_its_mirror(tmp_path):
    mirror = Mirror(tmp_path / "m")
    for name in ("../x", "/etc/passwd", "logs/../../x", ".hidden", "a/b/c"):
        with pytest.raises(ProtocolError):
            mirror.append(name, 0, b"x")
    assert not (tmp_path / "x").exists()


def test_a_frame_announcing_more_bytes_than_a_board_sends_is_refused_before_it_is_read(tmp_path):
    from edgetui.fleet.mirror import MAX_PAYLOAD

    for n in (MAX_PAYLOAD + 1, -5):
        with pytest.raises(ProtocolError, match="a frame of"):
            _frames(json.dumps({"f": "events.jsonl", "o": 0, "n": n}).encode() + b"\n" + b"x" * 10)
    assert _frames(json.dumps({"f": "events.jsonl", "o": 0, "n": 3}).encode() + b"\nabc")[0][1] == b"abc"


def test_streamer_ends_with_the_runs_status_after_sending_everything(tmp_path):
    run = tmp_path / "run"
    _fake_run(run)
    buf = io.BytesIO()
    assert Streamer(run, {}, buf, interval_s=0.01).run() == 0
    frames = _frames(buf.getvalue())
    assert frames[-1][0] == {"end": "finished"}
    names = {h["f"] for h, _ in frames if "f" in h}
    assert {"run.json", "events.jsonl", "samples.jsonl", "logs/abc.log"} <= names


def test_the_last_sweep_waits_for_the_runner_to_let_go_of_the_folder(tmp_path):
    """run.json says finished while its runner still holds the folder and writes its last lines:
    the streamer collects under the folder's lock, so those lines are in the mirror too."""
    import subprocess
    import sys

    run = tmp_path / "run"
    _fake_run(run)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from edgetui.rundir.lock import RunFolderLock\n"
        "lock = RunFolderLock(Path(sys.argv[1]), what='runner'); lock.acquire(); print('held', flush=True)\n"
        "time.sleep(1.0)\n"
        "with open(Path(sys.argv[1]) / 'events.jsonl', 'a') as f: f.write('{\"ev\":\"late\"}\\n')\n"
    ), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        buf = io.BytesIO()
        assert Streamer(run, {}, buf, interval_s=0.05).run() == 0
    finally:
        holder.wait(timeout=30)
    frames = _frames(buf.getvalue())
    assert frames[-1][0] == {"end": "finished"}
    events = b"".join(p for h, p in frames if h.get("f") == "events.jsonl")
    assert events.endswith(b'{"ev":"late"}\n'), events
    assert '"what": "fleet collection"' in (run / "runner.lock").read_text()  # the last to hold it


def test_streamer_gives_up_on_a_run_that_never_appears(tmp_path):
    buf = io.BytesIO()
    Streamer(tmp_path / "nothing", {}, buf, interval_s=0.01, wait_start_s=0.05).run()
    assert _frames(buf.getvalue())[-1][0] == {"end": "missing"}


def test_ssh_command_line_is_ansibles_connection_with_host_keys_checked():
    from edgetui.fleet.mirror import RemoteFollower

    host = FleetHost("pi5", {"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "pi",
                             "ansible_ssh_private_key_file": "~/.ssh/pi", "ansible_ssh_common_args": "-o ProxyJump=gw",
                             "edgetui_env": {"A": "1 2", "HF_TOKEN": "hf_secret"}})
    argv = ssh_argv(host, ["/opt/e/bin/python", "-m", "edgetui.fleet.stream", "/runs/x y"])
    assert argv[0] == "ssh" and "BatchMode=yes" in argv
    # forced, after the inventory's own options (ssh takes the first value given: those win)
    assert argv.index("ProxyJump=gw") < argv.index("StrictHostKeyChecking=yes")
    assert not any("UserKnownHostsFile=/dev/null" in a for a in argv)
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "pi"
    assert argv[argv.index("-i") + 1] == os.path.expanduser("~/.ssh/pi")
    assert "ProxyJump=gw" in argv
    assert argv[-3:-1] == ["--", "10.0.0.5"]
    assert argv[-1] == "/opt/e/bin/python -m edgetui.fleet.stream '/runs/x y'"
    # a bare inventory name is an ssh alias: ~/.ssh/config decides, as it does for Ansible
    bare = ssh_argv(FleetHost("jetson"), ["true"])
    assert bare[-2:] == ["jetson", "true"] and "-p" not in bare and "-l" not in bare
    # the inventory may say otherwise, and then its word stands
    said = ssh_argv(FleetHost("x", {"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"}), ["true"])
    assert said.index("StrictHostKeyChecking=no") < said.index("StrictHostKeyChecking=yes")
    off = ssh_argv(FleetHost("x", {"ansible_host_key_checking": False}), ["true"])
    assert "StrictHostKeyChecking=no" in off and "StrictHostKeyChecking=yes" not in off
    # the environment (API keys) goes on stdin, never on a command line `ps` shows
    follower = RemoteFollower(host, "/opt/e/bin/python", "/runs/r", Path("/nonexistent"),
                              on_state=lambda *a: None, on_status=lambda *a: None)
    assert not any("hf_secret" in a for a in follower.argv())
    env_line, offsets_line = follower.stdin_bytes().splitlines()
    assert json.loads(env_line) == {"A": "1 2", "HF_TOKEN": "hf_secret"} and json.loads(offsets_line) == {}


def test_ansibles_ssh_gets_keepalives_and_host_key_checks_after_the_inventorys_own_options():
    from edgetui.fleet.deploy import ssh_extra_args

    args = ssh_extra_args(FleetHost("pi5", {"ansible_ssh_extra_args": "-o StrictHostKeyChecking=no"}))
    assert args.index("StrictHostKeyChecking=no") < args.index("StrictHostKeyChecking=yes")  # the first given wins
    assert "ServerAliveInterval=10" in args and "ServerAliveCountMax=3" in args
    assert ssh_extra_args(FleetHost("bare")).startswith("-o StrictHostKeyChecking=yes")


def test_the_remote_bootstrap_sets_the_environment_from_stdin_and_leaves_the_rest_for_the_command(tmp_path):
    import subprocess
    import sys

    from edgetui.fleet.ssh import remote_command, stdin_preamble

    argv = remote_command(sys.executable, ["-c", "import os, sys; print(os.environ['HF_TOKEN'], sys.stdin.read())"])
    out = subprocess.run(argv, input=stdin_preamble({"HF_TOKEN": "a b'c"}) + b"the offsets\n", capture_output=True,
                         timeout=60)
    assert out.stdout.decode() == "a b'c the offsets\n\n", out.stderr


def test_offsets_of_thousands_of_log_files_go_on_stdin(tmp_path):
    """A run with more log files than one command-line argument can list (Linux: 128 KiB each)."""
    import subprocess
    import sys

    from edgetui.fleet.mirror import RemoteFollower

    run, local = tmp_path / "board-run", tmp_path / "mirror"
    _fake_run(run)
    mirror = Mirror(local)
    for i in range(5000):
        (local / "logs").mkdir(parents=True, exist_ok=True)
        (local / "logs" / f"{i:012x}{'0' * 20}.log").write_text("x")
    follower = RemoteFollower(FleetHost("b"), sys.executable, str(run), local, on_state=lambda *a: None,
                              on_status=lambda *a: None)
    assert len(follower.stdin_bytes()) > 128 << 10  # would not pass as one argument
    remote = follower.argv()[follower.argv().index("--") + 2]  # what ssh would run there
    import shlex

    proc = subprocess.run(shlex.split(remote) + ["--wait-start", "1"], input=follower.stdin_bytes(),
                          capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    frames = _frames(proc.stdout)
    assert frames[-1][0] == {"end": "finished"}, proc.stderr
    sent = {h["f"] for h, _ in frames if "f" in h and "o" in h and not h.get("whole")}
    assert "logs/abc.log" in sent and not any(n.startswith("logs/0") for n in sent)  # held already: not sent
    _apply(mirror, frames)
    assert (local / "events.jsonl").read_bytes() == (run / "events.jsonl").read_bytes()


def test_hosts_of_walks_groups_in_order():
    listing = {"_meta": {"hostvars": {"c": {}}}, "all": {"children": ["ungrouped", "pis"]},
               "ungrouped": {"hosts": ["a"]}, "pis": {"hosts": ["b", "a"], "children": ["x"]}, "x": {"hosts": ["d"]}}
    assert hosts_of(listing) == ["a", "b", "d", "c"]


@needs_ansible
def test_inventory_is_read_by_ansible(tmp_path):
    from edgetui.fleet.inventory import load_inventory

    inv = tmp_path / "hosts.ini"
    inv.write_text("[pis]\npi5a ansible_host=10.0.0.5 edgetui_dir=/opt/edgetui edgetui_board='Pi 5 (fan)'\n"
                   "pi5b\n[pis:vars]\nansible_user=pi\nedgetui_python=/opt/venv/bin/python\n"
                   "[jetsons]\norin edgetui_pip_args='--extra-index-url https://example.invalid/simple'\n")
    hosts = {h.name: h for h in load_inventory(inv)}
    assert list(hosts) == ["pi5a", "pi5b", "orin"]
    assert hosts["pi5a"].dir == "/opt/edgetui" and hosts["pi5a"].board == "Pi 5 (fan)"
    assert hosts["pi5b"].python == "/opt/venv/bin/python" and hosts["pi5b"].vars["ansible_user"] == "pi"
    assert hosts["pi5b"].dir == "~/edgetui" and hosts["orin"].python is None
    assert hosts["orin"].pip_args == ["--extra-index-url", "https://example.invalid/simple"]
    yml = tmp_path / "hosts.yml"
    yml.write_text("all:\n  hosts:\n    rock5b:\n      edgetui_env: {EDGETUI_CACHE_DIR: /data/models}\n")
    assert load_inventory(yml)[0].env == {"EDGETUI_CACHE_DIR": "/data/models"}


@needs_ansible
@pytest.mark.parametrize("text, expect", [
    ("[pis]\npi5 edgetui_pyhton=/x\n", 'unknown variable edgetui_pyhton (did you mean "edgetui_python"?)'),
    ("[pis]\npi5 ansible_connection=local\n", "SSH only"),
    ("[pis]\n", "no hosts in this inventory"),
    ("[pis]\nresults.csv\n", "the name is one of the fleet folder's own files"),
    ("[pis]\nHOSTS.json\n", "the name is one of the fleet folder's own files"),
    ("[pis]\npi5 edgetui_pip_args=\"{{ lookup('pipe', 'id') }}\"\n", "edgetui_pip_args is a template"),
    ("[pis]\npi5 edgetui_env='{\"K\": \"{% if 1 %}x{% endif %}\"}'\n", "edgetui_env is a template"),
    ("[pis]\npi5 edgetui_env='{\"A B\": \"1\"}'\n", "'A B' is not an environment variable name"),
    ("[pis]\npi5 ansible_ssh_common_args=\"-o X={{ x }}\"\n", "ansible_ssh_common_args is a template"),
])
def test_bad_inventory_is_refused_naming_the_host(tmp_path, text, expect):
    from edgetui.fleet.inventory import load_inventory

    inv = tmp_path / "hosts.ini"
    inv.write_text(text)
    with pytest.raises(UserError) as err:
        load_inventory(inv)
    assert expect in str(err.value) and str(inv) in str(err.value)


def test_merge_marks_every_row_with_its_host_and_ranks_them_apart(tmp_path):
    from edgetui.fleet.merge import merge
    from edgetui.ranking.cli import format_ranking
    from edgetui.ranking.rank import rank
    from edgetui.ranking.sources import load_results
    from edgetui.rundir.store import RunStore

    for host, tps in (("pi5-a", 20.0), ("pi5-b", 22.0)):  # two identical boards: same board, same config
        RunStore(tmp_path / host).write_results([make_row("c1", board="Raspberry Pi 5 8 GB",
                                                         decode_tps_mean=tps)])
    rows = merge(tmp_path, ["pi5-a", "pi5-b", "never-started"])
    assert [r["fleet_host"] for r in rows] == ["pi5-a", "pi5-b"]
    ranking = rank(load_results([tmp_path]), {"decode_tps": 1})
    assert ranking.table["fleet_host"].to_list() == ["pi5-b", "pi5-a"]
    text = format_ranking(ranking)
    assert "fleet_host" in text.splitlines()[2]  # the header, after the answer line
    assert "pi5-b" in text.splitlines()[4] and "pi5-a" in text.splitlines()[5]
    # the merged CSV carries the column too
    assert "fleet_host" in (tmp_path / "results.csv").read_text().splitlines()[0]


@needs_ansible
def test_fleet_run_refuses_bad_input_before_anything_runs(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("[pis]\npi5 ansible_host=127.0.0.1 ansible_port=9\n")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nrepetitons = 3\n')
    smoke = str(REPO / "profiles" / "smoke.toml")
    templated = tmp_path / "{{ lookup('pipe', 'id') }}.toml"
    templated.write_text((REPO / "profiles" / "smoke.toml").read_text())
    cases = [
        (["fleet", "run", str(inv), str(templated), "--headless"], "may not hold {{, {% or {#"),
        (["fleet", "run", str(tmp_path / "none.ini"), smoke, "--headless"], "no such inventory"),
        (["fleet", "run", str(inv), str(bad), "--headless"], "repetitons"),
        (["fleet", "run", str(inv), smoke, "--headless", "--wheel", str(tmp_path)], "no edgetui 0.1.0 wheel"),
        (["fleet", "status", str(tmp_path)], "not a fleet run folder"),
        (["fleet", "resume", str(tmp_path)], "not a fleet run folder"),
    ]
    for args, expect in cases:
        proc = run_cli(*args, "--out", str(tmp_path / "out")) if args[1] == "run" else run_cli(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert expect in proc.stderr, (args, proc.stderr)
    assert not (tmp_path / "out" / "fleet.json").exists()


def test_names_from_profiles_become_slugs_and_every_string_for_ansible_is_unsafe(tmp_path, monkeypatch):
    import yaml

    from edgetui.fleet.controller import RUN_NAME, default_fleet_dir, slug
    from edgetui.fleet.deploy import untrusted_yaml

    monkeypatch.setenv("EDGETUI_RUNS_DIR", str(tmp_path))
    name = default_fleet_dir(["{{ lookup('pipe', 'id > pwned.txt') }}", "smoke/x"]).name
    assert RUN_NAME.match(name) and "{" not in name and "'" not in name, name
    assert slug("Pi 5 (fan) ünï") == "Pi_5_fan_n" and slug("{{}}") == "run"
    text = untrusted_yaml({"edgetui_fleet": {"pi5": {"env": {"K": "{{ x }}"}, "profiles": ["{% x %}.toml"],
                                                     "install": True, "n": 3}}})

    class Tags(yaml.SafeLoader):
        pass

    tagged: list[str] = []
    Tags.add_constructor("!unsafe", lambda loader, node: tagged.append(node.value) or node.value)
    assert yaml.load(text, Tags) == {"edgetui_fleet": {"pi5": {"env": {"K": "{{ x }}"}, "profiles": ["{% x %}.toml"],
                                                                 "install": True, "n": 3}}}
    assert {"{{ x }}", "{% x %}.toml", "K", "env", "pi5", "edgetui_fleet"} <= set(tagged)  # every string, keys too


def test_readme_lists_every_host_variable():
    from edgetui.fleet.inventory import HOST_VARS

    readme = (REPO / "README.md").read_text()
    for key, doc in HOST_VARS.items():
        assert f"| `{key}` | {doc} |" in readme, f"README lacks host variable {key}"


def test_fleet_run_without_headless_opens_the_console_on_the_fleet(monkeypatch, tmp_path):
    import edgetui.tui.app as app_module
    from edgetui.cli import main

    seen = {}
    monkeypatch.setattr(app_module, "run_console", lambda **kw: seen.update(kw) or 0)
    smoke = str(REPO / "profiles" / "smoke.toml")
    assert main(["fleet", "run", "hosts.ini", smoke, "--out", str(tmp_path / "f")]) == 0
    assert seen["fleet"] == "hosts.ini" and seen["run_profiles"] == [smoke] and seen["fleet_out"] == str(tmp_path / "f")
    seen.clear()
    assert main(["--fleet", "hosts.ini"]) == 0  # the console with a fleet pane, nothing started
    assert seen["fleet"] == "hosts.ini" and not seen["run_profiles"]


def test_a_hosts_board_name_goes_into_its_copy_of_the_profiles(tmp_path):
    from edgetui.fleet.controller import _stage_profiles
    from edgetui.profiles.schema import load_profile

    smoke = REPO / "profiles" / "smoke.toml"
    hosts = [FleetHost("pi5-fan", {"edgetui_board": "Raspberry Pi 5 8GB (fan)"}), FleetHost("orin")]
    _stage_profiles(tmp_path, hosts, [smoke], None)
    renamed = load_profile(tmp_path / "pi5-fan" / "smoke.toml")
    assert renamed.board.name == "Raspberry Pi 5 8GB (fan)"
    assert renamed.name == "smoke" and renamed.repetitions == load_profile(smoke).repetitions
    assert (tmp_path / "orin" / "smoke.toml").read_bytes() == smoke.read_bytes()  # untouched elsewhere


def test_a_request_lost_to_a_dropped_link_is_sent_again_until_confirmed(tmp_path, monkeypatch):
    from edgetui.fleet import controller as ctl

    monkeypatch.setattr(ctl, "CONTROL_RETRY_S", 0.01)
    lines: list[str] = []
    fleet = ctl.FleetController(tmp_path, [FleetHost("pi5")], {}, on_line=lines.append)
    answers = iter([(False, "Connection closed by 127.0.0.1 port 2222"), (True, "")])
    tries: list[str] = []

    def once(host, request):
        tries.append(request)
        return next(answers)

    monkeypatch.setattr(fleet, "_send_control_once", once)
    fleet._control_generation["pi5"] = 1
    fleet._send_control("pi5", '{"pause": true}\n', 1)
    assert tries == ['{"pause": true}\n'] * 2
    assert lines == ['[pi5] sent to the board: {"pause": true} (attempt 2)']


def test_a_request_never_confirmed_is_reported_and_a_newer_one_replaces_a_stale_retry(tmp_path, monkeypatch):
    from edgetui.fleet import controller as ctl

    monkeypatch.setattr(ctl, "CONTROL_RETRY_S", 0.01)
    lines: list[str] = []
    fleet = ctl.FleetController(tmp_path, [FleetHost("pi5")], {}, on_line=lines.append)
    tries: list[str] = []

    def refused(host, request):
        tries.append(request)
        return False, "Connection refused"

    monkeypatch.setattr(fleet, "_send_control_once", refused)
    fleet._control_generation["pi5"] = 1
    fleet._send_control("pi5", '{"pause": true}', 1)
    assert len(tries) == ctl.CONTROL_ATTEMPTS
    assert lines == ['[pi5] could not send {"pause": true}: Connection refused']

    tries.clear(), lines.clear()
    fleet._control_generation["pi5"] = 3  # the console asked again since: this request is stale
    fleet._send_control("pi5", '{"pause": true}', 2)
    assert tries == [] and lines == []


def test_a_failed_tasks_message_says_what_the_boards_interpreter_printed():
    """Ansible's own words for a module that never ran ("MODULE FAILURE", "non-zero return code")
    say nothing: the interpreter's output does (a pyenv shim without the Python it names)."""
    from edgetui.fleet.deploy import TaskResult

    shim = "pyenv: python3.13: command not found\n\nThe `python3.13' command exists in these Python versions:\n  3.13.0\n"
    module = TaskResult("pi5", "create venv", "failed", {
        "msg": "MODULE FAILURE\nSee stdout/stderr for the exact error", "module_stdout": "", "module_stderr": shim,
        "rc": 127})
    assert module.message.startswith("the module did not run there: pyenv: python3.13: command not found"), module.message
    assert module.message.endswith("(exit code 127)")
    script = TaskResult("pi5", "probe", "failed", {"msg": "non-zero return code", "stdout": shim, "rc": 127,
                                                   "stderr": "Shared connection to 127.0.0.1 closed.\r\n"})
    assert script.message.startswith("pyenv: python3.13: command not found"), script.message
    own = TaskResult("pi5", "install", "failed", {"msg": "non-zero return code", "stderr": "ERROR: no wheel found"})
    assert own.message == "ERROR: no wheel found"
    assert TaskResult("pi5", "probe", "failed", {"rc": 3}).message == "probe failed (exit code 3)"
