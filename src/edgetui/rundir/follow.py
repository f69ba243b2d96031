"""Following a run from its files: tail events.jsonl and samples.jsonl by byte offset and fold
them into the state the live screen draws. No Textual here, so it is tested on its own.

The runner is another process (see run/session.py); all the console knows of it is what it writes into
the run folder. Every history is a bounded deque, so a run of many hours costs the console the
same memory as a run of one minute."""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from edgetui.fmt import number
from edgetui.profiles.estimate import History, ModelFiles, estimate_seconds
from edgetui.profiles.plan import Configuration
from edgetui.rundir.events import (
    ConfigEnd,
    ConfigStart,
    Event,
    Idle,
    MalformedRecord,
    Phase,
    Progress,
    QualityEnd,
    RepEnd,
    RepStart,
    RunEnd,
    RunStart,
    decode_event_checked,
    decode_manifest,
    phase_progress_line,
)
from edgetui.rundir.narrate import Narrator
from edgetui.rundir.samples import Sample, readings_of
from edgetui.rundir.series import QUANTITIES, LiveSeries
from edgetui.sensors.base import PowerSource
from edgetui.stats import mean

HISTORY = 120  # points kept per sparkline
LOG_LINES = 300  # log lines kept for the log pane
MAX_READ_BYTES = 1 << 20  # per file per tick: a late attach catches up over a few ticks, never in one stall
SAMPLES_TAIL_BYTES = 256 << 10  # on attach, older samples only matter for energy, which events carry
TOP_N = 3  # rails and zones listed in a pane
MALFORMED_TOLD = 3  # records skipped as malformed that the log tells one by one (then only counted)


def number_or_none(v: Any) -> float | None:
    """A reading from a record another process wrote (perhaps a board): a number, or None."""
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _count(v: Any, default: int = 0) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else default


def _seconds(v: Any) -> float | None:
    """A positive finite number of seconds from a file (anything else: None)."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    return float(v) if ok else None


class JsonlTail:
    """New complete lines of a JSON-lines file another process appends to, by byte offset.

    A partial last line (the writer mid-line) waits for the next read. A file that shrinks or is
    replaced is read again from its start. Undecodable lines are skipped: a torn line left by a
    crash is followed by good lines when the run is resumed."""

    def __init__(self, path: str | Path, *, max_bytes: int = MAX_READ_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.offset = 0
        self.pending = False  # more bytes were on disk than one read takes
        self._partial = b""
        self._inode: int | None = None
        self._drop_first_line = False

    def start_near_end(self, nbytes: int) -> None:
        """Skip all but about the last nbytes (the first, cut line is dropped)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size > nbytes:
            self.offset = size - nbytes
            self._partial = b""
            self._drop_first_line = True

    def read(self, skip: Callable[[bytes], bool] | None = None) -> list[dict[str, Any]]:
        """The records completed since the last read. `skip(raw_line)` drops a line unparsed (cheap
        filtering of a long backlog)."""
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            self.pending = False
            return []
        with f:
            st = os.fstat(f.fileno())
            if (self._inode is not None and st.st_ino != self._inode) or st.st_size < self.offset:
                self.offset, self._partial = 0, b""
            self._inode = st.st_ino
            if st.st_size == self.offset:
                self.pending = False
                return []
            f.seek(self.offset)
            chunk = f.read(self.max_bytes)
        self.offset += len(chunk)
        self.pending = self.offset < st.st_size
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self.max_bytes:  # not JSON lines at all: do not grow without bound
            self._partial = b""
        if self._drop_first_line and lines:
            lines.pop(0)
            self._drop_first_line = False
        out = []
        for raw in lines:
            raw = raw.strip()
            if not raw or (skip is not None and skip(raw)):
                continue
            try:
                rec = json.loads(raw)
            except (ValueError, RecursionError):  # undecodable, or nested past the parser's depth
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out


@dataclass
class LogLine:
    seq: int
    text: str
    style: str = ""  # "error", "warn", "ok", "" (the screen maps these to colours)


