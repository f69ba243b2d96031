"""Driving the shipped playbooks (playbooks/check.yml, playbooks/deploy.yml) through
ansible-runner's Python API: hosts in parallel (the `free` strategy, one fork per host), each task's
outcome handed to a callback as it happens, so one host's failure is that host's and the others
go on. ansible-runner's working folder is a temporary one, removed afterwards: nothing of Ansible's
(command lines, variables, events) is left in a run folder.

Ansible renders the text of its variables as Jinja templates, and a template can run commands on
the controller (`{{ lookup('pipe', ...) }}`). Nothing edgetui hands to a playbook is a template:
every string of the extra variables (profile and run names, paths, a host's edgetui_env and pip
arguments) is written tagged `!unsafe` into a file of ansible-runner's private folder (mode 0600,
not on ansible-playbook's command line, where `ps` would show it), so Ansible uses it as text. What
a board answers (the probe's JSON) is refused by the playbook when it holds a template mark
(ansible-core 2.19 and later never render a module's output anyway; older ones would)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui.fleet.inventory import FleetHost, require_ansible

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
PROBE_SCRIPT = Path(__file__).resolve().parent / "probe.py"
MAX_FORKS = 50
LAUNCH_PID = re.compile(r"running in the background, pid (\d+)")
# Ansible's ssh, per host, after the inventory's own options (ssh takes the first value given, so
# an inventory that says otherwise wins): unknown or changed host keys fail whatever
# ~/.ssh/config says, and a board that vanishes mid-task is noticed within about 30 s.
SSH_EXTRA_ARGS = "-o StrictHostKeyChecking=yes -o ServerAliveInterval=10 -o ServerAliveCountMax=3"


SSH_NOISE = re.compile(r"^Shared connection to \S+ closed\.$")
# Ansible's messages that say nothing of the failure itself
GENERIC_MESSAGES = ("MODULE FAILURE", "non-zero return code", "See stdout/stderr")


@dataclass
class TaskResult:
    """One task's outcome on one host, as ansible-runner's event told it."""

    host: str
    task: str
    status: str  # ok, failed, unreachable, skipped
    res: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """Why it failed, in a few lines: the command's own error first, then Ansible's; of a long
        text the first line and the last two (ssh and pip put the point last). Ansible's generic
        "MODULE FAILURE" (the module never ran: a broken interpreter on the board) is followed by
        what the module's interpreter itself printed."""
        res = {k: _quiet(v) if isinstance(v, str) else v for k, v in self.res.items()}
        own = res.get("stderr")
        if isinstance(own, str) and own.strip():
            return _gist(own)[:600]
        raw_msg = res.get("msg")
        msg: str = raw_msg if isinstance(raw_msg, str) else ""
        if msg.strip() and not any(g in msg for g in GENERIC_MESSAGES):
            return _gist(msg)[:600]
        # Ansible's words say nothing of their own: what ran there (its interpreter, say) does
        outputs = [t for t in (res.get(k) for k in ("stdout", "module_stderr", "module_stdout"))
                   if isinstance(t, str) and t.strip()]
        rc = f" (exit code {res['rc']})" if isinstance(res.get("rc"), int) else ""
        if not outputs:
            return _gist(msg)[:600] + rc if msg.strip() else f"{self.task} {self.status}{rc}"
        head = "the module did not run there: " if msg.startswith("MODULE FAILURE") else ""
        return (head + " | ".join(_gist(t) for t in dict.fromkeys(outputs)) + rc)[:600]


def _quiet(text: str) -> str:
    """text without ssh's own closing line (which a task's stderr ends with over a shared connection)."""
    return "\n".join(ln for ln in text.splitlines() if not SSH_NOISE.match(ln.strip()))


def _gist(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip().strip("@")]
    if len(lines) > 3:
        lines = [lines[0], "...", *lines[-2:]]
    return " | ".join(lines)


TaskCallback = Callable[[TaskResult], None]


