"""A stand-in for the console behind textual-serve, speaking textual-serve's own pipe protocol
(the prelude line, then packets of a type byte, a 4-byte big-endian size and the payload), so that
the server's checks can be tested without starting a Textual app per session.

It says what reached it, as text packets on its standard output:
    size COLSxROWS   the terminal size it was started with (COLUMNS, ROWS) or told by a resize
    key TEXT         the keys typed (a data packet on its standard input)
and leaves on the quit that textual-serve sends when the tab goes."""

from __future__ import annotations

import json
import os
import sys


def send(text: str) -> None:
    payload = text.encode()
    sys.stdout.buffer.write(b"D" + len(payload).to_bytes(4, "big") + payload)
    sys.stdout.buffer.flush()


def main() -> int:
    sys.stdout.buffer.write(b"__GANGLION__\n")
    send(f"size {os.environ.get('COLUMNS')}x{os.environ.get('ROWS')}\n")
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(5)
        if len(head) < 5:
            return 0
        payload = stdin.read(int.from_bytes(head[1:], "big"))
        if head[:1] == b"D":
            send(f"key {payload.decode('utf-8', 'replace')}\n")
        elif head[:1] == b"M":
            meta = json.loads(payload)
            if meta.get("type") == "quit":
                return 0
            if meta.get("type") == "resize":
                send(f"size {meta['width']}x{meta['height']}\n")


if __name__ == "__main__":
    raise SystemExit(main())
