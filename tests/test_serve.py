"""`edgetui serve`: loopback by default, a warning for any other address; only the person who
started it gets in (the token printed at start, the served address in Host, the page's own
Origin); sessions and terminal sizes bounded; and the console working in a real headless Chromium
opened at the printed URL (the queue screen drawn, a key typed in the page reaching the app)."""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from edgetui.tui.serve import (
    MAX_COLUMNS,
    MAX_ROWS,
    console_command,
    exposure_warning,
    host_allowed,
    host_names,
    is_loopback,
    origin_allowed,
)

from browser import ServedConsole
from conftest import run_cli
from fixtures.tui.scenes import HERE

pytest.importorskip("textual_serve", reason="textual-serve not installed (the 'web' extra)")


def test_only_loopback_addresses_go_without_a_warning():
    for host in ("127.0.0.1", "127.8.0.1", "localhost", "::1", "[::1]"):
        assert is_loopback(host) and exposure_warning(host, 8000) is None
    for host in ("0.0.0.0", "192.168.1.20", "::", "board.local"):
        warning = exposure_warning(host, 8000)
        assert warning and "anyone who can reach this port" in warning and "abort runs" in warning
        assert "token" in warning


def test_each_tab_runs_this_python_and_this_edgetui_with_the_options_given():
    cmd = console_command(profiles_dir="my profiles", files=[], sysfs_root=None)
    assert cmd.startswith(sys.executable) and "-m edgetui --profiles 'my profiles'" in cmd


def test_the_default_is_loopback_and_another_address_is_warned_about(tmp_path):
    assert "default 127.0.0.1" in run_cli("serve", "--help").stdout
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: warned about, then refused, no traffic sent
    p = run_cli("serve", "--host", "192.0.2.1", "--port", str(free_port()), timeout=60)
    assert p.returncode == 2
    assert "warning: serving on 192.0.2.1" in p.stderr and "anyone who can reach this port" in p.stderr
    assert "cannot listen on 192.0.2.1" in p.stderr


def test_a_bad_port_is_refused():
    p = run_cli("serve", "--port", "70000")
    assert p.returncode == 2 and "70000 is not a port number" in p.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def serving():
    s = ServedConsole(free_port(), HERE / "profiles")
    try:
        yield s
    finally:
        s.stop()


def test_the_printed_url_carries_a_new_token_and_nothing_else_gets_in(serving):
    base = f"http://127.0.0.1:{serving.port}"
    assert serving.url.startswith(f"{base}/?token=") and len(serving.token) >= 40
    assert status_of(serving.url) == 200
    page = urllib.request.urlopen(serving.url, timeout=10).read().decode()
    assert f'data-session-websocket-url="ws://127.0.0.1:{serving.port}/ws/{serving.token}"' in page
    for refused in ("/", "/?token=", f"/?token={serving.token[:-1]}", "/ws", "/ws/wrong",
                    f"/ws?token={serving.token}"):
        assert status_of(base + refused) == 403, refused
    # the page's name for this machine works too (localhost), and through a tunnel's other port
    assert status_of(serving.url, {"Host": f"localhost:{serving.port + 1}"}) == 200
    other = ServedConsole(free_port(), HERE / "profiles")  # a second start: a token of its own
    try:
        assert other.token != serving.token
        assert status_of(f"http://127.0.0.1:{other.port}/?token={serving.token}") == 403
    finally:
        other.stop()


def test_a_host_header_of_another_name_is_refused(serving):
    # DNS rebinding: evil.example made to resolve to 127.0.0.1; the browser then sends its name
    for host in (f"evil.example:{serving.port}", "evil.example", f"127.0.0.1.evil.example:{serving.port}",
                 f"user@127.0.0.1:{serving.port}"):
        assert status_of(serving.url, {"Host": host}) == 403, host
    assert status_of(f"http://127.0.0.1:{serving.port}/static/js/textual.js", {"Host": "evil.example"}) == 403


