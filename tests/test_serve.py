"""`edgetui serve`: loopback by default, a warning for any other address, and the console working
in a real headless Chromium (the queue screen drawn, a key typed in the page reaching the app)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import EDGETUI, REPO, run_cli
from edgetui.tui.serve import console_command, exposure_warning, is_loopback
from fixtures.tui.scenes import HERE

pytest.importorskip("textual_serve", reason="textual-serve not installed (the 'web' extra)")


def test_only_loopback_addresses_go_without_a_warning():
    for host in ("127.0.0.1", "127.8.0.1", "localhost", "::1", "[::1]"):
        assert is_loopback(host) and exposure_warning(host, 8000) is None
    for host in ("0.0.0.0", "192.168.1.20", "::", "board.local"):
        warning = exposure_warning(host, 8000)
        assert warning and "anyone who can reach this port" in warning and "abort runs" in warning


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


def start_server(port: int, profiles: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*EDGETUI, "--profiles", str(profiles), "serve", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"edgetui serve did not answer: {proc.communicate()[0]}")
        time.sleep(0.3)


@pytest.fixture
def served(tmp_path):
    from browser import find_chromium

    exe = find_chromium()
    if exe is None:
        reason = "chromium is not installed (Debian: apt-get install chromium; `make setup` does it where apt exists)"
        print(f"\nSKIPPED the browser test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    port = free_port()
    proc = start_server(port, HERE / "profiles")
    try:
        yield exe, f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()  # textual-serve stops on SIGTERM, and its console process with it
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_the_console_in_a_headless_browser_draws_the_queue_and_takes_keys(served, tmp_path):
    from browser import Browser

    exe, url = served

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

    asyncio.run(session())
