"""The runner: drives a queue of configurations through inference children, with the sampler
alongside, and writes every finished repetition to the results store before the next begins.

It is the same code for `edgetui run --headless` and for the console, which starts it as a
detached process and follows its files."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from edgetui import __version__, models
from edgetui.models import gguf
from edgetui.run.aggregate import result_row
from edgetui.run.child import InferenceChild, ChildDied
from edgetui.rundir.control import CONTROL_FILE, Control
from edgetui.sensors.catalogue import engine_is_local, resolve as resolve_board
from edgetui.engines.base import RepResult, disagreements, metrics
from edgetui.errors import UserError
from edgetui.sensors.host import host_info
from edgetui.profiles.plan import Configuration, expand
from edgetui.profiles.schema import Profile
from edgetui.run.sampler import Sampler
from edgetui.sensors import PowerChoiceError, SensorSet, make_context
from edgetui.sensors.registry import detected_accelerators, detected_power_mode
from edgetui.rundir.store import RunStore, read_jsonl

def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StoreWriteError(Exception):
    """The results folder stopped taking writes (disk full, removed, read-only)."""

    def __init__(self, root: Path, exc: OSError) -> None:
        self.root, self.exc = root, exc
        super().__init__(
            f"could not write to the results folder {root}: {exc.strerror or exc}. The queue stopped; "
            f"every repetition recorded before is intact. Free space, then `edgetui run --resume {root}`."
        )


class ConfigFailed(Exception):
    pass


class Stopped(Exception):
    """The user asked to skip this configuration or abort the queue (control.json)."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


# ------------------------------------------------------------------ the runner


@dataclass
class ModelFacts:
    path: str | None
    sha256: str | None = None
    size_mb: float | None = None
    quant: str | None = None
    error: str | None = None


@dataclass
class ConfigPeaks:
    temp_c_max: float | None = None
    rss_mb_peak: float | None = None
    mem_used_mb_peak: float | None = None
    throttled: bool | None = None

    def add(self, s: dict[str, Any]) -> None:
        for key, attr in (("temp_c_max", "temp_c_max"), ("rss_mb", "rss_mb_peak"), ("mem_used_mb", "mem_used_mb_peak")):
            v = s.get(key)
            if v is not None:
                cur = getattr(self, attr)
                setattr(self, attr, v if cur is None else max(cur, v))
        if s.get("throttled") is not None:
            self.throttled = bool(self.throttled) or bool(s["throttled"])


