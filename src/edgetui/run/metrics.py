"""A run's live figures for Prometheus (`edgetui run --prometheus FILE.prom`, `--metrics-port PORT`):
tokens/s, power, temperature, memory and progress, with board and configuration labels.

The exporter follows the run folder as the console does (run.session.RunFollower folding its
events and samples into a rundir.follow.LiveState), so its figures are the live screen's, computed
once. Each second it refreshes a snapshot of gauges; node_exporter's textfile collector reads the
file, rewritten atomically (prometheus_client.write_to_textfile: a temporary file renamed over
it), and Prometheus scrapes the port, served on loopback only. A figure not known (no power
sensor, nothing decoding) is absent, never zero."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from edgetui.errors import UserError
from edgetui.fmt import NA
from edgetui.run.session import RunFollower
from edgetui.rundir.follow import LiveState

PERIOD_S = 1.0
MIB = 2**20
CONFIG_LABELS = ("board", "profile", "config_id", "model", "engine")


def board_of(state: LiveState, profile: str | None) -> str:
    """The board a run measures: its profile's [board] name, else the machine's model, else its host."""
    for p in state.manifest.get("profiles") or []:
        if p.get("name") == profile and (p.get("board") or {}).get("name"):
            return str(p["board"]["name"])
    host = state.manifest.get("host") or {}
    return str(host.get("board_model") or host.get("host") or "unknown")


def families(state: LiveState, now: float) -> list[Any]:
    """The gauges of one moment of a run, from the live screen's own state."""
    cur = state.current
    config = state.config_of(cur.config_id if cur is not None else None)
    profile = config.profile if config else (state.configs[0].profile if state.configs else None)
    board = board_of(state, profile)
    labels = {"board": board}
    cfg_labels = {"board": board, "profile": profile or "", "config_id": cur.config_id if cur else "",
                  "model": config.model if config else "", "engine": config.engine if config else ""}
    out: list[Any] = []

    def gauge(name: str, doc: str, value: float | None, lab: dict[str, str]) -> None:
        if value is None:
            return  # unknown stays absent
        g = GaugeMetricFamily(name, doc, labels=list(lab))
        g.add_metric(list(lab.values()), float(value))
        out.append(g)

    status = state.manifest.get("status") or ("finished" if state.run_end else "running")
    info = InfoMetricFamily("edgetui_run", "the run being measured", labels=["board"])
    info.add_metric([board], {"status": str(status), "power_source": str(state.power_source or NA)})
    out.append(info)
    if cur is not None:
        g = GaugeMetricFamily("edgetui_configuration_index", "configuration in flight (1 = first)",
                              labels=list(cfg_labels))
        g.add_metric(list(cfg_labels.values()), float(cur.index))
        out.append(g)
        gauge("edgetui_repetitions_done", "counted repetitions finished in this configuration", cur.reps_done,
              cfg_labels)
        gauge("edgetui_repetitions_planned", "counted repetitions this configuration runs", cur.repetitions,
              cfg_labels)
        decoding = state.decoding and state.decode_now is not None
        gauge("edgetui_decode_tokens_per_second", "decode rate now (wall clock, while decoding)",
              state.decode_now if decoding else None, cfg_labels)
        last = state.last_rep
        gauge("edgetui_last_decode_tokens_per_second", "decode rate of the last repetition (engine timers)",
              last.decode_tps if last else None, cfg_labels)
        gauge("edgetui_last_prefill_tokens_per_second", "prefill rate of the last repetition (engine timers)",
              last.prefill_tps if last else None, cfg_labels)
        gauge("edgetui_last_ttft_seconds", "time to first token of the last repetition",
              last.ttft_ms / 1000 if last and last.ttft_ms is not None else None, cfg_labels)
    counts = state.counts()
    total = GaugeMetricFamily("edgetui_configurations", "configurations of the run by outcome (total: planned)",
                              labels=["board", "outcome"])
    for outcome in ("done", "failed", "skipped"):
        total.add_metric([board, outcome], float(counts.get(outcome, 0)))
    if state.n_configs is not None:
        total.add_metric([board, "total"], float(state.n_configs))
    out.append(total)
    gauge("edgetui_run_elapsed_seconds", "time since the run started", state.elapsed(now), labels)
    gauge("edgetui_run_eta_seconds", "estimated time left", state.eta(now), labels)
    s = state.sample or {}
    gauge("edgetui_power_watts", "power now, from the run's power source (see edgetui_run_info)", s.get("power_w"),
          labels)
    gauge("edgetui_power_idle_watts", "idle power measured before the queue", state.power_w_idle, labels)
    gauge("edgetui_temperature_max_celsius", "hottest temperature reading now", s.get("temp_c_max"), labels)
    throttled = s.get("throttled")
    gauge("edgetui_throttled", "1 while the board throttles", None if throttled is None else float(bool(throttled)),
          labels)
    gauge("edgetui_inference_rss_bytes", "memory of the inference process (or server)",
          rss * MIB if (rss := s.get("rss_mb")) is not None else None, cfg_labels)
    gauge("edgetui_memory_used_bytes", "system memory used",
          used * MIB if (used := s.get("mem_used_mb")) is not None else None, labels)
    gauge("edgetui_memory_total_bytes", "system memory",
          mem * MIB if (mem := s.get("mem_total_mb")) is not None else None, labels)
    return out