def _env() -> dict[str, str]:
    env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_DEPRECATION_WARNINGS": "0",
           # ansible-runner turns host-key checking off unless told: it stays on (Ansible's own default),
           # unless the user's environment says otherwise
           "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True")}
    if "ANSIBLE_PYTHON_INTERPRETER" not in os.environ:
        env["ANSIBLE_PYTHON_INTERPRETER"] = "auto_silent"  # discovery as Ansible does it, without the warning
    return env


def untrusted_yaml(value: Any) -> str:
    """value as YAML with every string (keys too) tagged `!unsafe`: Ansible never renders it."""
    import yaml  # PyYAML: ansible-core's own dependency, there wherever the fleet runs

    class Unsafe(str):
        pass

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(Unsafe, lambda d, v: d.represent_scalar("!unsafe", str(v), style='"'))

    def tag(v: Any) -> Any:
        if isinstance(v, str):
            return Unsafe(v) if v else v  # (Ansible reads an empty !unsafe as null; "" holds no template)
        if isinstance(v, dict):
            return {tag(str(k)): tag(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [tag(x) for x in v]
        return v

    return yaml.dump(tag(value), Dumper=Dumper, allow_unicode=False, sort_keys=False)


def ssh_extra_args(host: FleetHost) -> str:
    """The host's ansible_ssh_extra_args with SSH_EXTRA_ARGS after them."""
    own = host.vars.get("ansible_ssh_extra_args") or ""
    return f"{own} {SSH_EXTRA_ARGS}".strip()


def run_playbook(name: str, inventory: str | Path, hosts: list[str], extravars: dict[str, Any],
                 on_task: TaskCallback, *, staging: Callable[[Path], None] | None = None,
                 deadline_s: float | None = None) -> dict[str, str]:
    """Run playbooks/NAME.yml on `hosts` of the inventory; on_task hears every task's outcome per
    host. staging(folder) may fill a temporary folder the playbook copies from (its path is in
    extravars["edgetui_staging"]). Past deadline_s the play is stopped, and a host that had not
    failed by then is "timeout" (what it did finish, its callbacks told).
    Returns host -> "ok", "failed", "unreachable" or "timeout"."""
    ansible_runner = require_ansible()
    outcome = {h: "ok" for h in hosts}

    def handler(event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        status = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
                  "runner_on_skipped": "skipped"}.get(kind)
        host = data.get("host")
        if status and host in outcome:
            if status == "failed" and data.get("ignore_errors"):
                status = "ok"
            if status in ("failed", "unreachable"):
                outcome[host] = status
            on_task(TaskResult(host, str(data.get("task", "")), status, dict(data.get("res") or {})))
        return False  # nothing kept on disk

    with tempfile.TemporaryDirectory(prefix="edgetui-fleet-ansible-") as private:
        staged = Path(private) / "staging"
        staged.mkdir()
        if staging is not None:
            staging(staged)
        extravars = {**extravars, "edgetui_staging": str(staged), "edgetui_probe_script": str(PROBE_SCRIPT)}
        env_dir = Path(private) / "env"
        env_dir.mkdir(mode=0o700)
        fd = os.open(env_dir / "extravars", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(untrusted_yaml(extravars))
        result = ansible_runner.run(
            private_data_dir=private, playbook=str(PLAYBOOKS / f"{name}.yml"), inventory=str(Path(inventory).resolve()),
            limit=",".join(hosts), event_handler=handler, quiet=True,
            forks=max(1, min(MAX_FORKS, len(hosts))), envvars=_env(), timeout=int(deadline_s) if deadline_s else None,
        )
        if getattr(result, "status", None) == "timeout":
            for h in hosts:
                if outcome[h] == "ok":
                    outcome[h] = "timeout"
    return outcome


def probe_request(host: FleetHost, *, sensors: bool = False) -> dict[str, Any]:
    """What probe.py is asked for this host."""
    return {"python": host.python, "dir": host.dir, "env": host.env, "sensors": sensors}


def parse_json_stdout(res: dict[str, Any]) -> dict[str, Any] | None:
    import json

    text = res.get("stdout") or ""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            return value if isinstance(value, dict) else None
    return None