@dataclass
class ConfigOutcome:
    status: str
    error: str | None


@dataclass
class ConfigProgress:
    """What is known of the configuration in flight."""

    config_id: str
    index: int
    n: int
    describe: str
    repetitions: int  # repetitions = "auto": the most it runs
    warmup: int
    gen_tokens: int | None = None  # asked for
    auto: bool = False  # repetitions = "auto": it stops when precise enough
    rep: int | None = None
    rep_is_warmup: bool = False
    reps_done: int = 0  # counted repetitions finished
    warmups_done: int = 0
    started_t: float | None = None
    load_t: float | None = None
    first_rep_t: float | None = None
    rep_started_t: float | None = None
    rep_seconds: list[float] = field(default_factory=list)
    decode_tps: list[float] = field(default_factory=list)  # counted repetitions, the engine's figure
    prefill_tps: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    energy_j: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    soak_s: float | None = None  # a soak: its window, s
    soak_start_t: float | None = None  # the first counted repetition's start: the window's
    throttle_t: float | None = None  # the first sample showing throttling in the window

    def soak_elapsed(self, now: float) -> float | None:
        """Seconds of the soak window gone (at most soak_s), None before it starts."""
        if self.soak_s is None or self.soak_start_t is None:
            return None
        return min(self.soak_s, max(0.0, now - self.soak_start_t))


def soak_left(cur: ConfigProgress, now: float, per_rep: float | None) -> float:
    """Seconds left of a soak in flight: its warm-ups, then the rest of its window."""
    soak_s = cur.soak_s or 0.0
    elapsed = cur.soak_elapsed(now)
    if elapsed is None:
        return max(0, cur.warmup - cur.warmups_done) * (per_rep or 0.0) + soak_s
    return soak_s - elapsed


