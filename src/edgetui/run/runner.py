"""The runner: drives a queue of configurations through inference children, with the sampler
alongside, and writes every finished repetition to the results store before the next begins.

It is the same code for `edgetui run --headless` and for the console, which starts it as a
detached process and follows its files."""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, cast

import psutil

from edgetui import __version__, models
from edgetui.engines.base import RepResult
from edgetui.errors import UserError
from edgetui.models.quantize import QuantizeError
from edgetui.profiles.plan import Configuration, expand_all
from edgetui.profiles.schema import Profile
from edgetui.quality.passes import QualitySpec
from edgetui.run import quality_pass, silence
from edgetui.run.aggregate import result_row
from edgetui.run.child import ChildDied, InferenceChild
from edgetui.run.context import ConfigPeaks, LoadFacts, config_context
from edgetui.run.modelfacts import ModelFacts, memory_refusal, read_model_facts
from edgetui.run.repetition import EVENT_KEYS, repetition_row
from edgetui.run.sampler import Sampler
from edgetui.run.schedule import schedule_for
from edgetui.run.variants import facts_key, variant_cached, variant_facts
from edgetui.rundir.control import ControlPoller, ControlRequest
from edgetui.rundir.events import (
    ConfigEnd,
    ConfigStart,
    Event,
    Idle,
    Loaded,
    MalformedRecord,
    Phase,
    Progress,
    QualityEnd,
    RepEnd,
    RepStart,
    RunEnd,
    RunStart,
    RunWarning,
    decode_event,
)
from edgetui.rundir.layout import EVENTS, LOGS
from edgetui.rundir.lock import FolderChanged, RunFolderLock
from edgetui.rundir.manifest import RunManifest
from edgetui.rundir.narrate import SKIPPED_BY_USER, Narrator
from edgetui.rundir.samples import Sample
from edgetui.rundir.state import refuse_live_child
from edgetui.rundir.store import RunStore, StoreWriteFailed, repeated_note
from edgetui.sensors import PowerChoiceError, SensorSet, make_context
from edgetui.sensors.host import host_info


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StoreWriteError(Exception):
    """The results folder stopped taking writes (disk full, removed, read-only), or its path now
    names another folder (FolderChanged): the queue stopped."""

    def __init__(self, root: Path, exc: OSError | None = None, *, message: str | None = None) -> None:
        self.root, self.exc = root, exc
        super().__init__(message or (
            f"could not write to the results folder {root}: {exc.strerror if exc else 'error'}. The queue stopped; "
            f"every repetition recorded before is intact. Free space, then `edgetui run --resume {root}`."
        ))


class RunCrashed(Exception):
    """An error the runner did not expect stopped the queue: run.json says "crashed" with its
    summary, runner.log has its traceback, and a resume continues from the first repetition not
    on disk."""

    def __init__(self, root: Path, summary: str) -> None:
        self.root, self.summary = root, summary
        super().__init__(f"the runner crashed: {summary}. Every repetition recorded before is intact; the "
                         f"traceback is in {root / 'runner.log'}. `edgetui run --resume {root}` continues the run.")


def error_summary(exc: BaseException) -> str:
    """An exception in one line: its type and its message's first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def config_os_error(exc: OSError) -> str:
    """An OSError of a configuration's own (not the store's): what failed and on what file."""
    what = exc.strerror or str(exc)
    return f"{what}: {exc.filename}" if exc.filename else what


class ConfigFailed(Exception):
    pass


class ChildSilent(ConfigFailed):
    """The inference child said nothing for far longer than any board takes (run.silence)."""


class Stopped(Exception):
    """The user asked to skip this configuration or abort the queue (control.json)."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


def with_crash_hint(reason: str, c: Configuration, load_info: dict[str, Any]) -> str:
    """A child's death, with the known cause where the engine knows one (before its log's tail)."""
    from edgetui.engines.registry import engine_class

    hint = engine_class(c.engine).crash_hint(reason, str(load_info.get("system_info", "")))
    if hint is None:
        return reason
    head, sep, tail = reason.partition("; last log lines:")
    return f"{head} ({hint}){sep}{tail}"


