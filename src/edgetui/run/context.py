"""What a results row says beside its measurements: the board, host, model file, load, idle
power and the peaks seen while a configuration ran (its "context", kept in configs.jsonl so that
a resumed run shows an earlier outcome with the facts of the pass that measured it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui.profiles.schema import Profile
from edgetui.run.modelfacts import ModelFacts
from edgetui.run.soak import SoakTrace, soak_context
from edgetui.sensors import SensorSet
from edgetui.sensors.catalogue import engine_is_local
from edgetui.sensors.catalogue import resolve as resolve_board
from edgetui.sensors.registry import detected_accelerators, detected_power_mode

HOST_KEYS = ("host", "cpu_model", "board_model", "os", "kernel", "governor")


@dataclass
class LoadFacts:
    """What the inference child reported of its model load."""

    load_s: float | None = None
    engine_version: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # the engine's own facts (quantisation, flash attention)
    load_energy_j: float | None = None


@dataclass
class ConfigPeaks:
    """The highest readings of the sampler's stream while one configuration runs."""

    temp_c_max: float | None = None
    rss_mb_peak: float | None = None
    mem_used_mb_peak: float | None = None
    throttled: bool | None = None
    throttle_sources: set[str] = field(default_factory=set)  # the evidence seen: "board flag", "cpufreq"
    soak: SoakTrace | None = None  # a soak's window and its samples' figures (run.soak)

    def add(self, s: Mapping[str, Any]) -> None:
        for key, attr in (("temp_c_max", "temp_c_max"), ("rss_mb", "rss_mb_peak"), ("mem_used_mb", "mem_used_mb_peak")):
            v = s.get(key)
            if v is not None:
                cur = getattr(self, attr)
                setattr(self, attr, v if cur is None else max(cur, v))
        if s.get("throttled") is not None:
            self.throttled = bool(self.throttled) or bool(s["throttled"])
        self.throttle_sources.update(s.get("throttle_source") or ())
        t = s.get("t")
        if self.soak is not None and isinstance(t, (int, float)):
            self.soak.add(float(t), s.get("temp_c_max"), bool(s.get("throttled")))

    def counted_rep(self, t_start: float, t_end: float) -> None:
        """A counted repetition ran from t_start to t_end (monotonic)."""
        if self.soak is not None:
            self.soak.counted_rep(t_start, t_end)

    @classmethod
    def of(cls, soak_s: float | None) -> ConfigPeaks:
        """The peaks of a configuration, with the soak's figures when it has one."""
        return cls(soak=SoakTrace(soak_s) if soak_s is not None else None)


def config_context(profile: Profile, *, facts: ModelFacts, load: LoadFacts, host: dict[str, Any],
                   sensors: SensorSet, root: Path, idle_w: float | None, started_at: str | None,
                   sample_hz: float, peaks: ConfigPeaks) -> dict[str, Any]:
    """The context of one configuration of `profile`, as result_row() reads it."""
    # a remote engine runs on another board: this machine's model string and sensors say nothing of it
    local = engine_is_local(profile.engine.kind, profile.engine.url)
    board = resolve_board(profile.board, host.get("board_model") if local else None, root=root,
                          accelerators=detected_accelerators(sensors))
    return {
        "board": board.name or board.model or host.get("host"),
        "model_path": facts.path, "model_sha256": facts.sha256, "model_size_mb": facts.size_mb,
        "quant": facts.quant or load.info.get("model_quantization_level"),
        "quant_source": facts.quant_source, "quant_note": facts.quant_note,
        "power_w_idle": idle_w,
        "power_source": sensors.power_source_label if sensors.power_backend else None,
        "power_reason": sensors.power_reason,
        "volume_cm3": board.volume_cm3, "price_usd": board.price_usd,
        "power_mode": profile.board.power_mode or (detected_power_mode(sensors) if local else None),
        "started_at": started_at,
        "load_s": load.load_s, "load_energy_j": load.load_energy_j,
        "engine_version": load.engine_version,
        "flash_attn_in_force": load.info.get("flash_attn_in_force"),
        "model_type": load.info.get("model_type"), "model_n_params": load.info.get("model_n_params"),
        "sample_hz": round(sample_hz, 3),
        **{k: host.get(k) for k in HOST_KEYS},
        "temp_c_max": peaks.temp_c_max, "rss_mb_peak": peaks.rss_mb_peak,
        "mem_used_mb_peak": peaks.mem_used_mb_peak, "throttled": peaks.throttled,
        "throttle_source": ", ".join(sorted(peaks.throttle_sources)) or None,
        **soak_context(peaks.soak),
    }