class LiveState:
    """Everything the live screen shows, folded from events and samples as they arrive."""

    def __init__(self, manifest: dict[str, Any] | None = None) -> None:
        self.manifest: dict[str, Any] = {}
        self.configs: list[Configuration] = []
        # what the board measured before this run, for the ETA until this run has rates of its own
        # (read once, when first wanted: see eta)
        self.history_source: Callable[[], History] | None = None
        self._history: History | None = None
        # the model files' headers the ETA scales by, read once each: not on every redraw (reading a
        # vocabulary of 250,000 strings twice a second was most of what the console cost)
        self._model_files = ModelFiles()
        self.config_ids: list[str] = []  # of self.configs, in order: computed once per plan
        self._config_by_id: dict[str, Configuration] = {}
        self._configs_read: Any = None  # the manifest's configs they were made from
        self.n_configs: int | None = None
        self.power_source: str | None = None  # its label, as results.csv records it
        self.power: PowerSource | None = None  # the same as fields
        self.run_start_t: float | None = None
        self.run_end: RunEnd | None = None
        self.last_event_t: float | None = None
        self.phase: str | None = None  # from events (idle, load, cooldown) and samples (prefill, decode, paused, ...)
        self.current: ConfigProgress | None = None
        self.outcomes: dict[str, ConfigOutcome] = {}
        self.power_w_idle: float | None = None
        # a long step outside the repetitions (quantizing, the quality pass): what, done, total, unit
        self.step_progress: tuple[str, int, int, str] | None = None
        # tokens/s: decode live (progress events, wall clock) and per repetition (engine's counters)
        self.decode_history: deque[float] = deque(maxlen=HISTORY)
        self.prefill_history: deque[float] = deque(maxlen=HISTORY)
        self.decode_now: float | None = None  # live, while a repetition decodes
        self.decoding = False
        self._last_progress: tuple[tuple[str | None, int | None, bool], int, float] | None = None  # rep, tokens, t
        self.last_rep: RepEnd | None = None
        self._decode_sum = 0.0
        self._decode_n = 0
        self._prefill_sum = 0.0
        self._prefill_n = 0
        self.load_seconds: deque[float] = deque(maxlen=20)
        self.energy_reps_j: float | None = None  # energy over every repetition window so far
        # samples
        self.sample: Sample | None = None
        self.samples_seen = 0
        self.power_history: deque[float] = deque(maxlen=HISTORY)
        self.temp_history: deque[float] = deque(maxlen=HISTORY)
        self.rss_history: deque[float] = deque(maxlen=HISTORY)
        self.power_seen = False
        self.temp_peak: float | None = None
        self.rss_peak: float | None = None  # this configuration's
        self.throttled_now: bool | None = None
        self.throttle_events = 0  # transitions into throttling seen
        self.throttled_configs: set[str] = set()
        self.sensor_error: str | None = None
        # time series of the configuration in flight and of the run so far (bounded: series.py)
        self.series: dict[str, LiveSeries] = {key: LiveSeries() for key in QUANTITIES}
        # log
        self.log: deque[LogLine] = deque(maxlen=LOG_LINES)
        self.narrator = Narrator()
        self._seq = 0
        # records skipped because they are not what edgetui writes (a torn or hostile run folder)
        self.malformed = 0
        self.last_malformed: str | None = None
        self.changed = True
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            RunStart: self._run_start, Phase: self._phase, Idle: self._idle, ConfigStart: self._config_start,
            RepStart: self._rep_start, Progress: self._progress, RepEnd: self._rep_end, QualityEnd: self._quality_end,
            ConfigEnd: self._config_end, RunEnd: self._run_end,
        }
        if manifest:
            self.set_manifest(manifest)

    # ------------------------------------------------------------------ inputs
    def set_manifest(self, manifest: dict[str, Any]) -> None:
        try:
            decode_manifest(manifest)
        except MalformedRecord as exc:
            self.skip_malformed(str(exc))
            return
        self.manifest = manifest
        if manifest.get("configs") and manifest["configs"] != self._configs_read:
            # the ids hashed once per plan, not per refresh (57 ms a second at 10,000 configurations);
            # a manifest re-read for its status, with the same plan, keeps them
            self._configs_read = manifest["configs"]
            self.configs = [Configuration.from_dict(c) for c in manifest["configs"]]
            self.n_configs = len(self.configs)
            self.config_ids = [c.config_id for c in self.configs]
            self._config_by_id = {}
            for cid, c in zip(self.config_ids, self.configs):
                self._config_by_id.setdefault(cid, c)
        power = manifest.get("power")
        self._set_power(PowerSource.from_dict(power) if isinstance(power, dict) else None, manifest.get("power_source"))
        if manifest.get("power_w_idle") is not None:
            self.power_w_idle = manifest["power_w_idle"]
        self.changed = True

    def _set_power(self, power: PowerSource | None, label: str | None) -> None:
        if power is None and label:
            power = PowerSource.from_label(label)  # a run recorded before the fields were written
        if power is not None:
            self.power, self.power_source = power, power.label
        elif label:
            self.power_source = label

    def skip_malformed(self, why: str) -> None:
        """A record that is not edgetui's was left out: told in the log (the first few), counted."""
        self.malformed += 1
        self.last_malformed = why
        if self.malformed <= MALFORMED_TOLD:
            self.add_log(f"warning: skipped a record that is not edgetui's: {why}", "warn")
        elif self.malformed == MALFORMED_TOLD + 1:
            self.add_log("warning: more records skipped (counted, no longer told)", "warn")

    def add_log(self, text: str, style: str = "") -> None:
        self._seq += 1
        self.log.append(LogLine(self._seq, text, style))
        self.changed = True

    def feed_events(self, events: Iterable[dict[str, Any] | Event]) -> None:
        for ev in events:
            self.feed_event(ev)

    def feed_event(self, rec: dict[str, Any] | Event) -> None:
        """Fold one event (a record of events.jsonl, or the typed event) into the state."""
        if isinstance(rec, Event):
            ev: Event | None = rec
        else:
            try:
                ev = decode_event_checked(rec)
            except MalformedRecord as exc:
                self.skip_malformed(str(exc))
                return
        if ev is None:
            return  # a kind this edgetui does not know
        if ev.t is not None:
            self.last_event_t = ev.t
        self.changed = True
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)
        for told in self.narrator.tell(ev):  # the log says what the headless runner says
            self.add_log(told.text, told.style)

    def _run_start(self, ev: RunStart) -> None:
        self.run_start_t = ev.t
        self.run_end = None
        self.n_configs = ev.n_configs if ev.n_configs is not None else self.n_configs
        self._set_power(ev.power, ev.power_source)

    def _phase(self, ev: Phase) -> None:
        self.phase = ev.phase
        self.step_progress = None
        if ev.phase == "load" and self.current is not None:
            self.current.load_t = ev.t

    def _idle(self, ev: Idle) -> None:
        self.power_w_idle = ev.power_w_idle

    def _config_start(self, ev: ConfigStart) -> None:
        cfg = ev.config
        self.current = ConfigProgress(
            config_id=ev.config_id, index=ev.index, n=ev.n, describe=ev.describe,
            repetitions=_count(cfg.get("repetitions")), warmup=_count(cfg.get("warmup")),
            gen_tokens=cfg["gen_tokens"] if _count(cfg.get("gen_tokens"), -1) >= 0 else None,
            started_t=ev.t, soak_s=_seconds(cfg.get("soak_s")), auto=cfg.get("target_ci_pct") is not None,
        )
        self.n_configs = ev.n or self.n_configs
        self.rss_peak = None
        # the tokens/s pane is about this configuration: its sparklines start again, on its own scale
        self.decode_history.clear()
        self.prefill_history.clear()
        for series in self.series.values():
            series.new_config()
        self.decode_now, self.decoding = None, False
        self.last_rep = None  # "last" is this configuration's last repetition, never the previous one's

    def _rep_start(self, ev: RepStart) -> None:
        self.step_progress = None
        cur = self.current
        if cur is None:
            return
        cur.rep = ev.rep
        cur.rep_is_warmup = ev.warmup
        cur.rep_started_t = ev.t
        if cur.soak_s is not None and not ev.warmup and cur.soak_start_t is None:
            cur.soak_start_t = ev.t
        if cur.first_rep_t is None:
            cur.first_rep_t = ev.t
            if cur.load_t is not None and ev.t is not None:
                self.load_seconds.append(ev.t - cur.load_t)

    def _progress(self, ev: Progress) -> None:
        self.phase = ev.phase
        if ev.total:
            self.step_progress = (ev.what or self.phase or "", ev.tokens or 0, ev.total, ev.unit or "")
        key = (ev.config_id, ev.rep, ev.warmup)
        tokens, t = ev.tokens or 0, ev.t
        if ev.phase == "decode" and t is not None:
            self.decoding = True
            last = self._last_progress
            if last and last[0] == key and t > last[2] and tokens > last[1]:
                self.decode_now = (tokens - last[1]) / (t - last[2])
                self.decode_history.append(self.decode_now)
                self.series["decode"].add(t, self.decode_now)
            self._last_progress = (key, tokens, t)
        else:
            self.decoding = False

    def _config_end(self, ev: ConfigEnd) -> None:
        cid, status, error = ev.config_id, ev.status, ev.error
        self.outcomes[cid] = ConfigOutcome(status, error)
        self.decoding = False
        if self.current is None or self.current.config_id != cid:
            return  # an outcome recorded by an earlier pass, repeated by a resumed runner
        self.current.rep = None

    def _quality_end(self, ev: QualityEnd) -> None:
        self.step_progress = None

    def _run_end(self, ev: RunEnd) -> None:
        self.run_end = ev
        self.decoding = False

    def _rep_end(self, ev: RepEnd) -> None:
        cur = self.current
        t, warm = ev.t, ev.warmup
        decode, prefill, ttft, energy = ev.decode_tps, ev.prefill_tps, ev.ttft_ms, ev.energy_j
        self.last_rep = ev
        self.decoding = False
        self.decode_now = None
        self._last_progress = None
        if decode is not None:
            self.decode_history.append(decode)
        if prefill is not None:
            self.prefill_history.append(prefill)
            self.series["prefill"].add(t, prefill)
        if energy is not None:
            self.energy_reps_j = (self.energy_reps_j or 0.0) + energy
        if cur is not None:
            if cur.rep_started_t is not None and t is not None:
                cur.rep_seconds.append(t - cur.rep_started_t)
            if warm:
                cur.warmups_done += 1
            else:
                cur.reps_done += 1
                self.series["rep_decode"].add(cur.rep_started_t, decode)
                for lst, v in ((cur.decode_tps, decode), (cur.prefill_tps, prefill), (cur.ttft_ms, ttft),
                               (cur.energy_j, energy)):
                    if v is not None:
                        lst.append(v)
                if ev.gen_tokens_actual:
                    cur.tokens.append(ev.gen_tokens_actual)
        if not warm:
            if decode is not None:
                self._decode_sum += decode
                self._decode_n += 1
            if prefill is not None:
                self._prefill_sum += prefill
                self._prefill_n += 1

    def feed_samples(self, samples: Iterable[Sample]) -> None:
        for s in samples:
            self.feed_sample(s)

    def feed_sample(self, s: Sample) -> None:
        if not isinstance(s, dict):
            self.skip_malformed(f"sample: not a JSON object ({type(s).__name__})")
            return
        if "error" in s and "phase" not in s:
            self.sensor_error = str(s["error"])
            return
        readings, flat = s.get("readings"), s.get("v")
        if (readings is not None and not (isinstance(readings, dict) and all(
                isinstance(kinds, dict) and all(isinstance(named, dict) for named in kinds.values())
                for kinds in readings.values()))) or (flat is not None and not isinstance(flat, dict)):
            self.skip_malformed("sample: readings are not objects of objects")
            s = cast(Sample, {k: v for k, v in s.items() if k not in ("readings", "v")})
        self.sample = s
        self.samples_seen += 1
        self.changed = True
        t = number_or_none(s.get("t"))
        # a late attach reads events before samples: a sample from before the configuration in
        # flight started belongs to the run's series only
        started = self.current.started_t if self.current is not None else None
        here = t is not None and (started is None or t >= started)
        if isinstance(s.get("phase"), str) and s["phase"]:
            self.phase = s["phase"]
        p = number_or_none(s.get("power_w"))
        if p is not None:
            self.power_seen = True
            self.power_history.append(p)
            self._sample_point("power", t, p, here)
        temp = number_or_none(s.get("temp_c_max"))
        if temp is not None:
            self.temp_history.append(temp)
            self._sample_point("temp", t, temp, here)
            self.temp_peak = temp if self.temp_peak is None else max(self.temp_peak, temp)
        rss = number_or_none(s.get("rss_mb"))
        if rss is not None:
            self.rss_history.append(rss)
            self._sample_point("rss", t, rss, here)
            self.rss_peak = rss if self.rss_peak is None else max(self.rss_peak, rss)
        thr = s.get("throttled")
        # between two repetitions the clock is not judged (sensors.cpufreq): a false there does not
        # end a throttling the last repetition showed
        gap = thr is False and s.get("phase") == "between" and bool(self.throttled_now)
        if thr is not None and not gap:
            if thr and not self.throttled_now:
                self.throttle_events += 1
                where = f" during {self.current.config_id}" if self.current else ""
                held = ", ".join(s.get("cpu_held") or ())
                evidence = " · ".join(("cpufreq: " + held + " held down") if e == "cpufreq" and held else e
                                      for e in s.get("throttle_source") or ())
                self.add_log(f"THROTTLING{where}: {s.get('temp_zone') or 'the board'} at "
                             f"{number(temp, 1, 'C')}" + (f" ({evidence})" if evidence else ""), "warn")
            cur = self.current
            if thr and cur is not None and cur.soak_start_t is not None and cur.throttle_t is None \
                    and t is not None and t >= cur.soak_start_t:
                cur.throttle_t = t
            if thr and self.current is not None:
                self.throttled_configs.add(self.current.config_id)
            self.throttled_now = bool(thr)

    def _sample_point(self, key: str, t: float | None, v: float, here: bool) -> None:
        series = self.series[key]
        if here:
            series.add(t, v)
        elif t is not None:
            series.run.add(t, v)

    # ------------------------------------------------------------------ derived figures
    @property
    def decode_mean_run(self) -> float | None:
        return self._decode_sum / self._decode_n if self._decode_n else None

    @property
    def prefill_mean_run(self) -> float | None:
        return self._prefill_sum / self._prefill_n if self._prefill_n else None

    def step_text(self) -> str | None:
        """The progress of a long step outside the repetitions (quantizing, the quality pass)."""
        return phase_progress_line(*self.step_progress) if self.step_progress else None

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "failed": 0, "skipped": 0}
        for o in self.outcomes.values():
            out[o.status] = out.get(o.status, 0) + 1
        return out

    def elapsed(self, now: float) -> float | None:
        if self.run_start_t is None:
            return None
        end = self.run_end.t if self.run_end else None
        return (end if end is not None else now) - self.run_start_t

    def eta(self, now: float) -> float | None:
        """Seconds left: the rest of the configuration in flight at its own measured pace, and the
        configurations not started at the rates measured so far, or before there are any, at those
        of the board's earlier runs (profiles.estimate)."""
        if self.run_end is not None:
            return 0.0
        if not self.configs:
            return None
        cur = self.current
        left = 0.0
        started_ids = set(self.outcomes)
        if cur is not None and cur.config_id not in self.outcomes:
            started_ids.add(cur.config_id)
            if cur.soak_s is not None:  # a soak lasts its window whatever its pace
                left += soak_left(cur, now, mean(cur.rep_seconds))
                cur = None
        if cur is not None and cur.config_id not in self.outcomes:
            total_reps = cur.repetitions + cur.warmup
            done_reps = cur.reps_done + cur.warmups_done
            per_rep = mean(cur.rep_seconds)
            if per_rep is None:
                cfg = self.config_of(cur.config_id)
                per_rep = (estimate_seconds([cfg], self._earlier(), decode_tps=self.decode_mean_run or None,
                                            prefill_tps=self.prefill_mean_run or None, load_s=0.0,
                                            files=self._model_files)
                           / max(1, total_reps)) if cfg else 0.0
            in_flight = 0.0
            if cur.rep_started_t is not None and cur.rep is not None:
                in_flight = min(per_rep, max(0.0, now - cur.rep_started_t))
            left += max(0.0, (total_reps - done_reps) * per_rep - in_flight)
        pending = [c for c, cid in zip(self.configs, self.config_ids) if cid not in started_ids]
        if pending:
            left += estimate_seconds(pending, self._earlier(), decode_tps=self.decode_mean_run or None,
                                     prefill_tps=self.prefill_mean_run or None, load_s=mean(self.load_seconds),
                                     files=self._model_files)
        return left

    def soak_series(self) -> tuple[float | None, float | None]:
        """The soak in flight's window start and first throttling (monotonic), for the plots."""
        cur = self.current
        return (cur.soak_start_t, cur.throttle_t) if cur is not None and cur.soak_s is not None else (None, None)

    def _earlier(self) -> History | None:
        if self._history is None and self.history_source is not None and not self._rates():
            self._history = self.history_source()
        return self._history

    def config_of(self, config_id: str | None) -> Configuration | None:
        """The planned configuration of an id, or None."""
        return self._config_by_id.get(config_id) if config_id is not None else None

    def _rates(self) -> dict[str, float]:
        rates = {}
        if self.decode_mean_run:
            rates["decode_tps"] = self.decode_mean_run
        if self.prefill_mean_run:
            rates["prefill_tps"] = self.prefill_mean_run
        return rates

    def readings(self, kind: str) -> list[tuple[str, str, float]]:
        """The latest sample's readings of one kind ("power", "temperature") as (backend, name, value),
        largest first: generic over whatever backends the board has."""
        if not self.sample:
            return []
        return sorted(readings_of(self.sample, kind), key=lambda r: r[2], reverse=True)
