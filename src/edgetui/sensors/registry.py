"""The board-specific backends, in display order, and what the runner asks of them (power mode,
accelerators found)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgetui.sensors.base import Backend

if TYPE_CHECKING:
    from edgetui.sensors import SensorSet


def board_backend_classes() -> list[type[Backend]]:
    from edgetui.sensors.external import ExternalMeter
    from edgetui.sensors.hailo import Hailo
    from edgetui.sensors.jetson import JetsonSysfs
    from edgetui.sensors.jtop_backend import Jtop
    from edgetui.sensors.nvml import Nvml
    from edgetui.sensors.rk3588 import Rockchip
    from edgetui.sensors.rpi import RaspberryPi

    return [JetsonSysfs, Jtop, RaspberryPi, Hailo, Rockchip, Nvml, ExternalMeter]


def detected_power_mode(sensors: SensorSet) -> str | None:
    """The board's power mode (nvpmodel) as a detected backend reports it, if any does."""
    for backend in sensors.active:
        mode_of = getattr(backend, "power_mode", None)
        if callable(mode_of):
            mode = mode_of()
            if mode:
                return mode
    return None


def detected_accelerators(sensors: SensorSet) -> list[str]:
    """Accelerators found on this machine, e.g. ["HAILO10H"] (for the board catalogue)."""
    return [a for a in (getattr(b, "architecture", None) for b in sensors.active) if a]
