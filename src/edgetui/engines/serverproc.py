"""Find the process of an inference server, so the sampler can follow its memory.

A server engine's model lives in another process than edgetui's inference child:
`ollama serve` (and the runner it spawns per model), llama-server, StackFlow's llm
unit. The profile names it by pid, by process name, or by the port it listens on;
by default it is the process listening on the engine URL's port on this machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psutil

LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", ""}


@dataclass
class ServerProcess:
    """What was found: the server's pid and its children's (Ollama loads models in a child)."""

    pid: int | None
    how: str  # how it was found, or why it was not
    pids: list[int] = field(default_factory=list)
    name: str | None = None

    @property
    def found(self) -> bool:
        return self.pid is not None


def url_host_port(url: str, default_port: int | None = None) -> tuple[str, int | None]:
    """Host and port of an engine URL ("http://host:port", "tcp://host:port" or "host:port")."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    port = parts.port
    if port is None:
        port = {"http": 80, "https": 443}.get(parts.scheme, default_port)
    return parts.hostname or "", port


def is_local(host: str) -> bool:
    if host.lower() in LOOPBACK or host.startswith("127."):
        return True
    try:
        local = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
    except OSError:
        return False
    return host in local


def with_children(proc: psutil.Process) -> list[int]:
    try:
        return [proc.pid] + [c.pid for c in proc.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return [proc.pid]


def _found(proc: psutil.Process, how: str) -> ServerProcess:
    try:
        name = proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        name = None
    return ServerProcess(pid=proc.pid, how=how, pids=with_children(proc), name=name)


def by_pid(pid: int) -> ServerProcess:
    try:
        return _found(psutil.Process(pid), f"pid {pid} from the profile")
    except psutil.NoSuchProcess:
        return ServerProcess(None, f"no process with pid {pid} (server_pid in the profile)")


def by_name(name: str) -> ServerProcess:
    """The process whose name, or whose executable's file name, is `name`; the oldest when several
    match (a server's own children, such as Ollama's model runners, share its name)."""
    matches = []
    for proc in psutil.process_iter(["name", "cmdline", "create_time"]):
        info = proc.info
        argv0 = os.path.basename(info["cmdline"][0]) if info.get("cmdline") else ""
        if info.get("name") == name or argv0 == name:
            matches.append(proc)
    if not matches:
        return ServerProcess(None, f'no process named "{name}" (server_process in the profile)')
    oldest = min(matches, key=lambda p: p.info.get("create_time") or 0.0)
    found = _found(oldest, f'process named "{name}"')
    for extra in matches:  # unrelated processes of the same name (a second server) count too
        if extra.pid not in found.pids:
            found.pids.append(extra.pid)
    return found


def by_port(port: int) -> ServerProcess:
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError) as exc:
        return ServerProcess(None, f"cannot list the sockets of this machine ({exc}); give server_pid")
    listeners = [c for c in conns if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]
    if not listeners:
        return ServerProcess(None, f"no process listens on port {port} on this machine")
    owned = [c for c in listeners if c.pid]
    if not owned:
        return ServerProcess(None, f"port {port} is held by a process edgetui may not inspect "
                                   "(another user's); give server_pid or run as that user")
    try:
        return _found(psutil.Process(owned[0].pid), f"listening on port {port}")
    except psutil.NoSuchProcess:
        return ServerProcess(None, f"the process on port {port} has exited")


def find_server(url: str | None, *, pid: int | None = None, process: str | None = None,
                port: int | None = None, default_port: int | None = None) -> ServerProcess:
    """The inference server's process, as the profile names it; by default the one listening
    on the URL's port, when the URL points at this machine."""
    if pid is not None:
        return by_pid(pid)
    if process:
        return by_name(process)
    if port is not None:
        return by_port(port)
    if not url:
        return ServerProcess(None, "no server URL")
    host, url_port = url_host_port(url, default_port)
    if not is_local(host):
        return ServerProcess(None, f"the server runs on another machine ({host}): its memory is not "
                                   "followed; run edgetui on that machine to measure it")
    if url_port is None:
        return ServerProcess(None, f"no port in {url}")
    return by_port(url_port)


DEFAULT_PORTS = {"ollama": 11434, "stackflow": 10001}


def find_server_for(engine: str, url: str | None, *, pid: int | None = None, process: str | None = None,
                    port: int | None = None) -> ServerProcess:
    """find_server with the engine's usual port for URLs that give none."""
    return find_server(url, pid=pid, process=process, port=port, default_port=DEFAULT_PORTS.get(engine))
