"""`edgetui fleet check INVENTORY`: per host, reachable or why not, the interpreter that ran the
probe (or why it could not), its Python, edgetui there and its version, the free disk in its
edgetui folder, the CPU architecture and whether llama-cpp-python is there or would be compiled
(and whether it can be), and the board and sensors `edgetui sensors --json` detects there.
Asked through Ansible (playbooks/check.yml), so a host that checks well is
one the deploy can reach the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui import __version__
from edgetui.fleet import deploy
from edgetui.fleet.inventory import FleetHost, load_inventory


@dataclass
class HostCheck:
    host: str
    reachable: bool = False
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    interpreter: str = "python3"  # what the probe is run with (check.yml)
    ran: bool = False  # the host answered over SSH, but the probe failed there (its interpreter, say)

    @property
    def edgetui_version(self) -> str | None:
        return self.facts.get("edgetui_version")

    def lines(self) -> list[str]:
        if not self.reachable:
            if self.ran:
                return [f"{self.host}: NOT USABLE: reached over SSH, but the probe did not run with {self.interpreter} "
                        f"(ansible_python_interpreter): {self.error}"]
            return [f"{self.host}: NOT REACHABLE: {self.error}"]
        f = self.facts
        python = f.get("python_version") or f.get("probe_python_version")
        version = self.edgetui_version
        if version:
            same = "this version" if version == __version__ else \
                f"this controller has {__version__}: `fleet run` upgrades it"
            edgetui = f"edgetui {version} ({same}) at {f.get('python')}"
        elif f.get("python_is_default"):
            edgetui = (f"edgetui not installed ({f.get('edgetui_error')}): `fleet run` installs it in "
                       f"{f.get('dir')}/venv")
        else:
            edgetui = f"edgetui not usable at {f.get('python')}: {f.get('edgetui_error')}"
        free = f.get("free_bytes")
        disk = f"{free / 1e9:.1f} GB free in {f.get('dir')}" if isinstance(free, (int, float)) else "free disk unknown"
        out = [f"{self.host}: reachable, Python {python}, {edgetui}, {disk}"]
        sensors = f.get("sensors")
        if isinstance(sensors, dict):
            board = sensors.get("board") or {}
            out.append(f"  board: {board.get('name') or board.get('model') or 'unknown'}"
                       + (f" ({board['model']})" if board.get("model") and board.get("name") else ""))
            found = [b["backend"] for b in sensors.get("backends", []) if b.get("detected")]
            out.append(f"  sensors: {', '.join(found) or 'none'}")
            out.append(f"  power: {sensors.get('power_source')}")
        elif version:
            out.append(f"  sensors: could not be read: {f.get('sensors_error')}")
        out.append(f"  CPU {f.get('machine') or 'unknown'}; the probe ran with {f.get('probe_python') or self.interpreter} "
                   f"(Python {f.get('probe_python_version')})")
        out.append(f"  {self.llama_line()}")
        return out

    def llama_line(self) -> str:
        """Whether `fleet run` would have pip compile llama-cpp-python there, and whether it can."""
        f = self.facts
        if f.get("llama_cpp_version"):
            return f"llama-cpp-python {f['llama_cpp_version']} there: nothing to compile"
        if "compiler" not in f:  # an older probe's answer
            return "llama-cpp-python: unknown"
        if f.get("compiler"):
            return (f"llama-cpp-python not there: pip compiles it on the install ({f['compiler']} found"
                    f"{'' if f.get('cmake') else ', cmake from PyPI'}; tens of minutes on a small board)")
        return ("llama-cpp-python not there, and no C++ compiler to build it: install one, or give `fleet run "
                "--wheel` a folder with a llama-cpp-python wheel built on a board of the same kind "
                f"({f.get('machine') or 'this CPU'}, `pip wheel llama-cpp-python`)")


CHECK_DEADLINE_S = 600.0  # the probe asks `edgetui sensors --json` (60 s at most) and little else


def check_fleet(inventory: str | Path, *, limit: list[str] | None = None,
                on_host: Callable[[HostCheck], None] | None = None,
                deadline_s: float = CHECK_DEADLINE_S) -> list[HostCheck]:
    """Probe every host in parallel; each host's answer is handed to on_host as it comes."""
    hosts: list[FleetHost] = load_inventory(inventory, limit=limit)
    results = {h.name: HostCheck(h.name, interpreter=str(h.vars.get("ansible_python_interpreter") or "python3"))
               for h in hosts}

    def on_task(r: deploy.TaskResult) -> None:
        c = results[r.host]
        if r.status == "ok":
            c.facts = deploy.parse_json_stdout(r.res) or {}
            c.reachable = bool(c.facts)
            if not c.reachable:
                c.error = f"the probe answered nothing readable: {r.message}"
        else:
            c.ran = r.status == "failed"  # reached: the failure is the board's, not the network's
            c.error = r.message
        if on_host is not None:
            on_host(c)

    extravars = {"edgetui_fleet": {h.name: {"probe": deploy.probe_request(h, sensors=True), "env": h.env,
                                            "ssh_extra_args": deploy.ssh_extra_args(h)} for h in hosts}}
    outcome = deploy.run_playbook("check", inventory, [h.name for h in hosts], extravars, on_task,
                                  deadline_s=deadline_s)
    for name, result in outcome.items():
        if result == "timeout" and not results[name].reachable and results[name].error is None:
            results[name].error = f"no answer within {deadline_s:g} s"
    for c in results.values():
        if not c.reachable and c.error is None:
            c.error = "no answer from Ansible"
    return list(results.values())
