"""The run's log, in one place: each event of events.jsonl told as its line(s). The headless
runner prints what the narrator says of each event it writes, and the console's log pane shows
what the narrator says of each event it reads back, so that both tell a run in the same words.

The narrator keeps what a line needs from earlier events (the configuration in flight: its
tokens asked for and its repetitions; the power source) and nothing else; fed the same events in
the same order it says the same lines. No Textual here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from edgetui.fmt import number
from edgetui.rundir.events import (
    ConfigEnd,
    ConfigStart,
    Event,
    Idle,
    Loaded,
    Phase,
    QualityEnd,
    RepEnd,
    RunEnd,
    RunStart,
    RunWarning,
)

FAILURE_LINES = 4  # of a failure's reason (the first, and the start of a child's log tail)
SKIPPED_BY_USER = "skipped by the user"  # the error a skip records


class Told(NamedTuple):
    text: str
    style: str = ""  # "error", "warn", "ok", "" (the console maps these to colours; the runner prints the text)


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


class Narrator:
    """Turns events into the run's log lines: `tell(event)` is what the log says of it (often
    nothing: progress, a repetition's start)."""

    def __init__(self) -> None:
        self.current: ConfigStart | None = None
        self.power_source: str | None = None
        self.n_configs: int | None = None
        self._cooling = False  # a cool-down to a temperature is told once, not at every reading
        self._tellers: dict[type[Event], Callable[[Any], list[Told]]] = {
            RunStart: self._run_start, Phase: self._phase, Idle: self._idle, ConfigStart: self._config_start,
            Loaded: self._loaded, RepEnd: self._rep_end, QualityEnd: self._quality_end, ConfigEnd: self._config_end,
            RunWarning: self._warning, RunEnd: self._run_end,
        }

    def tell(self, ev: Event) -> list[Told]:
        if not (isinstance(ev, Phase) and ev.phase == "cooldown" and ev.temp_c is not None):
            self._cooling = False
        teller = self._tellers.get(type(ev))
        return teller(ev) if teller is not None else []

    def _run_start(self, ev: RunStart) -> list[Told]:
        self.n_configs = ev.n_configs if ev.n_configs is not None else self.n_configs
        label = ev.power.label if ev.power is not None else ev.power_source
        self.power_source = label or self.power_source
        return [Told(("resumed" if ev.resume else "run started") + f": {self.n_configs} configuration(s)"),
                Told(f"power: {self.power_source}")]

    def _phase(self, ev: Phase) -> list[Told]:
        if ev.phase == "quantize":
            if ev.model is None:  # a record from before the variant's file and cache were said
                return [Told(f"  quantizing to {ev.quant} (cached for later runs)")]
            if ev.cached:
                return [Told(f"  {ev.model} at {ev.quant}: the variant cached before")]
            return [Told(f"  quantizing {ev.model} to {ev.quant} with llama.cpp's quantizer "
                         "(once: the variant is cached for later runs)")]
        if ev.phase == "quality":
            if ev.what != "reference":
                return [Told("  quality pass")]
            said = f" ({ev.model}, {ev.tokens} tokens; cached for later runs)" if ev.model else ""
            return [Told(f"  quality: keeping the reference's log-probabilities{said}")]
        if ev.phase == "idle":
            return [Told(f"measuring idle baseline for {ev.seconds or 0:g} s")]
        if ev.phase == "load" and self.current is not None:
            return [Told("  loading the model")]
        if ev.phase == "cooldown" and ev.temp_c is not None and not self._cooling:
            self._cooling = True
            return [Told(f"  cooling down: {ev.temp_c:.1f} C, waiting for {ev.target_c or 0:g} C")]
        return []

    def _idle(self, ev: Idle) -> list[Told]:
        why = f" ({self.power_source})" if ev.power_w_idle is None and self.power_source else ""
        return [Told(f"idle power: {number(ev.power_w_idle, 2, 'W')}{why}")]

    def _config_start(self, ev: ConfigStart) -> list[Told]:
        self.current = ev
        profile = ev.config.get("profile")
        named = f" {profile}:" if isinstance(profile, str) and profile else ""
        return [Told(f"[{ev.index}/{ev.n}] {ev.config_id}{named} {ev.describe}")]

    def _loaded(self, ev: Loaded) -> list[Told]:
        version = f" ({ev.engine_version})" if ev.engine_version else ""
        return [Told(f"  loaded in {number(ev.load_s, 2, 's')}{version}")]

    def _rep_end(self, ev: RepEnd) -> list[Told]:
        cfg = self.current.config if self.current is not None else {}
        # a record without its count (older runs): the configuration's; a soak's count is what fits
        of = _count(cfg.get("repetitions")) if cfg.get("soak_s") is None else None
        return [Told(ev.line(asked_tokens=_count(cfg.get("gen_tokens")), of=of))]

    def _quality_end(self, ev: QualityEnd) -> list[Told]:
        return [Told(ev.line())]

    def _config_end(self, ev: ConfigEnd) -> list[Told]:
        if self.current is None or self.current.config_id != ev.config_id:
            # an outcome recorded by an earlier pass, repeated by a resumed runner
            return [Told(f"{ev.config_id}: {ev.status} (recorded before the resume)",
                         "" if ev.status == "done" else "warn")]
        self.current = None
        if ev.status == "failed":
            reason = (ev.error or "no reason given").strip().splitlines() or [""]
            return [Told(f"  FAILED: {reason[0]}", "error"),
                    *(Told(f"    {extra}", "error") for extra in reason[1:FAILURE_LINES])]
        if ev.status == "skipped":
            why = ev.error or SKIPPED_BY_USER
            return [Told(f"  {why}" if why.startswith("skipped") else f"  skipped ({why})", "warn")]
        return [Told(f"  {ev.status}", "ok" if ev.status == "done" else "")]

    def _warning(self, ev: RunWarning) -> list[Told]:
        return [Told(f"warning: {ev.message}", "warn")]

    def _run_end(self, ev: RunEnd) -> list[Told]:
        failed = f", {ev.failed} configuration(s) failed" if ev.failed else ""
        crashed = f": {ev.error}" if ev.error else ""
        return [Told(f"run {ev.status or 'ended'}{failed}{crashed}", "error" if ev.failed or ev.error else "ok")]
