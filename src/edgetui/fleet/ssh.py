"""The `ssh` command line that reaches a host the way Ansible's ssh connection does: the OpenSSH
client, the host's connection variables from the inventory, and otherwise the user's own
~/.ssh/config, keys, agent and known_hosts. Host keys are checked: `StrictHostKeyChecking=yes`
is given last, so a `StrictHostKeyChecking accept-new` (or `no`) in ~/.ssh/config does not apply,
while one the inventory gives itself (ansible_ssh_common_args, or ansible_host_key_checking=false)
comes first and wins, as ssh takes the first value it is given.

Nothing secret goes on a command line (which `ps` shows on both machines): the environment for
edgetui there (edgetui_env, API keys among it) travels on ssh's stdin, as the first line a small
bootstrap reads before it starts the command (`remote_command`, `stdin_preamble`)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence

from edgetui.fleet.inventory import FleetHost

# A dead connection is noticed within about 30 s even when no packet comes back.
KEEPALIVE = ("-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3")


def _first(vars: Mapping[str, object], *keys: str) -> str | None:
    for k in keys:
        v = vars.get(k)
        if v not in (None, ""):
            return str(v)
    return None


# Run by the board's Python: reads one JSON line from stdin (byte by byte, so that what follows
# it stays for the command), sets that environment and becomes `python ARGS...`.
ENV_BOOTSTRAP = (
    "import json, os, sys\n"
    "line = b''\n"
    "while not line.endswith(b'\\n'):\n"
    "    c = os.read(0, 1)\n"
    "    if not c:\n"
    "        break\n"
    "    line += c\n"
    "env = dict(os.environ, **json.loads(line or b'{}'))\n"
    "os.execve(sys.executable, [sys.executable, *sys.argv[1:]], env)\n"
)


def remote_command(python: str, args: Sequence[str]) -> list[str]:
    """`python ARGS` on the board, its environment read from stdin first (stdin_preamble)."""
    return [python, "-c", ENV_BOOTSTRAP, *args]


def stdin_preamble(env: Mapping[str, str] | None) -> bytes:
    """The first line of the remote command's stdin: its environment."""
    return json.dumps(dict(env or {}), separators=(",", ":")).encode() + b"\n"


def _checks_host_keys(vars: Mapping[str, object]) -> bool | None:
    """What the inventory says of host-key checking: True, False, or None when it says nothing."""
    for k in ("ansible_ssh_host_key_checking", "ansible_host_key_checking"):
        v = vars.get(k)
        if v is not None:
            return str(v).strip().lower() not in ("false", "no", "0", "off", "n", "f")
    return None


def ssh_argv(host: FleetHost, remote: Sequence[str], *, connect_timeout_s: int = 15) -> list[str]:
    """argv that runs `remote` (a command and its arguments, quoted here) on the host."""
    v = host.vars
    argv = [_first(v, "ansible_ssh_executable") or "ssh", "-T", "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={connect_timeout_s}", *KEEPALIVE]
    port = _first(v, "ansible_port", "ansible_ssh_port")
    if port:
        argv += ["-p", port]
    user = _first(v, "ansible_user", "ansible_ssh_user")
    if user:
        argv += ["-l", user]
    key = _first(v, "ansible_ssh_private_key_file", "ansible_private_key_file")
    if key:
        import os

        argv += ["-i", os.path.expanduser(key)]
    for args_var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        extra = _first(v, args_var)
        if extra:
            argv += shlex.split(extra)
    checking = _checks_host_keys(v)
    argv += ["-o", f"StrictHostKeyChecking={'no' if checking is False else 'yes'}"]
    target = _first(v, "ansible_host", "ansible_ssh_host") or host.name
    return [*argv, "--", target, shlex.join(remote)]