def test_a_page_of_another_origin_gets_no_console_output_and_its_keys_reach_nothing(serving):
    import aiohttp

    ws_url = f"ws://127.0.0.1:{serving.port}/ws/{serving.token}?width=80&height=24"

    async def attempt(origin: str) -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(ws_url, origin=origin) as ws:
                    await ws.send_json(["stdin", "q"])
                    got = b""
                    try:
                        msg = await ws.receive(timeout=5)
                        got = msg.data if isinstance(msg.data, bytes) else str(msg.data).encode()
                    except asyncio.TimeoutError:
                        pass
                    return 101, got
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status, b""

    for origin in ("http://evil.example", f"http://evil.example:{serving.port}", "null",
                   f"http://localhost:{serving.port}"):  # another origin, even on this machine
        status, got = asyncio.run(attempt(origin))
        assert (status, got) == (403, b""), origin
    time.sleep(1.0)
    assert serving.consoles() == []  # no console was started for any of them: a key has nowhere to go


def test_a_session_past_the_cap_is_refused_and_the_cap_is_a_flag():
    import aiohttp

    assert "default 4" in run_cli("serve", "--help").stdout

    async def sessions() -> None:
        async with guarded(max_sessions=4) as (server, ws_url):
            async with aiohttp.ClientSession() as session:
                opened = [await session.ws_connect(ws_url) for _ in range(4)]
                for ws in opened:
                    assert "size 80x24" in await read_until(ws, "size ")
                assert server.sessions == 4
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(ws_url)
                assert refused.value.status == 503
                await opened.pop().close()  # one tab closes: a new one may open
                deadline = time.monotonic() + 20
                while server.sessions > 3:
                    assert time.monotonic() < deadline, "a closed session was not counted off"
                    await asyncio.sleep(0.1)
                again = await session.ws_connect(ws_url)
                assert "size" in await read_until(again, "size ")
                for ws in [*opened, again]:
                    await ws.close()

    asyncio.run(sessions())
    p = run_cli("serve", "--max-sessions", "0")
    assert p.returncode == 2 and "--max-sessions" in p.stderr and "at least one" in p.stderr


def test_the_terminal_size_a_tab_asks_for_is_bounded():
    import aiohttp

    async def sizes() -> None:
        async with guarded() as (_, ws_url):
            async with aiohttp.ClientSession() as session:
                huge = ws_url.replace("width=80&height=24", "width=1000000000&height=-5")
                async with session.ws_connect(huge) as ws:
                    assert f"size {MAX_COLUMNS}x1" in await read_until(ws, "size ")
                    await ws.send_json(["resize", {"width": 10**12, "height": 10**12}])
                    assert f"size {MAX_COLUMNS}x{MAX_ROWS}" in await read_until(ws, "size ")
                    await ws.send_json(["resize", {"width": "wide", "height": [1]}])
                    assert "size 80x24" in await read_until(ws, "size ")
                    # malformed messages are dropped, not fatal: the keys after them still arrive
                    await ws.send_str("not json")
                    await ws.send_json({"stdin": "x"})
                    await ws.send_json(["stdin", 7])
                    await ws.send_json(["stdin", "k"])
                    assert "key k" in await read_until(ws, "key ")

    asyncio.run(sizes())


def test_the_served_names_and_origins():
    loop = host_names("127.0.0.1")
    assert host_allowed("127.0.0.1:8000", loop, wildcard=False) and host_allowed("localhost", loop, wildcard=False)
    assert host_allowed("[::1]:8000", loop, wildcard=False) and host_allowed("LOCALHOST.:8000", loop, wildcard=False)
    for bad in ("evil.example:8000", "", "127.0.0.1:x", "127.0.0.1/a", "10.0.0.5:8000"):
        assert not host_allowed(bad, loop, wildcard=False), bad
    everywhere = host_names("0.0.0.0")
    assert host_allowed("192.168.1.20:8000", everywhere, wildcard=True)  # an address cannot be rebound
    assert host_allowed(f"{socket.gethostname()}.local:8000", everywhere, wildcard=True)
    assert not host_allowed("evil.example:8000", everywhere, wildcard=True)
    assert origin_allowed(None, "127.0.0.1:8000") and origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000")
    for bad in ("http://evil.example", "null", "http://127.0.0.1:8001", "file://", "http://127.0.0.1:8000/x"):
        assert not origin_allowed(bad, "127.0.0.1:8000"), bad