def run_sensors(profiles: list[Profile], sysfs_root: str | None, power_source: str | None) -> SensorSet:
    """The sensors a run of these profiles reads (the first profile's [power] and [board] settings);
    a power source that cannot be had here is refused as bad input."""
    first = profiles[0]
    ctx = make_context(sysfs_root, options={"power": first.power.__dict__, "board": first.board.__dict__})
    try:
        return SensorSet(ctx, power_source or first.power.source)
    except PowerChoiceError as exc:
        raise UserError(str(exc), where="power source") from None


class Runner:
    """One pass over a queue of profiles into one results folder. `prepare()` checks the folder and
    reads every model file; `run()` measures; `rows` holds the results rows of this pass."""

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
        # one runner per folder, for its whole life: taken before anything is read for resuming;
        # the store writes only into the folder it was taken in (a folder made again at that path is not ours)
        self.lock = RunFolderLock(self.store.root, what="runner")
        self.store.bind(self.lock)
        self.on_line = on_line or (lambda s: None)
        self.narrator = Narrator()  # what on_line says of each event (rundir.narrate)
        self.resume = resume
        self.configs: list[Configuration] = expand_all(profiles)
        self.sensors = run_sensors(profiles, sysfs_root, power_source)
        self.host = host_info(str(self.sensors.ctx.root))
        hz = max(p.sample_hz for p in profiles)
        self.sampler = Sampler(self.sensors, hz=hz, on_sample=self._on_sample)  # its file opens in run()
        self.rows: dict[str, dict[str, Any]] = {}
        self.peaks = ConfigPeaks()
        self.current: Configuration | None = None
        self.events: IO[str] | None = None
        self.idle_w: float | None = None
        self.model_facts: dict[str, ModelFacts] = {}  # by variants.facts_key: a model, or a model's variant
        self.variant_refusals: dict[str, str] = {}  # a variant the quantizer refused, and why
        self.quality_done: dict[tuple[Any, ...], dict[str, Any]] = {}  # one pass per model variant
        self.quality_ctx: dict[str, Any] = {}  # the quality columns of the configuration in flight
        self.load = LoadFacts()
        self.aborted = False
        self.crash: str | None = None  # the summary of an error that stopped the queue unexpectedly
        self.folder_changed = False
        self.children: list[InferenceChild] = []  # every inference child started, to stop those an error left behind
        self.control = ControlPoller.of(self.store.root)
        self.config_started_at: str | None = None
        self.failed = 0
        self._server_note: str | None = None  # the last line said of a server's memory, said again only when it changes

    # --------------------------------------------------------------- events
    def event(self, ev: Event) -> None:
        if ev.t is None:
            ev.t = time.monotonic()
        if self.events:
            self.store.check_same_folder()  # FolderChanged: this runner's folder is gone from its path
            try:
                self.events.write(json.dumps(ev.record(), separators=(",", ":"), default=str) + "\n")
                self.events.flush()
            except OSError as exc:
                raise StoreWriteFailed(self.store.events_path, exc) from None
        for told in self.narrator.tell(ev):  # the console's log says the same of the same event
            self.on_line(told.text)

    def warn(self, message: str) -> None:
        """Said in the run's log: the runner's output and the console's log pane."""
        self.event(RunWarning(message=message))

    def _on_sample(self, s: Sample) -> None:
        if self.current is not None:
            self.peaks.add(s)

    # --------------------------------------------------------------- before the queue
    def prepare(self, progress: Callable[[str], None]) -> None:
        """Check the results folder takes writes and read every model file (fetching bundled ones),
        before anything runs: bad model files are refused here, as bad input. Takes the folder's
        lock first (FolderBusy, exit 2, when another runner holds it)."""
        self.store.check_writable()  # a folder that cannot be made is said as such, before its lock
        self._take_lock()
        try:
            self.store.prepare()
            self.model_facts = read_model_facts(self.configs, progress)
        except BaseException:
            self.lock.release()
            raise

    def _take_lock(self) -> None:
        doing = "resume this run" if self.resume else "start a run in this folder"
        self.lock.acquire(doing=doing)
        try:
            refuse_live_child(self.store.root, doing)  # the last runner's child, computing on after its kill
        except BaseException:
            self.lock.release()
            raise

    def context(self, c: Configuration) -> dict[str, Any]:
        """The context of configuration c as it stands now (see run.context)."""
        return {**config_context(
            self.profiles[c.profile], facts=self.model_facts.get(facts_key(c)) or ModelFacts(path=c.model_path),
            load=self.load, host=self.host, sensors=self.sensors, root=self.sensors.ctx.root, idle_w=self.idle_w,
            started_at=self.config_started_at, sample_hz=1.0 / self.sampler.period, peaks=self.peaks),
            **self.quality_ctx}

    # --------------------------------------------------------------- the queue
    def run(self) -> int:
        """Run the whole queue; returns the number of failed configurations. The folder's lock is
        held until it returns."""
        self._take_lock()
        try:
            return self._run()
        finally:
            self.lock.release()

    def _run(self) -> int:
        self.store.prepare()
        done_reps = self._resume_state()
        power = self.sensors.power_source()
        manifest = RunManifest(
            edgetui_version=__version__, created=now_iso(), profiles=[p.to_dict() for p in self.profiles.values()],
            configs=[c.to_dict() for c in self.configs], host=self.host, runner_pid=os.getpid(), status="running",
            power_source=power.label, power=power,
            sensors=[{"backend": s.backend.name, "detected": s.probe.detected, "reason": s.probe.reason}
                     for s in self.sensors.statuses])
        old = self.store.read_manifest() if self.resume else None
        if old:
            try:
                earlier = RunManifest.from_dict(old)
            except MalformedRecord as exc:
                raise UserError(f"cannot resume: {exc}", where=str(self.store.manifest_path)) from None
            manifest.created = earlier.created or manifest.created
            manifest.power_w_idle = earlier.power_w_idle
        try:
            self.store.write_manifest(manifest.to_dict())
            self.control.path.unlink(missing_ok=True)  # a pause or abort asked of an earlier pass is over
            self.events = self.store.open_append(EVENTS)
            samples = self.store.open_samples()
        except FolderChanged as exc:
            raise StoreWriteError(self.store.root, message=str(exc)) from None
        except (StoreWriteFailed, OSError) as exc:
            raise StoreWriteError(self.store.root, exc.exc if isinstance(exc, StoreWriteFailed) else exc) from None
        self.sampler.out = cast(IO[str], samples)
        self.sampler.start()
        self.event(RunStart(n_configs=len(self.configs), pid=os.getpid(), power_source=power.label, power=power,
                            resume=self.resume))
        repeated = self.store.repeated_reps()
        if repeated:
            self.warn(repeated_note(repeated))
        try:
            self.idle_w = manifest.power_w_idle
            if self.idle_w is None:
                self._idle_baseline()
            self._run_configs(done_reps)
        except FolderChanged as exc:
            # Deleted and made again (or moved) under us: the folder at that path is someone else's
            # now, and nothing more is written there, not even this run's end.
            self.aborted = self.folder_changed = True
            raise StoreWriteError(self.store.root, message=str(exc)) from None
        except StoreWriteFailed as exc:
            # Disk full or the folder gone: stop the queue; what is on disk stays as it was.
            self.aborted = True
            raise StoreWriteError(self.store.root, exc.exc) from None
        except Exception as exc:
            # A fault of the runner's own: not an outcome of the queue; recorded as such, resumable.
            self.crash = error_summary(exc)
            self._keep_traceback()
            raise RunCrashed(self.store.root, self.crash) from exc
        except BaseException:  # Ctrl-C, SystemExit: stopped, as by the abort key
            self.aborted = True
            raise
        finally:
            self.sampler.stop()
            status = "crashed" if self.crash else "aborted" if self.aborted else "finished"
            end: dict[str, Any] = {"status": status, "finished": now_iso()}
            if self.crash:
                end["error"] = self.crash
            steps = [lambda: samples.close(), lambda: self.events.close() if self.events else None]
            if not self.folder_changed:
                steps[1:1] = [lambda: self.event(RunEnd(status=status, failed=self.failed, error=self.crash)),
                              lambda: self.store.update_manifest(**end)]
            for step in steps:
                try:
                    step()
                except (OSError, StoreWriteFailed, FolderChanged, UserError):
                    pass  # the disk that failed above fails here too; the manifest says "running"
            self.sensors.close()
        if self.sampler.write_error is not None:
            self.on_line(f"note: the sample stream stopped early: {self.sampler.write_error}")
        return self.failed

    def _keep_traceback(self) -> None:
        """The crash's traceback in runner.log, for the bug report (the console shows its tail)."""
        try:
            self.store.append_runner_log(f"{now_iso()} the runner crashed (pid {os.getpid()}):\n"
                                         f"{traceback.format_exc()}")
        except (StoreWriteFailed, FolderChanged, OSError):
            pass

    def _resume_state(self) -> dict[str, dict[int, dict[str, Any]]]:
        """The counted repetitions already on disk, by configuration and repetition index (their rows:
        a rule that stops on the data counts them towards it)."""
        done: dict[str, dict[int, dict[str, Any]]] = {}
        if not self.resume:
            return done
        for r in self.store.reps():
            if not r.get("warmup"):
                done.setdefault(r["config_id"], {})[r["rep"]] = r
        return done

    def _idle_baseline(self) -> None:
        secs = max(p.idle_baseline_s for p in self.profiles.values())
        if secs <= 0:
            return
        self.sampler.set_phase("idle")
        self.event(Phase(phase="idle", seconds=secs))
        t0 = time.monotonic()
        time.sleep(secs)
        t1 = time.monotonic()
        time.sleep(self.sampler.period * 1.5)  # let a sample land past the window
        self.idle_w = self.sampler.trace.mean_power(t0, t1, self.sampler.max_gap_s)
        self.store.update_manifest(power_w_idle=self.idle_w)
        self.event(Idle(power_w_idle=self.idle_w))

    def _groups(self) -> list[list[Configuration]]:
        groups: list[list[Configuration]] = []
        for c in self.configs:
            if groups and groups[-1][0].load_key == c.load_key and groups[-1][0].profile == c.profile:
                groups[-1].append(c)
            else:
                groups.append([c])
        return groups

    def _run_configs(self, done_reps: dict[str, dict[int, dict[str, Any]]]) -> None:
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
                    try:
                        worker = self._run_config(c, index, worker, done_reps.get(c.config_id, {}))
                    except OSError as exc:
                        # not the store's (those are StoreWriteFailed): this configuration's own file
                        # or process (a model file gone mid-queue): it fails with that reason, the queue goes on
                        self._kill_children()
                        worker = None
                        self.current = None
                        self._finish(c, "failed", config_os_error(exc))
            except BaseException:
                self._kill_children()  # the worker, or one started for this configuration and not yet returned
                raise
            if worker is not None:
                worker.quit()

    def _finish(self, c: Configuration, status: str, error: str | None, *,
                recorded: dict[str, Any] | None = None) -> None:
        """Record an outcome and rewrite the results; `recorded`: the outcome an earlier pass wrote
        (on resume), shown again with its own context, not written twice."""
        reps = [r for r in self.store.reps() if r["config_id"] == c.config_id and not r.get("warmup")]
        if recorded is None:
            ctx = self.context(c)
            self.store.append_config_status({"config_id": c.config_id, "status": status, "error": error,
                                             "at": now_iso(), "context": ctx})
        else:
            ctx = recorded.get("context") or self.context(c)
        self.rows[c.config_id] = result_row(c.to_dict(), reps, status=status, error=error, context=ctx)
        self.store.write_results([self.rows[k.config_id] for k in self.configs if k.config_id in self.rows])
        if status == "failed":
            self.failed += 1
        self.event(ConfigEnd(config_id=c.config_id, status=status, error=error))

    def _check_control(self, *, wait: bool) -> None:
        """Raise Stopped for skip or abort; with wait, also hold here while paused (pause takes
        effect between repetitions, so that no repetition's timing includes the pause)."""
        while True:
            request = self._control_request()
            if request.abort:
                raise Stopped("abort")
            if self.current and request.skip == self.current.config_id:
                raise Stopped("skip")
            if not (wait and request.pause):
                return
            self.sampler.set_phase("paused")
            time.sleep(0.2)

    def _control_request(self) -> ControlRequest:
        """What control.json asks now; one that is not a request is said in the run's log and left
        out (the last good request stands)."""
        if isinstance(self.control.changed(), MalformedRecord):
            self.warn(f"a control request was ignored: {self.control.refused}")
        return self.control.request

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
            self.event(Phase(phase="cooldown", temp_c=t, target_c=p.cool_below_c))
            time.sleep(1.0)
        self.warn(f"still above {p.cool_below_c:g} C after {p.cool_max_s:g} s: going on")

    def _run_config(self, c: Configuration, index: int, worker: InferenceChild | None,
                    done: dict[int, dict[str, Any]]) -> InferenceChild | None:
        n = len(self.configs)
        self.current = c
        self.config_started_at = now_iso()
        self.peaks = ConfigPeaks.of(c.soak_s)
        self.quality_ctx = {}
        self.event(ConfigStart(config_id=c.config_id, index=index, n=n, describe=c.describe(), config=c.to_dict()))
        spec: QualitySpec | None = None
        facts: ModelFacts | None = None
        if c.in_process:
            try:
                facts = self._facts_for(c)
            except QuantizeError as exc:  # this variant cannot be had: its configurations fail, the queue goes on
                self.variant_refusals[facts_key(c)] = str(exc)
                self.model_facts[facts_key(c)] = ModelFacts(path=None, quant_source=self.model_facts[c.model].path)
                self._finish(c, "failed", str(exc))
                return worker
            except Stopped as stop:  # skip or abort while quantizing: the quantizer was killed
                self._stopped(c, stop, worker)
                return None
            refusal = memory_refusal(c, facts)
            if refusal:
                self._finish(c, "failed", refusal)
                return worker
            quality = self.profiles[c.profile].quality
            if quality is not None:
                try:
                    spec = quality_pass.quality_spec(quality, self.model_facts[c.model])
                except UserError as exc:  # the corpus or the reference went away since the profile was read
                    self._finish(c, "failed", str(exc))
                    return worker
                self.quality_ctx = self.quality_done.get(quality_pass.pass_key(facts, spec), {})
        self._cool_down_to(c)
        try:
            if spec is not None and facts is not None and not self.quality_ctx and worker is None \
                    and not quality_pass.is_reference(facts, spec) and not quality_pass.reference_cached(spec):
                self._make_reference(c, spec)  # before this variant loads: never two models in memory at once
            if worker is None:
                worker = self._start_worker(c)
            self.sampler.set_target_pids([worker.pid, *self._server_pids(c)])
            schedule = schedule_for(c, done)
            for step in schedule.steps():
                self._check_control(wait=True)
                schedule.record(step, self._run_rep(worker, c, step.rep, step.warmup, of=schedule.planned,
                                                    tags=step.tags))
            if spec is not None and facts is not None and not self.quality_ctx:
                self._check_control(wait=True)
                self._quality(worker, c, spec, facts)
        except Stopped as stop:
            self._stopped(c, stop, worker)
            return None
        except ChildDied as exc:
            reason = with_crash_hint(exc.reason, c, self.load.info)
            self._finish(c, "failed", reason)
            return None
        except ConfigFailed as exc:
            self._finish(c, "failed", str(exc))
            if worker is not None:
                worker.kill() if isinstance(exc, ChildSilent) else worker.quit()  # a hung child hears no quit
            return None
        self._finish(c, "done", None)
        p = self.profiles[c.profile]
        if p.cooldown_s > 0:
            self.sampler.set_phase("cooldown")
            self.event(Phase(phase="cooldown", seconds=p.cooldown_s))
            time.sleep(p.cooldown_s)
        self.current = None
        return worker

    def _stopped(self, c: Configuration, stop: Stopped, worker: InferenceChild | None) -> None:
        if worker is not None:
            worker.kill()
        if stop.action == "skip":
            self._finish(c, "skipped", SKIPPED_BY_USER)
        else:  # not recorded as an outcome (a resume runs this configuration again); the run's end says it
            self.aborted = True
        self.current = None

    def _quantize_control(self) -> bool:
        """Polled while the quantizer runs: Stopped for skip or abort (the quantizer is killed),
        True while paused (the quantizer is held)."""
        self._check_control(wait=False)
        paused = self._control_request().pause
        self.sampler.set_phase("paused" if paused else "quantize")
        return paused

    def _facts_for(self, c: Configuration) -> ModelFacts:
        """c's model file: the source as read before the queue, or its variant, made now (once) if
        the cache lacks it; QuantizeError when the quantizer refuses."""
        key = facts_key(c)
        if key in self.variant_refusals:
            raise QuantizeError(self.variant_refusals[key])
        source = self.model_facts[c.model]
        if source.sha256 is None and source.path:
            source.sha256 = models.file_sha256(source.path)
        if key in self.model_facts:
            return self.model_facts[key]
        self.sampler.set_phase("quantize")
        self.event(Phase(phase="quantize", config_id=c.config_id, quant=c.quant, model=Path(source.path or "").name,
                         cached=variant_cached(source, c.quant)))
        said = [time.monotonic()]

        def progress(done: int, total: int) -> None:
            self.event(Progress(config_id=c.config_id, phase="quantize", tokens=done, total=total, unit="tensors",
                                what=f"quantizing to {c.quant}"))
            if time.monotonic() - said[0] >= 5.0:  # a line now and then: it can take minutes on a board
                said[0] = time.monotonic()
                self.on_line(f"  quantizing to {c.quant}: {done}/{total} tensors")

        facts = variant_facts(c, source, progress=progress, on_made=lambda s: self.on_line(f"  {s}"),
                              control=self._quantize_control)
        self.model_facts[key] = facts
        return facts

    def _make_reference(self, c: Configuration, spec: QualitySpec) -> None:
        """The reference's log-probabilities on the corpus, kept in the cache, from a child of its own."""
        self.sampler.set_phase("quality")
        self.event(Phase(phase="quality", config_id=c.config_id, what="reference",
                         model=Path(spec.reference_file).name, tokens=spec.n_windows * spec.n_ctx))
        child = self._new_child(c)
        try:
            self.sampler.set_target_pids([child.pid])
            child.send({"cmd": "reference", "config": c.to_dict(), "model_path": spec.reference_file,
                        "spec": spec.to_dict()})
            self._await(child, "reference", silence.quality_limit_s(spec.n_ctx, loads=True))
        except BaseException:
            child.kill()
            raise
        child.quit()

    def _quality(self, worker: InferenceChild, c: Configuration, spec: QualitySpec, facts: ModelFacts) -> None:
        """The quality pass of c's model variant (once per variant): its figures go in the row, its
        energy is its own phase."""
        self.sampler.set_phase("quality")
        self.event(Phase(phase="quality", config_id=c.config_id, what="pass"))
        worker.send({"cmd": "quality", "config": c.to_dict(), "spec": spec.to_dict(),
                     "make_reference": quality_pass.is_reference(facts, spec)})
        result = self._await(worker, "quality", silence.quality_limit_s(spec.n_ctx))["result"]
        self.sampler.set_phase("between")
        deadline = time.monotonic() + (3 * self.sampler.period if self.sensors.power_backend else 0)
        while (not self.sampler.trace.ts or self.sampler.trace.ts[-1] < result["t_end"]) \
                and time.monotonic() < deadline:
            time.sleep(self.sampler.period / 4)
        energy = self.sampler.trace.energy(result["t_start"], result["t_end"], self.sampler.max_gap_s) \
            if self.sampler.trace.ts else None
        self.quality_ctx = quality_pass.quality_columns(result, spec, energy)
        self.quality_done[quality_pass.pass_key(facts, spec)] = self.quality_ctx
        self.event(QualityEnd(config_id=c.config_id, **self.quality_ctx))

    def _server_pids(self, c: Configuration) -> list[int]:
        """A server engine's process and its children, whose memory is the model's (after the load,
        when Ollama has started its model runner)."""
        if c.in_process:
            return []
        from edgetui.engines.serverproc import find_server_for

        e = self.profiles[c.profile].engine
        found = find_server_for(c.engine, c.engine_url, pid=e.server_pid, process=e.server_process,
                                port=e.server_port)
        note = (f"following the server's memory: pid {', '.join(map(str, found.pids))} ({found.how})"
                if found.found else f"server memory: n/a ({found.how})")
        if self._server_note != note:
            self._server_note = note
            self.on_line(f"  {note}")
        return found.pids

    def _kill_children(self) -> None:
        for child in self.children:
            if child.proc.poll() is None:
                child.kill()
        self.children = []

    def _new_child(self, c: Configuration) -> InferenceChild:
        """An inference child logging to c's log (in this runner's folder), recorded in child.json so
        that a resume never measures beside it should this runner be killed."""
        log = self.store.open_append(f"{LOGS}/{c.config_id}.log", binary=True)
        child = InferenceChild(self.store.log_path(c.config_id), log=log)
        self.children = [ch for ch in self.children if ch.proc.poll() is None] + [child]
        try:
            try:
                started = psutil.Process(child.pid).create_time()
            except psutil.Error:
                started = None
            self.store.write_child(child.pid, started, os.getpid())
        except BaseException:
            child.kill()
            raise
        return child

    def _start_worker(self, c: Configuration) -> InferenceChild:
        self.load = LoadFacts()
        worker = self._new_child(c)
        try:
            self.sampler.set_target_pids([worker.pid])
            self.sampler.set_phase("load")
            self.event(Phase(phase="load", config_id=c.config_id, pid=worker.pid))
            facts = self.model_facts.get(facts_key(c))
            worker.send({"cmd": "load", "config": c.to_dict(), "model_path": facts.path if facts else c.model_path})
            ev = self._await(worker, "loaded", silence.LOAD_SILENCE_S)
        except BaseException:
            worker.kill()  # not yet the caller's to stop: a child that failed its load, or hung in it
            raise
        time.sleep(self.sampler.period * 1.5 if self.sensors.power_backend else 0)  # a sample past the load
        load_e = self.sampler.trace.energy(ev["t_start"], ev["t_end"], self.sampler.max_gap_s)
        self.load = LoadFacts(load_s=ev["load_s"], engine_version=ev["engine_version"], info=ev.get("info", {}),
                              load_energy_j=load_e)
        self.event(Loaded(config_id=c.config_id, load_s=ev["load_s"], engine_version=ev["engine_version"]))
        return worker

    def _await(self, worker: InferenceChild, wanted: str, silent_limit_s: float) -> dict[str, Any]:
        """Forward progress events until the wanted one; an error event fails the configuration, and
        so does a child that says nothing for silent_limit_s (taken for hung: ChildSilent)."""
        while True:
            self._check_control(wait=False)
            ev = worker.next_event(timeout=0.5)
            if ev is None:
                if worker.silent_for() > silent_limit_s:
                    raise ChildSilent(f"the inference child said nothing for {silent_limit_s:.0f} s while asked for "
                                      f"its {wanted!r} answer (far slower than any board): taken for hung and stopped")
                continue
            if ev["ev"] == "error":
                raise ConfigFailed(ev["message"])
            if ev["ev"] == "progress":
                if self.sampler.phase != ev["phase"]:
                    self.sampler.set_phase(ev["phase"])
                progress = decode_event(ev)  # the engine's dict, as the run folder's record
                if progress is not None:
                    self.event(progress)
                continue
            if ev["ev"] == wanted:
                return ev

    def _run_rep(self, worker: InferenceChild, c: Configuration, rep: int, warm: bool,
                 of: int | None, tags: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One repetition (or warm-up), recorded; returns its row."""
        auto_max = c.repetitions if c.target_ci_pct is not None else None  # repetitions = "auto"
        self.event(RepStart(config_id=c.config_id, rep=rep, warmup=warm, of=of, auto_max=auto_max))
        worker.send({"cmd": "run", "config": c.to_dict(), "rep": rep, "warmup": warm})
        ev = self._await(worker, "result", silence.repetition_limit_s(c))
        self.sampler.set_phase("between")
        r = RepResult(**ev["result"])
        # let the sampler land one sample past the end, so the window is covered
        deadline = time.monotonic() + (3 * self.sampler.period if self.sensors.power_backend else 0)
        while (not self.sampler.trace.ts or self.sampler.trace.ts[-1] < r.t_end) and time.monotonic() < deadline:
            time.sleep(self.sampler.period / 4)
        row = repetition_row(c, rep, warm, r, trace=self.sampler.trace, max_gap_s=self.sampler.max_gap_s,
                             idle_w=self.idle_w, peaks=self.peaks, at=now_iso())
        row.update(tags or {})
        if not warm:
            self.peaks.counted_rep(r.t_start, r.t_end)
            self.store.append_rep(row)
        end = RepEnd(config_id=c.config_id, rep=rep, warmup=warm, of=of, auto_max=auto_max,
                     **{k: row.get(k) for k in EVENT_KEYS})
        self.event(end)
        return row
