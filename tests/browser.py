"""A headless Chromium driven through the DevTools protocol (over aiohttp's websocket client),
just enough to open the served console, read what it drew, press keys and take a screenshot;
and `edgetui serve` started as a user starts it, for the page to open (ServedConsole).

What the console drew is read from the page itself: a script installed before the page's own
wraps WebSocket and keeps the text of every message the console sent (the terminal's output, as
xterm.js receives it). Keys go through Input.dispatchKeyEvent to the focused terminal, as typed."""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")

# Every text message, and every binary one decoded as UTF-8 (one streaming decoder per socket),
# appended to window.__edgetuiOutput (the last 2 MB).
CAPTURE_OUTPUT = r"""
(() => {
  const Native = window.WebSocket;
  window.__edgetuiOutput = "";
  const keep = (s) => {
    window.__edgetuiOutput = (window.__edgetuiOutput + s).slice(-2000000);
  };
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    const decoder = new TextDecoder("utf-8");
    ws.addEventListener("message", (ev) => {
      if (typeof ev.data === "string") keep(ev.data);
      else if (ev.data instanceof ArrayBuffer) keep(decoder.decode(ev.data, {stream: true}));
      else if (ev.data instanceof Blob) ev.data.arrayBuffer().then((b) => keep(decoder.decode(b, {stream: true})));
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""

ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def plain(output: str) -> str:
    """The terminal output without its escape sequences (the text Textual drew, in draw order)."""
    return ANSI.sub("", output)


class Browser:
    """`async with Browser(exe) as b:` a headless Chromium with one page."""

    def __init__(self, exe: str, *, width: int = 1280, height: int = 800) -> None:
        self.exe = exe
        self.width, self.height = width, height
        self.proc: subprocess.Popen[str] | None = None
        self.profile = tempfile.TemporaryDirectory(prefix="edgetui-chromium-")
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        self.proc = subprocess.Popen(
            [self.exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             f"--user-data-dir={self.profile.name}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        port = await self._devtools_port()
        self.session = aiohttp.ClientSession()
        page_url = None
        deadline = time.monotonic() + 30
        while page_url is None:
            async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json(content_type=None)
            page_url = next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
            if page_url is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("chromium opened no page")
                await asyncio.sleep(0.2)
        self.ws = await self.session.ws_connect(page_url, max_msg_size=64 << 20)
        self._reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE_OUTPUT)
        return self

    async def _devtools_port(self) -> int:
        """Chromium writes the port it chose into DevToolsActivePort in its profile folder."""
        marker = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while True:
            if marker.exists():
                first = marker.read_text().splitlines()[:1]
                if first and first[0].strip().isdigit():
                    return int(first[0])
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode} before listening")
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port in 30 s")
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.profile.cleanup()

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            data = json.loads(msg.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        self._id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._id] = future
        await self.ws.send_str(json.dumps({"id": self._id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def output(self) -> str:
        """The text the console has sent to the page so far, escape sequences removed."""
        return plain(await self.evaluate("window.__edgetuiOutput || ''"))

    async def wait_for_output(self, text: str, timeout: float = 60, since: int = 0) -> str:
        """Wait until `text` is in the console's output after position `since`; the output."""
        deadline = time.monotonic() + timeout
        while True:
            out = await self.output()
            if text in out[since:]:
                return out
            if time.monotonic() > deadline:
                tail = out[-1500:]
                raise AssertionError(f"{text!r} not drawn within {timeout:g} s; the last output was:\n{tail}")
            await asyncio.sleep(0.25)

    async def body_classes(self) -> list[str]:
        return list(await self.evaluate("Array.from(document.body ? document.body.classList : [])"))

    async def press(self, key: str, *, code: str, key_code: int, text: str | None = None,
                    shift: bool = False) -> None:
        """A key typed into the focused terminal (keyDown with its text, then keyUp)."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea')?.focus(), true")
        modifiers = 8 if shift else 0
        down: dict[str, Any] = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": key_code,
                                "modifiers": modifiers}
        if text is not None:
            down["text"] = text
            down["unmodifiedText"] = text
        await self.send("Input.dispatchKeyEvent", **down)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code,
                        windowsVirtualKeyCode=key_code, modifiers=modifiers)

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


URL_LINE = re.compile(r"the console is at (http://\S+)")


class ServedConsole:
    """`edgetui serve` in a child process (this Python's edgetui, run from the repository): the URL
    it printed (token and all: what a user pastes into the browser), its output, its pid."""

    def __init__(self, port: int, profiles: Path, *extra: str) -> None:
        self.port = port
        self.proc = subprocess.Popen([sys.executable, "-m", "edgetui", "--profiles", str(profiles), "serve",
                                      "--port", str(port), *extra], cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._printed_url()
        self._wait_listening()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _printed_url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            m = URL_LINE.search(line)
            if m:
                return m.group(1)
        self.stop()
        raise AssertionError(f"edgetui serve printed no URL: {''.join(self.seen)}")

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"edgetui serve did not listen: {''.join(self.seen)}") from None
                time.sleep(0.2)

    @property
    def token(self) -> str:
        return self.url.rsplit("token=", 1)[1]

    def consoles(self) -> list[str]:
        """The console processes it has started (textual-serve runs each through a shell)."""
        import psutil

        return [" ".join(c.cmdline()) for c in psutil.Process(self.proc.pid).children(recursive=True)]

    def __enter__(self) -> ServedConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.proc.terminate()  # textual-serve stops on SIGTERM, and its console processes with it
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
