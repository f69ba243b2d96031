"""Small sysfs helpers for the board backends: reads that say why they failed, and hwmon
chips found by name."""

from __future__ import annotations

import errno
from pathlib import Path

from edgetui.sensors.base import SensorContext, read_text


def read_with_reason(path: Path) -> tuple[str | None, str | None]:
    """(text, None) when readable, else (None, why): "needs root", "missing", or the OS error."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            return f.read(), None
    except PermissionError:
        return None, f"{path.name}: permission denied (needs root)"
    except FileNotFoundError:
        return None, f"{path.name}: missing"
    except OSError as exc:
        if exc.errno == errno.EACCES:
            return None, f"{path.name}: permission denied (needs root)"
        return None, f"{path.name}: {exc.strerror or exc}"


def hwmon_named(ctx: SensorContext, *names: str) -> list[Path]:
    """hwmon chip folders whose `name` is one of names (hwmon numbers change between boots)."""
    base = ctx.p("/sys/class/hwmon")
    if not base.is_dir():
        return []
    return [d for d in sorted(base.glob("hwmon*")) if read_text(d / "name") in names]


def device_tree_strings(ctx: SensorContext, node: str) -> list[str]:
    """A NUL-separated device-tree property (compatible) as a list of strings."""
    try:
        raw = ctx.p(f"/proc/device-tree/{node}").read_bytes()
    except OSError:
        return []
    return [s for s in raw.decode("utf-8", errors="replace").split("\x00") if s.strip()]
