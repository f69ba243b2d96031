"""The `ssh` command line that reaches a host the way Ansible's ssh connection does: the OpenSSH
client, the host's connection variables from the inventory, and otherwise the user's own
~/.ssh/config, keys, agent and known_hosts. Host keys are checked (BatchMode: an unknown or
changed key fails instead of asking); nothing here turns that off."""

from __future__ import annotations

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


def ssh_argv(host: FleetHost, remote: Sequence[str], *, env: Mapping[str, str] | None = None,
             connect_timeout_s: int = 15) -> list[str]:
    """argv that runs `remote` (a command and its arguments, quoted here) on the host, with env
    set for it there."""
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
    target = _first(v, "ansible_host", "ansible_ssh_host") or host.name
    command = [*(["env", *(f"{k}={val}" for k, val in env.items())] if env else []), *remote]
    return [*argv, "--", target, shlex.join(command)]
