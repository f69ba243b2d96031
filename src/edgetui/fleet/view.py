"""What a fleet looks like from its folder alone: one row per board (state, configuration i of N,
tokens/s now, power, temperature), folded from hosts.json and each host's mirrored run folder the
way the console folds a local run (rundir.follow.LiveState). Used by the headless controller for
its one line per board event, by `edgetui fleet status`, and by the console's fleet pane."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from edgetui.fleet.layout import read_hosts
from edgetui.rundir.events import RAW_PROGRESS
from edgetui.rundir.follow import JsonlTail, LiveState, number_or_none
from edgetui.rundir.manifest import RunManifest
from edgetui.rundir.samples import Sample
from edgetui.rundir.samples_tail import SamplesTail
from edgetui.rundir.store import RunStore, read_jsonl

if TYPE_CHECKING:
    from edgetui.run.session import RunFollower


@dataclass
class BoardRow:
    host: str
    board: str | None
    state: str
    detail: str | None
    config_index: int | None
    n_configs: int | None
    decode_tps: float | None  # now while decoding, else the last repetition's
    power_w: float | None
    temp_c: float | None
    remote_status: str | None

    @property
    def progress(self) -> str:
        if self.n_configs is None:
            return ""
        return f"{self.config_index or 0}/{self.n_configs}"


def run_counts(run_dir: Path) -> tuple[int | None, int, int]:
    """(configurations planned, done, failed or skipped) of a (mirrored) run folder."""
    store = RunStore(run_dir)
    try:
        data = store.read_manifest()
        n = len(RunManifest.from_dict(data).configs) if data is not None else None
    except Exception:  # a manifest from another edgetui, mid-copy or not one at all: counts unknown
        n = None
    # a board's lines: any JSON value, of which only objects with a text config_id are outcomes
    outcomes = {r["config_id"]: r.get("status") for r in read_jsonl(store.configs_path)
                if isinstance(r, dict) and isinstance(r.get("config_id"), str)}
    done = sum(1 for s in outcomes.values() if s == "done")
    return n, done, len(outcomes) - done


class BoardFollower:
    """One host's mirror folded into a LiveState, read by byte offset like a local run."""

    def __init__(self, mirror: Path, *, from_end: bool = False) -> None:
        self.mirror = mirror
        self.state = LiveState()
        self.store = RunStore(mirror)
        self.events = JsonlTail(self.store.events_path)
        self.samples = SamplesTail(mirror)
        self.samples.start_near_end(64 << 10)
        self._manifest_mtime: float | None = None
        self.printed = 0
        self.board: str | None = None
        self.error: str | None = None  # why this board's run could not be folded (then it no longer is)
        if from_end:  # what was already there is folded in, but not told again
            self.poll()
            self.printed = self.state._seq

    def poll(self) -> None:
        """Fold what is new; an error is this board's alone: kept in `error`, and folding stops."""
        if self.error is not None:
            return
        try:
            self._poll()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"[:300]

    def _poll(self) -> None:
        try:
            mtime = self.store.manifest_path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime is not None and mtime != self._manifest_mtime:
            try:
                manifest = RunStore(self.mirror).read_manifest()
            except Exception:
                manifest = None
            if manifest:
                self._manifest_mtime = mtime
                self.state.set_manifest(manifest)
        try:  # a long backlog (a late start, a resume): progress events are skipped unparsed
            backlog = self.events.path.stat().st_size - self.events.offset > (64 << 10)
        except OSError:
            backlog = False
        skip = (lambda raw: RAW_PROGRESS in raw) if backlog else None
        self.state.feed_events(self.events.read(skip=skip))
        while self.events.pending:
            self.state.feed_events(self.events.read(skip=skip))
        self.state.feed_samples(cast("list[Sample]", self.samples.read()))
        if self.board is None and self.store.json_path.is_file():
            from edgetui.fleet.merge import run_rows

            self.board = next((r["board"] for r in run_rows(self.mirror) if r.get("board")), None)

    def new_lines(self) -> list[str]:
        lines = [ln.text for ln in self.state.log if ln.seq > self.printed]
        if self.state.log:
            self.printed = max(self.printed, self.state.log[-1].seq)
        return lines


class FleetView:
    """Every host of a fleet run, polled together."""

    def __init__(self, fleet_dir: str | Path, hosts: list[str], *, from_end: bool = False) -> None:
        self.root = Path(fleet_dir)
        self.hosts = list(hosts)
        self.from_end = from_end
        self.boards: dict[str, BoardFollower] = {}
        self.entries: dict[str, dict[str, Any]] = {}

    def board(self, host: str) -> BoardFollower:
        if host not in self.boards:
            self.boards[host] = BoardFollower(self.root / host, from_end=self.from_end)
        return self.boards[host]

    def poll(self) -> list[BoardRow]:
        self.entries = read_hosts(self.root)
        rows = []
        for host in self.hosts:
            entry = self.entries.get(host, {})
            b = self.board(host)
            if (self.root / host).is_dir():
                b.poll()
            s = b.state
            cur = s.current
            sample = s.sample or {}
            decode = s.decode_now if s.decoding else (s.last_rep.decode_tps if s.last_rep else None)
            n_configs = s.n_configs
            index = cur.index if cur is not None else None
            if s.run_end is not None and n_configs is not None:
                index = n_configs
            host_info = s.manifest.get("host") if s.manifest else None
            host_board = host_info.get("board_model") if isinstance(host_info, dict) else None
            rows.append(BoardRow(
                host=host, board=entry.get("board") or b.board or host_board,
                state=str(entry.get("state", "pending")), detail=entry.get("detail"),
                config_index=index, n_configs=n_configs, decode_tps=decode,
                power_w=number_or_none(sample.get("power_w")), temp_c=number_or_none(sample.get("temp_c_max")),
                remote_status=entry.get("remote_status"),
            ))
        return rows


def mirror_follower(fleet_dir: str | Path, host: str) -> RunFollower:
    """A RunFollower (the console's live screen reads one) on a host's mirror: the runner's pid is
    the board's, so whether it lives is what the board last said (hosts.json), and its event
    times are the board's monotonic clock, so the follower's clock is ours plus the board's offset.
    Pause, skip and abort write the mirror's control.json, which the controller sends to the board;
    a resume is the fleet's (`edgetui fleet resume`), never a local runner on a mirror."""
    import time

    from edgetui.run.session import RunFollower

    root = Path(fleet_dir)

    def entry() -> dict[str, Any]:
        return read_hosts(root).get(host, {})

    def alive(pid: int | None) -> bool:
        return entry().get("remote_status") in ("running", "starting")

    offset = float(entry().get("clock_offset") or 0.0)

    class MirrorFollower(RunFollower):
        remote = True

        def resume(self, sysfs_root: str | None = None) -> None:
            raise OSError(f"this run is on {host}: continue it with `edgetui fleet resume {root}`")

    return MirrorFollower(root / host, attach=True, alive=alive, clock=lambda: time.monotonic() + offset)
