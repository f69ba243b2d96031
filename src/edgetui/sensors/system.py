"""CPU load and system memory through psutil (works everywhere, needs no root)."""

from __future__ import annotations

import psutil

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext


class SystemLoad(Backend):
    name = "system"

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        psutil.cpu_percent(interval=None)  # the first call returns a meaningless 0.0: prime it

    def probe(self) -> Probe:
        return Probe(True, f"psutil {psutil.__version__}: CPU load and memory")

    def read(self) -> list[Reading]:
        vm = psutil.virtual_memory()
        return [
            self.reading("cpu", "load", psutil.cpu_percent(interval=None), "system"),
            self.reading("mem_used", "memory", (vm.total - vm.available) / 2**20, "system"),
            self.reading("mem_total", "memory", vm.total / 2**20, "system"),
        ]
