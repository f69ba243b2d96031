"""Facts about the machine kept with every result: host, CPU, board model, OS, kernel, governor."""

from __future__ import annotations

import platform
import socket
from functools import lru_cache
from pathlib import Path

from edgetui.sensors.base import read_text


def _cpu_model(root: Path) -> str:
    text = read_text(root / "proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.lower().startswith(key.lower()) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def board_model(root: Path = Path("/")) -> str | None:
    """/proc/device-tree/model on ARM boards, DMI vendor and product on x86."""
    dt = read_text(root / "proc/device-tree/model")
    if dt:
        return dt.rstrip("\x00").strip()
    vendor = read_text(root / "sys/class/dmi/id/sys_vendor")
    product = read_text(root / "sys/class/dmi/id/product_name")
    return " ".join(p for p in (vendor, product) if p) or None


def _os_name(root: Path) -> str:
    for line in (read_text(root / "etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


@lru_cache(maxsize=4)
def host_info(root: str = "/") -> dict[str, str | None]:
    r = Path(root)
    return {
        "host": socket.gethostname(),
        "cpu_model": _cpu_model(r),
        "board_model": board_model(r),
        "os": _os_name(r),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "governor": read_text(r / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "python": platform.python_version(),
    }