class Snapshot(Collector):
    """The gauges of the last refresh, handed to every scrape and textfile write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: list[Any] = []

    def set(self, fams: Iterable[Any]) -> None:
        with self._lock:
            self._families = list(fams)

    def collect(self) -> Iterator[Any]:
        with self._lock:
            return iter(list(self._families))


@dataclass(frozen=True)
class MetricsOptions:
    """Where a run's metrics go: node_exporter's textfile, a loopback port, or both."""

    textfile: Path | None = None
    port: int | None = None

    def check(self, *, port_free: bool = False) -> None:
        """Refuse a textfile that cannot be written, a port out of range, or (port_free) one already
        taken: before the run, where the user still reads the message."""
        if self.textfile is not None:
            if self.textfile.suffix != ".prom":
                raise UserError("node_exporter's textfile collector reads only files ending in .prom",
                                where=str(self.textfile))
            if not self.textfile.parent.is_dir():
                raise UserError("no such folder for the metrics file", where=str(self.textfile))
        if self.port is not None:
            if not 1 <= self.port <= 65535:
                raise UserError(f"a port from 1 to 65535, got {self.port}", where="--metrics-port")
            if port_free:
                with socket.socket() as s:
                    try:
                        s.bind(("127.0.0.1", self.port))
                    except OSError as exc:
                        raise UserError(f"cannot serve metrics on 127.0.0.1:{self.port}: {exc.strerror or exc}",
                                        where="--metrics-port") from None


class MetricsExporter:
    """Follows one run folder; every PERIOD_S refreshes the gauges, rewrites the textfile and
    serves them on the loopback port. Started before the run, stopped after its last write."""

    def __init__(self, run_dir: str | Path, options: MetricsOptions, *, period_s: float = PERIOD_S) -> None:
        self.follower = RunFollower(run_dir)
        self.options = options
        self.textfile = options.textfile
        self.port = options.port
        self.period_s = period_s
        self.snapshot = Snapshot()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.snapshot)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metrics", daemon=True)
        self._server: Any = None
        self.write_error: str | None = None

    def start(self) -> MetricsExporter:
        self.options.check()
        if self.port is not None:
            try:
                self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
            except OSError as exc:
                raise UserError(f"cannot serve metrics on 127.0.0.1:{self.port}: {exc.strerror or exc}",
                                where="--metrics-port") from None
        self.refresh()
        self._thread.start()
        return self

    def refresh(self) -> None:
        self.follower.poll()
        self.snapshot.set(families(self.follower.state, self.follower.clock()))
        if self.textfile is not None:
            try:
                write_to_textfile(str(self.textfile), self.registry)
            except OSError as exc:  # the run goes on; the next second tries again
                self.write_error = f"{self.textfile}: {exc.strerror or exc}"

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.refresh()

    def stop(self) -> None:
        """A last refresh (the run's outcome), then the server closes."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.refresh()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