class Runner:
    def __init__(
        self,
        profiles: list[Profile],
        out_dir: str | Path,
        *,
        sysfs_root: str | None = None,
        power_source: str | None = None,
        on_line: Callable[[str], None] | None = None,
        resume: bool = False,
    ) -> None:
        self.profiles = {p.name: p for p in profiles}
        self.store = RunStore(out_dir)
        self.on_line = on_line or (lambda s: None)
        self.resume = resume
        self.configs: list[Configuration] = [c for p in profiles for c in expand(p)]
        self.sysfs_root = sysfs_root
        first = profiles[0]
        wanted = power_source or first.power.source
        self.sensor_ctx = make_context(sysfs_root, options={"power": first.power.__dict__, "board": first.board.__dict__})
        try:
            self.sensors = SensorSet(self.sensor_ctx, wanted)
        except PowerChoiceError as exc:
            raise UserError(str(exc), where="power source") from None
        self.host = host_info(str(self.sensor_ctx.root))
        self.rows: dict[str, dict[str, Any]] = {}
        self.peaks = ConfigPeaks()
        self.current: Configuration | None = None
        self.events: IO[str] | None = None
        self.idle_w: float | None = None
        self.model_facts: dict[str, ModelFacts] = {}
        self.load_info: dict[str, Any] = {}
        self.aborted = False
        self.control = Control(self.store.root / CONTROL_FILE)
        self.config_started_at: str | None = None
        self.failed = 0

    # --------------------------------------------------------------- events
    def event(self, ev: dict[str, Any]) -> None:
        ev.setdefault("t", time.monotonic())
        if self.events:
            self.events.write(json.dumps(ev, separators=(",", ":"), default=str) + "\n")
            self.events.flush()

    def _on_sample(self, s: dict[str, Any]) -> None:
        if self.current is not None:
            self.peaks.add(s)

    # --------------------------------------------------------------- model checks
    def check_models(self, progress: Callable[[str], None]) -> None:
        """Resolve every model file (fetching bundled ones) and read its header, before anything runs."""
        for c in self.configs:
            if c.engine != "llama_cpp" or c.model in self.model_facts:
                continue
            path = models.resolve(c.model_name, c.model_path, progress=progress)
            info = gguf.read_info(path)  # raises UserError: missing, not GGUF, truncated
            self.model_facts[c.model] = ModelFacts(
                path=str(path), size_mb=round(path.stat().st_size / 1e6, 1),
                quant=info.quant or gguf.quant_from_name(path),
            )

    def memory_check(self, c: Configuration) -> str | None:
        """Refuse a load whose file and KV cache cannot fit in the memory available now."""
        import psutil

        facts = self.model_facts.get(c.model)
        if not facts or not facts.path:
            return None
        info = gguf.read_info(facts.path)
        kv_bytes = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 1.0625}.get(c.kv_cache_type, 0.6)
        need = Path(facts.path).stat().st_size + (info.kv_cache_bytes(c.n_ctx, kv_bytes) or 0)
        avail = psutil.virtual_memory().available
        if need > avail:
            return (f"would not fit: model file and {c.n_ctx}-token KV cache need about "
                    f"{need / 2**20:.0f} MB, {avail / 2**20:.0f} MB available")
        return None

    # --------------------------------------------------------------- the queue
    def run(self) -> int:
        """Run the whole queue; returns the number of failed configurations."""
        self.store.prepare()
        done_reps = self._resume_state()
        manifest = {
            "edgetui_version": __version__,
            "created": now_iso(),
            "profiles": [p.to_dict() for p in self.profiles.values()],
            "configs": [c.to_dict() for c in self.configs],
            "host": self.host,
            "runner_pid": os.getpid(),
            "status": "running",
            "power_source": self.sensors.power_source_label,
            "sensors": [{"backend": s.backend.name, "detected": s.probe.detected, "reason": s.probe.reason}
                        for s in self.sensors.statuses],
        }
        old = self.store.read_manifest() if self.resume else None
        if old:
            manifest["created"] = old.get("created", manifest["created"])
            manifest["power_w_idle"] = old.get("power_w_idle")
        self.store.write_manifest(manifest)
        self.control.path.unlink(missing_ok=True)  # a pause or abort asked of an earlier pass is over
        self.events = self.store.events_path.open("a", encoding="utf-8")
        samples = self.store.samples_path.open("a", encoding="utf-8")
        hz = max(p.sample_hz for p in self.profiles.values())
        self.sampler = Sampler(self.sensors, hz=hz, out=samples, on_sample=self._on_sample)
        self.sampler.start()
        self.event({"ev": "run_start", "n_configs": len(self.configs), "pid": os.getpid(),
                    "power_source": self.sensors.power_source_label, "resume": self.resume})
        try:
            self.idle_w = manifest.get("power_w_idle")
            if self.idle_w is None:
                self._idle_baseline()
            self._run_configs(done_reps)
        except OSError as exc:
            # Disk full or the folder gone: stop the queue; what is on disk stays as it was.
            self.aborted = True
            raise StoreWriteError(self.store.root, exc) from None
        finally:
            self.sampler.stop()
            status = "aborted" if self.aborted else "finished"
            for step in (lambda: samples.close(),
                         lambda: self.event({"ev": "run_end", "status": status, "failed": self.failed}),
                         lambda: self.store.update_manifest(status=status, finished=now_iso()),
                         lambda: self.events.close()):
                try:
                    step()
                except OSError:
                    pass  # the disk that failed above fails here too; the manifest says "running"
            self.sensors.close()
        if self.sampler.write_error is not None:
            self.on_line(f"note: the sample stream stopped early: {self.sampler.write_error}")
        return self.failed

    def _resume_state(self) -> dict[str, set[int]]:
        done: dict[str, set[int]] = {}
        if not self.resume:
            return done
        for r in self.store.reps():
            if not r.get("warmup"):
                done.setdefault(r["config_id"], set()).add(r["rep"])
        return done

    def _idle_baseline(self) -> None:
        secs = max(p.idle_baseline_s for p in self.profiles.values())
        if secs <= 0:
            return
        self.sampler.set_phase("idle")
        self.event({"ev": "phase", "phase": "idle", "seconds": secs})
        self.on_line(f"measuring idle baseline for {secs:g} s")
        t0 = time.monotonic()
        time.sleep(secs)
        t1 = time.monotonic()
        time.sleep(self.sampler.period * 1.5)  # let a sample land past the window
        self.idle_w = self.sampler.trace.mean_power(t0, t1, self.sampler.max_gap_s)
        self.store.update_manifest(power_w_idle=self.idle_w)
        self.event({"ev": "idle", "power_w_idle": self.idle_w})
        self.on_line(f"idle power: {self.idle_w:.2f} W" if self.idle_w is not None
                     else f"idle power: n/a ({self.sensors.power_source_label})")

    def _groups(self) -> list[list[Configuration]]:
        groups: list[list[Configuration]] = []
        for c in self.configs:
            if groups and groups[-1][0].load_key == c.load_key and groups[-1][0].profile == c.profile:
                groups[-1].append(c)
            else:
                groups.append([c])
        return groups

    def _run_configs(self, done_reps: dict[str, set[int]]) -> None:
        statuses = self.store.config_statuses() if self.resume else {}
        index = 0
        for group in self._groups():
            worker: InferenceChild | None = None
            try:
                for c in group:
                    index += 1
                    if self.aborted:
                        break
                    prior = statuses.get(c.config_id, {}).get("status")
                    if prior in ("done", "failed", "skipped"):
                        self._finish(c, prior, statuses[c.config_id].get("error"), recorded=statuses[c.config_id])
                        continue
                    worker = self._run_config(c, index, worker, done_reps.get(c.config_id, set()))
            except BaseException:
                if worker is not None:
                    worker.kill()
                raise
            if worker is not None:
                worker.quit()

    def _context(self, c: Configuration) -> dict[str, Any]:
        p = self.profiles[c.profile]
        facts = self.model_facts.get(c.model) or ModelFacts(path=c.model_path)
        local = engine_is_local(p.engine.kind, p.engine.url)  # else this machine's model and sensors say nothing of the board
        board = resolve_board(p.board, self.host.get("board_model") if local else None, root=self.sensor_ctx.root,
                              accelerators=detected_accelerators(self.sensors))
        return {
            "board": board.name or board.model or self.host.get("host"),
            "model_path": facts.path, "model_sha256": facts.sha256, "model_size_mb": facts.size_mb,
            "quant": facts.quant or self.load_info.get("info", {}).get("model_quantization_level"),
            "power_w_idle": self.idle_w,
            "power_source": self.sensors.power_source_label if self.sensors.power_backend else None,
            "power_reason": self.sensors.power_reason,
            "volume_cm3": board.volume_cm3, "price_usd": board.price_usd,
            "power_mode": p.board.power_mode or (detected_power_mode(self.sensors) if local else None),
            "started_at": self.config_started_at,
            "load_s": self.load_info.get("load_s"), "load_energy_j": self.load_info.get("load_energy_j"),
            "engine_version": self.load_info.get("engine_version"),
            "flash_attn_in_force": self.load_info.get("info", {}).get("flash_attn_in_force"),
            "sample_hz": round(1.0 / self.sampler.period, 3),
            **{k: self.host.get(k) for k in ("host", "cpu_model", "board_model", "os", "kernel", "governor")},
            "temp_c_max": self.peaks.temp_c_max, "rss_mb_peak": self.peaks.rss_mb_peak,
            "mem_used_mb_peak": self.peaks.mem_used_mb_peak, "throttled": self.peaks.throttled,
        }

    def _finish(self, c: Configuration, status: str, error: str | None, *,
                recorded: dict[str, Any] | None = None) -> None:
        """Record an outcome and rewrite the results; `recorded`: the outcome an earlier pass wrote
        (on resume), shown again with its own context, not written twice."""
        reps = [r for r in self.store.reps() if r["config_id"] == c.config_id and not r.get("warmup")]
        if recorded is None:
            ctx = self._context(c)
            self.store.append_config_status({"config_id": c.config_id, "status": status, "error": error,
                                             "at": now_iso(), "context": ctx})
        else:
            ctx = recorded.get("context") or self._context(c)
        self.rows[c.config_id] = result_row(c.to_dict(), reps, status=status, error=error, context=ctx)
        self.store.write_results([self.rows[k.config_id] for k in self.configs if k.config_id in self.rows])
        if status == "failed":
            self.failed += 1
        self.event({"ev": "config_end", "config_id": c.config_id, "status": status, "error": error})

    def _check_control(self, *, wait: bool) -> None:
        """Raise Stopped for skip or abort; with wait, also hold here while paused (pause takes
        effect between repetitions, so that no repetition's timing includes the pause)."""
        while True:
            state = self.control.poll()
            if state.get("abort"):
                raise Stopped("abort")
            if self.current and state.get("skip") == self.current.config_id:
                raise Stopped("skip")
            if not (wait and state.get("pause")):
                return
            self.sampler.set_phase("paused")
            time.sleep(0.2)

    def _cool_down_to(self, c: Configuration) -> None:
        p = self.profiles[c.profile]
        if p.cool_below_c is None:
            return
        deadline = time.monotonic() + p.cool_max_s
        self.sampler.set_phase("cooldown")
        while time.monotonic() < deadline:
            if "temp_c_max" not in self.sampler.latest:  # no sample yet: the sampler has just started
                time.sleep(0.05)
                continue
            t = self.sampler.latest.get("temp_c_max")
            if t is None or t < p.cool_below_c:
                return
            self.event({"ev": "phase", "phase": "cooldown", "temp_c": t, "target_c": p.cool_below_c})
            time.sleep(1.0)
        self.on_line(f"still above {p.cool_below_c:g} C after {p.cool_max_s:g} s: going on")

    def _run_config(self, c: Configuration, index: int, worker: InferenceChild | None, done: set[int]) -> InferenceChild | None:
        n = len(self.configs)
        self.current = c
        self.config_started_at = now_iso()
        self.peaks = ConfigPeaks()
        self.event({"ev": "config_start", "config_id": c.config_id, "index": index, "n": n,
                    "describe": c.describe(), "config": c.to_dict()})
        self.on_line(f"[{index}/{n}] {c.config_id} {c.profile}: {c.describe()}")
        if c.engine == "llama_cpp":
            facts = self.model_facts[c.model]
            if facts.sha256 is None:
                facts.sha256 = models.file_sha256(facts.path)
            refusal = self.memory_check(c)
            if refusal:
                self.on_line(f"  failed: {refusal}")
                self._finish(c, "failed", refusal)
                return worker
        self._cool_down_to(c)
        try:
            if worker is None:
                worker = self._start_worker(c)
            self.sampler.set_target_pids([worker.pid, *self._server_pids(c)])
            plan = [(i, True) for i in range(c.warmup)] + [(i, False) for i in range(c.repetitions) if i not in done]
            for rep, warm in plan:
                self._check_control(wait=True)
                self._run_rep(worker, c, rep, warm)
        except Stopped as stop:
            if worker is not None:
                worker.kill()
            if stop.action == "skip":
                self.on_line("  skipped")
                self._finish(c, "skipped", "skipped by the user")
            else:  # not recorded as an outcome: a resume runs this configuration again
                self.aborted = True
                self.on_line("  aborted")
            self.current = None
            return None
        except ChildDied as exc:
            self.on_line(f"  failed: {exc.reason.splitlines()[0]}")
            self._finish(c, "failed", exc.reason)
            return None
        except ConfigFailed as exc:
            self.on_line(f"  failed: {exc}")
            self._finish(c, "failed", str(exc))
            worker.quit() if worker else None
            return None
        self._finish(c, "done", None)
        p = self.profiles[c.profile]
        if p.cooldown_s > 0:
            self.sampler.set_phase("cooldown")
            self.event({"ev": "phase", "phase": "cooldown", "seconds": p.cooldown_s})
            time.sleep(p.cooldown_s)
        self.current = None
        return worker

    def _server_pids(self, c: Configuration) -> list[int]:
        """A server engine's process and its children, whose memory is the model's (after the load,
        when Ollama has started its model runner)."""
        if c.engine == "llama_cpp":
            return []
        from edgetui.engines.serverproc import find_server_for

        e = self.profiles[c.profile].engine
        found = find_server_for(c.engine, c.engine_url, pid=e.server_pid, process=e.server_process,
                                port=e.server_port)
        note = (f"following the server's memory: pid {', '.join(map(str, found.pids))} ({found.how})"
                if found.found else f"server memory: n/a ({found.how})")
        if getattr(self, "_server_note", None) != note:
            self._server_note = note
            self.on_line(f"  {note}")
        return found.pids

    def _start_worker(self, c: Configuration) -> InferenceChild:
        log = self.store.log_path(c.config_id)
        self.load_info = {}
        worker = InferenceChild(log)
        self.sampler.set_target_pids([worker.pid])
        self.sampler.set_phase("load")
        self.event({"ev": "phase", "phase": "load", "config_id": c.config_id, "pid": worker.pid})
        facts = self.model_facts.get(c.model)
        worker.send({"cmd": "load", "config": c.to_dict(), "model_path": facts.path if facts else c.model_path})
        ev = self._await(worker, "loaded")
        time.sleep(self.sampler.period * 1.5 if self.sensors.power_backend else 0)  # a sample past the load
        load_e = self.sampler.trace.energy(ev["t_start"], ev["t_end"], self.sampler.max_gap_s)
        self.load_info = {"load_s": ev["load_s"], "engine_version": ev["engine_version"], "info": ev.get("info", {}),
                          "load_energy_j": load_e}
        self.on_line(f"  loaded in {ev['load_s']:.2f} s ({ev['engine_version']})")
        return worker

    def _await(self, worker: InferenceChild, wanted: str) -> dict[str, Any]:
        """Forward progress events until the wanted one; an error event fails the configuration."""
        while True:
            self._check_control(wait=False)
            ev = worker.next_event(timeout=0.5)
            if ev is None:
                continue
            if ev["ev"] == "error":
                raise ConfigFailed(ev["message"])
            if ev["ev"] == "progress":
                if self.sampler.phase != ev["phase"]:
                    self.sampler.set_phase(ev["phase"])
                self.event(ev)
                continue
            if ev["ev"] == wanted:
                return ev

    def _run_rep(self, worker: InferenceChild, c: Configuration, rep: int, warm: bool) -> None:
        self.event({"ev": "rep_start", "config_id": c.config_id, "rep": rep, "warmup": warm,
                    "of": c.repetitions})
        worker.send({"cmd": "run", "config": c.to_dict(), "rep": rep, "warmup": warm})
        ev = self._await(worker, "result")
        self.sampler.set_phase("between")
        r = RepResult(**ev["result"])
        m = metrics(r)
        flags = disagreements(m)
        # let the sampler land one sample past the end, so the window is covered
        deadline = time.monotonic() + (3 * self.sampler.period if self.sensors.power_backend else 0)
        while (not self.sampler.trace.ts or self.sampler.trace.ts[-1] < r.t_end) and time.monotonic() < deadline:
            time.sleep(self.sampler.period / 4)
        gap = self.sampler.max_gap_s
        trace = self.sampler.trace
        energy = trace.energy(r.t_start, r.t_end, gap) if trace.ts else None
        decode_e = trace.energy(r.t_first_token, r.t_end, gap) if trace.ts else None
        prefill_e = trace.energy(r.t_start, r.t_first_token, gap) if trace.ts else None
        dur = r.t_end - r.t_start
        row = {
            "config_id": c.config_id, "profile": c.profile, "rep": rep, "warmup": warm, "at": now_iso(),
            **{k: v for k, v in r.to_dict().items() if k not in ("gen_tokens", "prompt_tokens")},
            "prompt_tokens": r.prompt_tokens, "gen_tokens_actual": r.gen_tokens, **m,
            "timing_flags": flags, "energy_j": energy, "prefill_energy_j": prefill_e, "decode_energy_j": decode_e,
            "power_w_mean": energy / dur if energy is not None and dur > 0 else None,
            "net_energy_j": energy - self.idle_w * dur if energy is not None and self.idle_w is not None else None,
            "temp_c_max": self.peaks.temp_c_max, "rss_mb_peak": self.peaks.rss_mb_peak,
        }
        if not warm:
            self.store.append_rep(row)
        self.event({"ev": "rep_end", "config_id": c.config_id, "rep": rep, "warmup": warm,
                    **{k: row.get(k) for k in ("ttft_ms", "prefill_tps", "decode_tps", "e2e_tps", "energy_j",
                                                "power_w_mean", "gen_tokens_actual")}})
        label = "warm-up" if warm else f"rep {rep + 1}/{c.repetitions}"
        energy_txt = (f", {energy / r.gen_tokens:.3f} J/tok" if energy is not None and r.gen_tokens else "")
        flag_txt = f"  [timers disagree: {'; '.join(flags)}]" if flags else ""
        self.on_line(
            f"  {label}: decode {fmt(m['decode_tps'])} tok/s, prefill {fmt(m['prefill_tps'])} tok/s, "
            f"ttft {fmt(m['ttft_ms'])} ms, {r.gen_tokens} tokens{energy_txt}{flag_txt}"
        )


def fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def read_events(run_dir: str | Path) -> list[dict[str, Any]]:
    return list(read_jsonl(Path(run_dir) / "events.jsonl"))
