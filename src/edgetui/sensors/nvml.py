"""NVIDIA discrete GPUs through NVML (the optional `nvidia` extra, nvidia-ml-py): the energy
counter of each card (differenced; preferred over the averaged power reading), power, temperature,
utilisation and the clock throttle reasons.

What it covers: the GPU card(s) only, not the CPU or the rest of the machine."""

from __future__ import annotations

from typing import Any

from edgetui.sensors.base import Backend, Probe, Reading, SensorContext

# Reasons that mean the clocks are held down now (not "idle" 0x1, app clocks 0x2, sync boost 0x10).
SW_POWER_CAP, HW_SLOWDOWN, SW_THERMAL, HW_THERMAL, HW_POWER_BRAKE = 0x4, 0x8, 0x20, 0x40, 0x80
THROTTLING = SW_POWER_CAP | HW_SLOWDOWN | SW_THERMAL | HW_THERMAL | HW_POWER_BRAKE


class Nvml(Backend):
    name = "nvml"
    power_priority = 15  # below RAPL: the card alone; choose it with --power-source nvml for GPU runs

    def __init__(self, ctx: SensorContext) -> None:
        super().__init__(ctx)
        self._nvml: Any = None  # the pynvml module once probed
        self._handles: list = []
        self._energy_start_mj: dict[int, float] = {}
        self._has_energy = False

    def probe(self) -> Probe:
        try:
            import pynvml
        except ImportError:
            return Probe(False, "nvidia-ml-py not installed (pip install 'edgetui[nvidia]')")
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            return Probe(False, f"NVML not available: {exc}")
        self._nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            names = [_text(pynvml.nvmlDeviceGetName(h)) for h in self._handles]
        except Exception as exc:
            self.close()
            return Probe(False, f"NVML could not list GPUs: {exc}")
        if not self._handles:
            self.close()
            return Probe(False, "NVML found no GPU")
        self._has_energy = all(self._energy_mj(h) is not None for h in self._handles)
        how = "energy counter (differenced)" if self._has_energy else "power reading (no energy counter on this GPU)"
        return Probe(True, f"{len(names)} GPU(s): {', '.join(names)}; {how}; GPU cards only, not the whole machine")

    def _energy_mj(self, handle: object) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        except Exception:
            return None

    def _call(self, fn: str, *args: object) -> Any:  # pynvml is untyped
        try:
            return getattr(self._nvml, fn)(*args)
        except Exception:
            return None

    def _throttle_mask(self, handle: object) -> int | None:
        for fn in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
            if hasattr(self._nvml, fn):
                mask = self._call(fn, handle)
                if mask is not None:
                    return int(mask)
        return None

    def read(self) -> list[Reading]:
        if self._nvml is None:
            return []
        out: list[Reading] = []
        total_j, total_w, complete = 0.0, 0.0, True
        for i, h in enumerate(self._handles):
            gpu = f"gpu{i}"
            mj = self._energy_mj(h) if self._has_energy else None
            if mj is not None:
                start = self._energy_start_mj.setdefault(i, mj)
                joules = (mj - start) / 1000.0
                out.append(self.reading(gpu, "energy", joules, "chip"))
                total_j += joules
            elif self._has_energy:
                complete = False
            mw = self._call("nvmlDeviceGetPowerUsage", h)
            if mw is not None:
                out.append(self.reading(gpu, "power", mw / 1000.0, "chip"))
                total_w += mw / 1000.0
            elif not self._has_energy:
                complete = False
            temp = self._call("nvmlDeviceGetTemperature", h, getattr(self._nvml, "NVML_TEMPERATURE_GPU", 0))
            if temp is not None:
                out.append(self.reading(gpu, "temperature", float(temp), "chip"))
            util = self._call("nvmlDeviceGetUtilizationRates", h)
            if util is not None:
                out.append(self.reading(gpu, "load", float(util.gpu), "chip"))
            mask = self._throttle_mask(h)
            if mask is not None:
                out.append(self.reading(gpu, "throttle", mask & THROTTLING, "chip"))
                out.append(self.reading(f"{gpu}_clock_reasons", "info", hex(mask), "chip"))
        if complete and out:
            if self._has_energy:
                out.append(self.reading("gpus", "energy", total_j, "chip"))
            else:
                out.append(self.reading("gpus", "power", total_w, "chip"))
        return out

    def total_power(self, readings: list[Reading]) -> Reading | None:
        return next((r for r in readings if r.name == "gpus"), None)

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
        self._nvml = None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
