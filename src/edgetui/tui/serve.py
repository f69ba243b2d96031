"""`edgetui serve`: the same console in a web browser, through textual-serve.

Each browser tab that connects starts its own `edgetui` console process (with the options given to
`serve`), exactly as a terminal would; runs started from a tab are the same detached runners, so
closing the tab leaves a run going and the next tab attaches to it. The server listens on the
loopback address unless told otherwise: whoever reaches the port can start, pause and abort runs,
and there is no password, so any other address is served only when typed, with a warning."""

from __future__ import annotations

import ipaddress
import shlex
import sys

from edgetui.errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MISSING_LIBRARY = ("`edgetui serve` needs textual-serve, which is not installed: "
                   "pip install 'edgetui[web]' (or pip install textual-serve)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def exposure_warning(host: str, port: int) -> str | None:
    """The warning for a non-loopback address ('' on loopback)."""
    if is_loopback(host):
        return None
    return (f"serving on {host}:{port}, not on this machine's loopback address: anyone who can reach this "
            "port can see the console and start, pause or abort runs (there is no password). "
            "Use --host 127.0.0.1 and an SSH tunnel (ssh -L 8000:127.0.0.1:8000 BOARD) to keep it private.")


def console_command(*, profiles_dir: str | None, files: list[str], sysfs_root: str | None) -> str:
    """The shell command textual-serve runs for each browser tab: this Python, this edgetui."""
    argv = [sys.executable, "-m", "edgetui"]
    if profiles_dir:
        argv += ["--profiles", profiles_dir]
    if sysfs_root:
        argv += ["--sysfs-root", sysfs_root]
    argv += files
    return shlex.join(argv)


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise UserError(f"{port} is not a port number (1 to 65535)", where="--port")
    return port


def serve_console(*, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, profiles_dir: str | None = None,
                  files: list[str] | None = None, sysfs_root: str | None = None) -> int:
    """Serve the console until interrupted; 0 when stopped by Ctrl+C or SIGTERM."""
    check_port(port)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError(MISSING_LIBRARY) from None
    warning = exposure_warning(host, port)
    if warning:
        print(f"edgetui: warning: {warning}", file=sys.stderr, flush=True)
    command = console_command(profiles_dir=profiles_dir, files=list(files or []), sysfs_root=sysfs_root)
    server = Server(command, host=host, port=port, title="edgetui")
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="--host/--port") from None
    return 0
