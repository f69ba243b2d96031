"""The fleet's hosts, read from an Ansible inventory by Ansible itself (`ansible-inventory --list`
through ansible-runner), so INI, YAML, group variables and host_vars/ folders mean what they mean
to Ansible. A host's name is the inventory's; how to reach it is Ansible's connection variables
(ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file, ansible_ssh_common_args,
...) or, for a bare name, the user's ~/.ssh/config, as for Ansible.

edgetui's own per-host variables (HOST_VARS) say where edgetui lives on the board."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui.errors import UserError

DEFAULT_DIR = "~/edgetui"

# Every variable edgetui reads from a host, with what it means (README's table is checked against it).
HOST_VARS = {
    "edgetui_dir": f"folder for edgetui on the board: its venv, the profiles sent and the runs (default {DEFAULT_DIR})",
    "edgetui_python": "an edgetui Python already on the board; when it has this edgetui version nothing is "
                      "installed (default: EDGETUI_DIR/venv/bin/python, created when missing)",
    "edgetui_board": "board name for this host's results (instead of the profile's or the detected one)",
    "edgetui_env": "environment variables for edgetui there, e.g. {EDGETUI_CACHE_DIR: /data/models}",
    "edgetui_pip_args": "extra pip arguments for the install there, e.g. --extra-index-url for piwheels, "
                        "or --no-index for a board without the internet",
}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$")  # a host's folder name in the fleet run
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TEMPLATE_MARKS = ("{{", "{%", "{#")
# Ansible's connection variables the follower's own ssh reads as they are (fleet/ssh.py): a
# template in one would mean one thing to Ansible and another to ssh, so it is refused
RAW_CONNECTION_VARS = ("ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user",
                       "ansible_ssh_user", "ansible_ssh_private_key_file", "ansible_private_key_file",
                       "ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_executable")



def ansible_bin_path() -> str:
    """PATH with this interpreter's scripts folder first: ansible-runner starts `ansible-playbook`
    and `ansible-inventory` by name, and they sit beside the Python that has them installed."""
    here = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return path if path.split(os.pathsep)[:1] == [here] else here + os.pathsep + path


def require_ansible() -> Any:
    """ansible_runner, with the `ansible-*` commands findable, or a clear UserError."""
    try:
        import ansible_runner
    except ImportError:
        raise UserError("the fleet needs ansible-runner and ansible-core: pip install 'edgetui[fleet]'") from None
    os.environ["PATH"] = ansible_bin_path()
    import shutil

    if shutil.which("ansible-playbook") is None:
        raise UserError("the fleet needs ansible-core (ansible-playbook not found): pip install 'edgetui[fleet]'")
    return ansible_runner


@dataclass
class FleetHost:
    """One inventory host, with the variables Ansible resolved for it."""

    name: str
    vars: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> str:
        return str(self.vars.get("edgetui_dir") or DEFAULT_DIR)

    @property
    def python(self) -> str | None:
        return self.vars.get("edgetui_python") or None

    @property
    def board(self) -> str | None:
        return self.vars.get("edgetui_board") or None

    @property
    def env(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.vars.get("edgetui_env") or {}).items()}

    @property
    def pip_args(self) -> list[str]:
        import shlex

        value = self.vars.get("edgetui_pip_args") or []
        return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _template_in(value: Any) -> bool:
    if isinstance(value, str):
        return any(mark in value for mark in TEMPLATE_MARKS)
    if isinstance(value, dict):
        return any(_template_in(k) or _template_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_template_in(v) for v in value)
    return False


def _check_host(name: str, hostvars: dict[str, Any], where: str) -> FleetHost:
    from edgetui.fleet.layout import RESERVED

    if not _SAFE_NAME.match(name):
        raise UserError(f'host "{name}": the name must be letters, digits and . _ - @ + (it names a folder '
                        f"of the fleet run)", where=where)
    if name.lower() in {r.lower() for r in RESERVED}:
        raise UserError(f'host "{name}": the name is one of the fleet folder\'s own files '
                        f"({', '.join(sorted(RESERVED))}); rename the host", where=where)
    for key in ("edgetui_dir", "edgetui_python", "edgetui_board"):
        value = hostvars.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UserError(f"host {name}: {key} must be a non-empty string, got {value!r}", where=where)
    env = hostvars.get("edgetui_env")
    if env is not None:
        if not isinstance(env, dict) or not all(isinstance(v, (str, int, float, bool)) for v in env.values()):
            raise UserError(f"host {name}: edgetui_env must be a mapping of variable names to values, "
                            f"got {env!r}", where=where)
        bad = [k for k in env if not _ENV_NAME.match(str(k))]
        if bad:
            raise UserError(f"host {name}: edgetui_env: {bad[0]!r} is not an environment variable name", where=where)
    pip_args = hostvars.get("edgetui_pip_args")
    if pip_args is not None and not isinstance(pip_args, (str, list)):
        raise UserError(f"host {name}: edgetui_pip_args must be a string or a list, got {pip_args!r}", where=where)
    connection = hostvars.get("ansible_connection")
    if connection not in (None, "ssh", "smart"):
        raise UserError(f"host {name}: ansible_connection={connection}; a fleet reaches its boards over SSH only",
                        where=where)
    # edgetui's variables are passed to the playbooks as text (deploy.untrusted_yaml), never
    # rendered: a template there would stay a template
    for key in (*HOST_VARS, *RAW_CONNECTION_VARS):
        if _template_in(hostvars.get(key)):
            raise UserError(f"host {name}: {key} is a template ({str(hostvars[key])[:200]}); give the value itself",
                            where=where)
    unknown = [k for k in hostvars if k.startswith("edgetui_") and k not in HOST_VARS]
    if unknown:
        from edgetui.errors import close_match_hint

        raise UserError(f"host {name}: unknown variable {unknown[0]}{close_match_hint(unknown[0], HOST_VARS)}; "
                        f"known: {', '.join(HOST_VARS)}", where=where)
    return FleetHost(name, dict(hostvars))


def hosts_of(listing: dict[str, Any]) -> list[str]:
    """Host names of an `ansible-inventory --list` answer, in inventory order, each once."""
    seen: dict[str, None] = {}

    def walk(group: str, visiting: set[str]) -> None:
        if group in visiting:
            return
        entry = listing.get(group) or {}
        for h in entry.get("hosts", []):
            seen.setdefault(h, None)
        for child in entry.get("children", []):
            walk(child, visiting | {group})

    walk("all", set())
    for h in (listing.get("_meta") or {}).get("hostvars", {}):
        seen.setdefault(h, None)
    return list(seen)


def load_inventory(path: str | Path, *, limit: list[str] | None = None) -> list[FleetHost]:
    """The hosts of an Ansible inventory file or folder, as Ansible reads it; UserError on a
    missing, unparsable or empty inventory, or on bad edgetui_* variables."""
    p = Path(path)
    where = str(path)
    if not p.exists():
        raise UserError("no such inventory file or folder", where=where)
    ansible_runner = require_ansible()
    with tempfile.TemporaryDirectory(prefix="edgetui-inventory-") as private:
        out, err = ansible_runner.get_inventory("list", [str(p.resolve())], response_format="json", quiet=True,
                                                private_data_dir=private)
    problems = [ln.strip() for ln in (err or "").splitlines()
                if "Unable to parse" in ln or "No inventory was parsed" in ln or "ERROR" in ln]
    if problems:
        raise UserError("Ansible could not read this inventory: " + " ".join(problems), where=where)
    if isinstance(out, str):
        try:
            out = json.loads(out)
        except ValueError:
            raise UserError(f"Ansible could not read this inventory: {(err or out).strip()[:400]}",
                            where=where) from None
    if not isinstance(out, dict):
        raise UserError(f"Ansible could not read this inventory: {(err or '').strip()[:400]}", where=where)
    hostvars = (out.get("_meta") or {}).get("hostvars", {})
    names = hosts_of(out)
    if limit:
        missing = [n for n in limit if n not in names]
        if missing:
            from edgetui.errors import close_match_hint

            raise UserError(f"no host {missing[0]} in the inventory{close_match_hint(missing[0], names)}",
                            where=where)
        names = [n for n in names if n in limit]
    if not names:
        raise UserError("no hosts in this inventory", where=where)
    return [_check_host(n, hostvars.get(n) or {}, where) for n in names]
