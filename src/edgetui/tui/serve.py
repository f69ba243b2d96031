"""`edgetui serve`: the same console in a web browser, through textual-serve.

Each browser tab that connects starts its own `edgetui` console process (with the options given to
`serve`), exactly as a terminal would; runs started from a tab are the same detached runners, so
closing the tab leaves a run going and the next tab attaches to it.

Whoever drives a tab can start, pause and abort runs, add profiles from any path and write exports,
so the server trusts only the person who started it (textual-serve itself checks nothing):

- a random token made at each start is printed in the URL (as Jupyter does); the page needs it,
  and the page hands it to its websocket in the socket's path (the page's script adds the size as
  a query), so a page elsewhere that cannot read this one cannot open a session;
- a request whose Host header is not a name of the served address is refused (a DNS-rebinding
  name makes the browser treat an attacker's page as this server's own);
- a request with an Origin other than the page's own is refused (another site's page open in the
  same browser);
- at most `max_sessions` consoles at once (each one is a process), and the terminal size a tab
  asks for, at the start and on every resize, is bounded;
- the server listens on the loopback address unless told otherwise, with a warning for any other.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edgetui.errors import UserError

if TYPE_CHECKING:
    from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_SESSIONS = 4
# the largest terminal a tab may ask for: a 4K screen at an 8-pixel font is about 480 x 135 cells
MAX_COLUMNS, MAX_ROWS = 640, 240
DEFAULT_COLUMNS, DEFAULT_ROWS = 80, 24
TOKEN_BYTES = 32  # 256 random bits, URL-safe base64 (43 characters)
MISSING_LIBRARY = ("`edgetui serve` needs textual-serve, which is not installed: "
                   "pip install 'edgetui[web]' (or pip install textual-serve)")
NEEDS_TOKEN = ("edgetui serve: this address needs the token printed when `edgetui serve` started: "
               "open the URL it printed (ending in ?token=...)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def is_wildcard(host: str) -> bool:
    """0.0.0.0, :: or empty: every address of this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def exposure_warning(host: str, port: int) -> str | None:
    """The warning for a non-loopback address (None on loopback)."""
    if is_loopback(host):
        return None
    return (f"serving on {host}:{port}, not on this machine's loopback address: anyone who can reach this "
            "port and has the token printed below can see the console and start, pause or abort runs, "
            "and the token travels unencrypted (plain HTTP). "
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


def check_max_sessions(n: int) -> int:
    if n < 1:
        raise UserError(f"at least one console must be allowed, not {n}", where="--max-sessions")
    return n


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _name(host: str) -> str:
    """A host name or address as compared: lower case, no brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def host_names(host: str) -> frozenset[str]:
    """The names a browser may use for the served address in its Host header: the address given,
    its loopback names when it is loopback, this machine's names when it is every address. An IP
    address can never be rebound, so on every address any IP literal is taken too (host_allowed)."""
    names = {_name(host)}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    if is_wildcard(host):
        short = socket.gethostname()
        names |= {"localhost", _name(short), _name(short) + ".local", _name(socket.getfqdn())}
    return frozenset(n for n in names if n)


def split_host_header(value: str) -> tuple[str, str] | None:
    """'name:port' or '[v6]:port' -> (name, port); None when it is not a host and a port number."""
    parts = urlsplit("//" + value)
    try:
        port = parts.port  # ValueError for a port that is not a number
    except ValueError:
        return None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return _name(parts.hostname), str(port) if port is not None else ""


def host_allowed(value: str, names: frozenset[str], *, wildcard: bool) -> bool:
    """Is a Host header one of the served address's names? The port is not compared: an SSH
    tunnel may bring the page to another local port; the name is what DNS rebinding changes."""
    split = split_host_header(value)
    if split is None:
        return False
    name, _ = split
    if name in names:
        return True
    if wildcard:
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False
    return False


def origin_allowed(origin: str | None, host_header: str) -> bool:
    """No Origin (a tool, or the browser's own navigation), or the page's own: http(s)://HOST."""
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or parts.query:
        return False  # "null" (a sandboxed frame, a file: page) and anything odd
    return parts.netloc.lower() == host_header.lower()


def bounded(value: Any, default: int, limit: int) -> int:
    """A terminal dimension a tab asked for: a whole number from 1 to limit (default when not a number)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return default
    if not isinstance(value, int):
        return default
    return max(1, min(limit, value))


def terminal_size(width: Any, height: Any) -> tuple[int, int]:
    return bounded(width, DEFAULT_COLUMNS, MAX_COLUMNS), bounded(height, DEFAULT_ROWS, MAX_ROWS)


def make_server(command: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
                max_sessions: int = DEFAULT_MAX_SESSIONS, say: Callable[[str], None] | None = None) -> Any:
    """A textual-serve Server that checks every request (see the module's docstring)."""
    import aiohttp_jinja2
    from aiohttp import WSMsgType, web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    class GuardedServer(Server):
        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, title="edgetui")
            self.token = token or new_token()
            self.max_sessions = check_max_sessions(max_sessions)
            self.sessions = 0
            self.names = host_names(host)
            self.wildcard = is_wildcard(host)
            self.say = say or (lambda line: print(line, flush=True))

        def url(self, shown_host: str | None = None) -> str:
            name = shown_host or ("127.0.0.1" if self.wildcard else host)
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"
            return f"http://{name}:{port}/?token={self.token}"

        def initialize_logging(self) -> None:
            # textual-serve's handler writes through rich; keep its records, on stderr
            import logging

            logging.basicConfig(level="INFO", format="edgetui serve: %(message)s", stream=sys.stderr)

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self.guard)
            app.router.add_get("/ws/{token}", self.handle_websocket, name="session")
            return app

        async def on_startup(self, app: web.Application) -> None:
            pass  # textual-serve prints its logo and a URL without the token here; announce() says it

        def announce(self) -> None:
            """The URL with its token, once the port is listening (a failed start prints none)."""
            self.say(f"edgetui serve: the console is at {self.url()}")
            if self.wildcard:
                self.say(f"(from another machine: the same address with its name or IP, port {port}, and the token)")
            self.say("the token changes at every start; Ctrl+C stops the server and its consoles")

        def serve(self, debug: bool = False) -> None:
            """textual-serve's serve(), with the URL announced once listening."""
            import asyncio
            import signal

            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.request_exit)
                except NotImplementedError:  # not on this platform's event loop: Ctrl+C still ends run_app
                    pass
            web.run_app(self._make_app(), host=host, port=port, handle_signals=False, loop=loop,
                        print=lambda *_: self.announce())

        @web.middleware
        async def guard(self, request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
            host_header = request.headers.get("Host", "")
            if not host_allowed(host_header, self.names, wildcard=self.wildcard):
                raise web.HTTPForbidden(text=f"edgetui serve: {host_header!r} is not the address served "
                                             f"({host}); open the URL printed at start")
            if not origin_allowed(request.headers.get("Origin"), host_header):
                raise web.HTTPForbidden(text="edgetui serve: a page from another origin may not use the console")
            path = request.path
            if path == "/" and not self.token_matches(request.query.get("token")):
                raise web.HTTPForbidden(text=NEEDS_TOKEN)
            if path == "/ws" or (path.startswith("/ws/") and not self.token_matches(request.match_info.get("token"))):
                raise web.HTTPForbidden(text=NEEDS_TOKEN)
            response = await handler(request)
            if not response.prepared:  # a websocket has sent its headers already
                response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of other sites' logs
                if path == "/":
                    response.headers["Cache-Control"] = "no-store"
            return response

        def token_matches(self, given: str | None) -> bool:
            return given is not None and secrets.compare_digest(given.encode(), self.token.encode())

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict[str, Any]:
            """textual-serve's page, its addresses made from the Host the browser used (checked by
            guard), so that localhost, 127.0.0.1 and a tunnel's port all work, and the socket's
            path carrying the token."""
            base = f"{request.scheme}://{request.host}"
            ws_scheme = "wss" if request.scheme == "https" else "ws"
            return {
                "font_size": bounded(request.query.get("fontsize", "16"), 16, 64),
                "app_websocket_url": f"{ws_scheme}://{request.host}/ws/{self.token}",
                "config": {"static": {"url": f"{base}/static/"}},
                "application": {"name": self.title},
            }

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            if self.sessions >= self.max_sessions:
                raise web.HTTPServiceUnavailable(
                    text=f"edgetui serve: {self.max_sessions} consoles are open already (--max-sessions)")
            width, height = terminal_size(request.query.get("width"), request.query.get("height"))
            request = request.clone(rel_url=request.rel_url.with_query(width=str(width), height=str(height)))
            self.sessions += 1
            try:
                return await super().handle_websocket(request)
            finally:
                self.sessions -= 1

        async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
            """What a tab sends, each message checked (textual-serve's own loop asserts and indexes)."""
            async for message in websocket:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    envelope = json.loads(message.data)
                except ValueError:
                    continue
                if not isinstance(envelope, list) or not envelope:
                    continue
                kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
                if kind == "stdin" and isinstance(data, str):
                    await app_service.send_bytes(data.encode("utf-8", "replace"))
                elif kind == "resize" and isinstance(data, dict):
                    await app_service.set_terminal_size(*terminal_size(data.get("width"), data.get("height")))
                elif kind == "ping":
                    await websocket.send_json(["pong", data])
                elif kind == "blur":
                    await app_service.blur()
                elif kind == "focus":
                    await app_service.focus()

    return GuardedServer()


def serve_console(*, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, profiles_dir: str | None = None,
                  files: list[str] | None = None, sysfs_root: str | None = None,
                  max_sessions: int = DEFAULT_MAX_SESSIONS) -> int:
    """Serve the console until interrupted; 0 when stopped by Ctrl+C or SIGTERM."""
    check_port(port)
    check_max_sessions(max_sessions)
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        raise UserError(MISSING_LIBRARY) from None
    warning = exposure_warning(host, port)
    if warning:
        print(f"edgetui: warning: {warning}", file=sys.stderr, flush=True)
    command = console_command(profiles_dir=profiles_dir, files=list(files or []), sysfs_root=sysfs_root)
    server = make_server(command, host=host, port=port, max_sessions=max_sessions)
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="--host/--port") from None
    return 0