STANDIN_CONSOLE = shlex.join([sys.executable, str(Path(__file__).parent / "standins" / "web_console.py")])


@asynccontextmanager
async def guarded(max_sessions: int = 4):
    """The server `edgetui serve` makes, in this process, around the stand-in console."""
    from aiohttp.test_utils import TestServer

    from edgetui.tui.serve import make_server

    port = free_port()
    server = make_server(STANDIN_CONSOLE, port=port, max_sessions=max_sessions)
    test_server = TestServer(await server._make_app(), host="127.0.0.1", port=port)
    await test_server.start_server()
    try:
        assert server.url() == f"http://127.0.0.1:{port}/?token={server.token}"
        yield server, f"ws://127.0.0.1:{port}/ws/{server.token}?width=80&height=24"
        deadline = time.monotonic() + 20  # the closed tabs' consoles leave before the loop does
        while server.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await test_server.close()


async def read_until(ws, text: str, timeout: float = 20) -> str:
    """The stand-in's lines until one holding text; that line."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        data = msg.data.decode() if isinstance(msg.data, bytes) else str(msg.data)
        for line in data.splitlines():
            if text in line:
                return line


@pytest.fixture
def served(tmp_path):
    from browser import find_chromium

    exe = find_chromium()
    if exe is None:
        reason = "chromium is not installed (Debian: apt-get install chromium; `make setup` does it where apt exists)"
        print(f"\nSKIPPED the browser test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    s = ServedConsole(free_port(), HERE / "profiles")
    try:
        yield exe, s.url  # the URL as printed, token and all: what a user pastes into the browser
    finally:
        s.stop()


@contextmanager
def another_site():
    """A page served from another origin (another port of this machine), as an attacker's site."""
    import http.server

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b"<!DOCTYPE html><title>elsewhere</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_the_console_in_a_headless_browser_draws_the_queue_and_takes_keys(served, tmp_path):
    from browser import Browser

    exe, url = served  # the URL as printed, token and all

    async def session() -> None:
        async with Browser(exe, width=1280, height=800) as page:
            await page.open(url)
            out = await page.wait_for_output("Profiles", timeout=90)  # the queue screen's panes
            assert "Queue" in out and "Details" in out
            assert "-first-byte" in await page.body_classes()  # the page's terminal got the console's bytes
            shot = await page.screenshot(tmp_path / "browser.png")
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            # "?" typed in the page: the console opens its help, which lists every binding id
            mark = len(out)
            await page.press("?", code="Slash", key_code=191, text="?", shift=True)
            await page.wait_for_output("[queue.run]", timeout=30, since=mark)
            # and "q" on the queue screen (no run in progress) ends the console: the page says so
            await page.press("Escape", code="Escape", key_code=27)
            await asyncio.sleep(0.5)  # an escape followed at once by q would read as alt+q
            await page.press("q", code="KeyQ", key_code=81, text="q")
            deadline = time.monotonic() + 30
            while "-closed" not in await page.body_classes():
                assert time.monotonic() < deadline, "the console did not end on q"
                await asyncio.sleep(0.25)
            # a page of another site open in the same browser, even one that knows the token, is refused
            ws_url = url.replace("http://", "ws://").replace("/?token=", "/ws/") + "?width=80&height=24"
            with another_site() as elsewhere:
                await page.open(elsewhere)
                outcome = await page.evaluate(
                    "new Promise((done) => { const ws = new WebSocket(" + json.dumps(ws_url) + ");"
                    " ws.onopen = () => done('open'); ws.onerror = () => done('refused');"
                    " setTimeout(() => done('no answer'), 15000); })")
            assert outcome == "refused"

    asyncio.run(session())
