"""The fleet controller: `edgetui fleet run` and `edgetui fleet resume`.

It deploys and launches through ansible-runner (deploy.py) and, as each host's launch succeeds,
follows that board's run into FLEET_RUN/<host>/ (mirror.py); when every board has ended, or could
not run, it merges the rows (merge.py). A host that fails is that host's failure: it is recorded
with its reason and the others go on. The boards' runs are detached there and never depend on
the controller: a controller that is closed or crashes loses nothing, and `fleet resume` follows
what is still running, collects what finished, continues a board's interrupted run, and deploys
to the hosts that never started."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edgetui import __version__
from edgetui.errors import EXIT_FAILED_CONFIGS, EXIT_OK, UserError
from edgetui.fleet import deploy
from edgetui.fleet.inventory import FleetHost, load_inventory
from edgetui.fleet.layout import FleetDir, is_fleet_dir, now_iso
from edgetui.fleet.merge import merge
from edgetui.fleet.mirror import RemoteFollower
from edgetui.fleet.view import FleetView, run_counts
from edgetui.rundir.control import ControlPoller
from edgetui.rundir.events import MalformedRecord
from edgetui.rundir.layout import RUNNER_LOG, is_run_folder
from edgetui.rundir.state import RESUMABLE

TICK_S = 0.5
# A request (pause, skip, abort) sent over a link that drops mid-send is sent again: it sets the
# same keys to the same values, so a copy that did arrive the first time changes nothing.
CONTROL_ATTEMPTS = 4
CONTROL_RETRY_S = 2.0


@dataclass
class FleetOptions:
    reconnect_for_s: float = 600.0  # how long a board may stay out of reach before it is "lost"
    stream_interval_s: float = 0.5  # how often the board's side looks for new bytes
    # a deploy round (probe, install, launch on its hosts) is stopped past this: an install that
    # compiles llama-cpp-python on a slow board takes tens of minutes, a hung one forever
    deploy_deadline_s: float = 3600.0


# What names built from profiles become before they name folders or reach Ansible: a profile's
# name is anyone's text (a shared profile), and Ansible would render "{{ ... }}" in it.
_NOT_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
RUN_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
TEMPLATE_MARKS = ("{{", "{%", "{#")


def slug(text: str, limit: int = 50) -> str:
    """text reduced to letters, digits and . _ - (a run of anything else is one "_")."""
    return _NOT_SLUG.sub("_", text)[:limit].strip("._-") or "run"


def default_fleet_dir(profile_names: list[str]) -> Path:
    from edgetui.rundir.layout import default_runs_dir

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return default_runs_dir() / f"fleet-{stamp}-{slug('+'.join(profile_names))}"


def _wheel_folder(wheel: str | None) -> Path | None:
    """The folder of wheels to copy to boards that need an install (checked before anything runs)."""
    if not wheel:
        return None
    p = Path(wheel).expanduser().resolve()
    if p.is_file() and p.suffix == ".whl":
        candidates = [p]
    elif p.is_dir():
        candidates = sorted(p.glob("*.whl"))
    else:
        raise UserError("no such wheel file or folder of wheels", where=wheel)
    ours = [c for c in candidates if c.name.startswith(f"edgetui-{__version__}-") and "{" not in c.name]
    if not ours:
        raise UserError(f"no edgetui {__version__} wheel here; build one with `pip wheel --no-deps -w dist .` "
                        "(and, for boards without the internet, every dependency: `pip wheel -w dist .` on a "
                        "board of the same kind)", where=wheel)
    return p


def _our_wheel(wheels: Path | None) -> str:
    """The file name of this edgetui's wheel among those given (a file, or the newest of a folder);
    "" when none is (then a board without this edgetui is refused: nothing comes from an index)."""
    if wheels is None:
        return ""
    if wheels.is_file():
        return wheels.name
    ours = sorted(wheels.glob(f"edgetui-{__version__}-*.whl"), key=lambda p: p.stat().st_mtime)
    return ours[-1].name if ours else ""


def _stage_profiles(staged: Path, hosts: list[FleetHost], profiles: list[Path], wheels: Path | None) -> None:
    """One folder of profiles per host: the files as they are, or with [board] name set to the
    host's edgetui_board."""
    from edgetui.tomlread import tomllib

    for host in hosts:
        folder = staged / host.name
        folder.mkdir(parents=True, exist_ok=True)
        for src in profiles:
            if host.board:
                import tomli_w

                data = tomllib.loads(src.read_text(encoding="utf-8"))
                data.setdefault("board", {})["name"] = host.board
                (folder / src.name).write_text(tomli_w.dumps(data), encoding="utf-8")
            else:
                shutil.copyfile(src, folder / src.name)
    if wheels is not None and wheels.is_file():
        (staged / "wheels").mkdir()
        shutil.copyfile(wheels, staged / "wheels" / wheels.name)


class FleetController:
    def __init__(self, fleet_dir: Path, hosts: list[FleetHost], manifest: dict[str, Any], *,
                 on_line: Callable[[str], None] | None = None, options: FleetOptions | None = None) -> None:
        self.dir = FleetDir(fleet_dir, on_line)
        self.hosts = {h.name: h for h in hosts}
        self.manifest = manifest
        self.options = options or FleetOptions()
        self.stop = threading.Event()
        self.followers: dict[str, RemoteFollower] = {}
        self._lock = threading.Lock()
        self._resumed: set[str] = set()
        self._pending_resume: list[str] = []
        self._deploys: list[threading.Thread] = []
        self.allow_remote_resume = False
        self._controls: dict[str, ControlPoller] = {}  # host -> its mirror's control.json, as last read
        self._control_generation: dict[str, int] = {}  # host -> number of the newest request taken
        self._unreadable: set[str] = set()  # hosts whose mirrored run could not be folded

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, fleet_dir: str | Path, inventory: str | Path, profile_paths: list[str | Path], *,
               limit: list[str] | None = None, wheel: str | None = None, on_line: Callable[[str], None] | None = None,
               options: FleetOptions | None = None) -> FleetController:
        """Check everything that can be checked here (exit code 2 material) and write fleet.json."""
        from edgetui.profiles.schema import load_profiles

        if not profile_paths:
            raise UserError("name at least one profile, e.g. `edgetui fleet run hosts.ini profiles/smoke.toml`")
        profiles = load_profiles(list(profile_paths))
        names: dict[str, Path] = {}
        for p in profiles:
            if any(mark in p.path.name for mark in TEMPLATE_MARKS):  # it is copied to the boards by this name
                raise UserError("a profile's file name may not hold {{, {% or {# (Ansible would take it for a "
                                "template); rename the file", where=str(p.path))
            if p.path.name in names:
                raise UserError(f"two profiles share the file name {p.path.name} ({names[p.path.name]}); "
                                "rename one: they are copied side by side to each board", where=str(p.path))
            names[p.path.name] = p.path
        wheels = _wheel_folder(wheel)
        hosts = load_inventory(inventory, limit=limit)
        root = Path(fleet_dir)
        if is_fleet_dir(root):
            raise UserError(f"already holds a fleet run: continue it with `edgetui fleet resume {root}`, "
                            "or give another --out folder", where=str(root))
        if is_run_folder(root):
            raise UserError("holds a run of this machine; give another --out folder", where=str(root))
        root.mkdir(parents=True, exist_ok=True)
        created = datetime.now().strftime("%Y%m%d-%H%M%S")
        manifest = {
            "kind": "edgetui-fleet", "created": now_iso(), "edgetui_version": __version__,
            "inventory": str(Path(inventory).resolve()), "limit": limit or None,
            "profiles": [str(Path(p.path).resolve()) for p in profiles],
            "run_name": f"{slug(root.resolve().name, 100)}-{created}",  # the runs' folder name on every board
            "wheel": str(wheels) if wheels else None,
            "hosts": [h.name for h in hosts],
        }
        controller = cls(root, hosts, manifest, on_line=on_line, options=options)
        controller.dir.write_manifest(manifest)
        for h in hosts:
            controller.dir.set_host(h.name, "pending", None, say=False)
        return controller

    @classmethod
    def open(cls, fleet_dir: str | Path, *, on_line: Callable[[str], None] | None = None,
             options: FleetOptions | None = None) -> FleetController:
        """An existing fleet run, its hosts read again from its inventory (connection settings are
        never copied into the fleet folder)."""
        fd = FleetDir(fleet_dir)
        manifest = fd.read_manifest()
        inventory = manifest.get("inventory")
        if not inventory or not Path(inventory).exists():
            raise UserError(f"the inventory this fleet ran on is gone ({inventory}); the hosts cannot be reached "
                            "without it", where=str(fleet_dir))
        if not isinstance(manifest.get("run_name"), str) or not RUN_NAME.match(manifest["run_name"]):
            raise UserError(f"fleet.json's run_name {str(manifest.get('run_name'))[:80]!r} is not a folder name of "
                            "letters, digits and . _ - (written by another edgetui, or edited)", where=str(fleet_dir))
        names = manifest.get("hosts") or []
        found = {h.name: h for h in load_inventory(inventory)}
        missing = [n for n in names if n not in found]
        if missing:
            raise UserError(f"host(s) {', '.join(missing)} are no longer in {inventory}", where=str(fleet_dir))
        return cls(Path(fleet_dir), [found[n] for n in names], manifest, on_line=on_line, options=options)

    # ------------------------------------------------------------------ guard
    def claim(self) -> None:
        """One controller per fleet run: a second one (a resume while a controller still follows)
        would write the same mirrors twice over."""
        import os

        from edgetui.rundir.state import runner_alive

        pid = self.manifest.get("controller_pid")
        if pid and pid != os.getpid() and runner_alive(pid):
            raise UserError(f"a controller (pid {pid}) is following this fleet run already; "
                            f"`edgetui fleet status {self.dir.root}` shows where it stands", where=str(self.dir.root))
        self.manifest["controller_pid"] = os.getpid()
        self.dir.update_manifest(controller_pid=os.getpid())

    # ------------------------------------------------------------------ deploy
    def _deploy(self, plan: dict[str, str], install: bool) -> None:
        """plan: host -> "new" or "resume". Runs the playbook; followers start as launches succeed."""
        hosts = [self.hosts[h] for h in plan]
        wheels = Path(self.manifest["wheel"]) if self.manifest.get("wheel") else None
        profiles = [Path(p) for p in self.manifest["profiles"]]
        for h in plan:
            self.dir.set_host(h, "deploying", "installing or checking edgetui" if install and plan[h] == "new"
                              else "resuming the board's run")
        per_host = {h.name: {"probe": deploy.probe_request(h), "env": h.env, "pip_args": h.pip_args,
                             "install": install and plan[h.name] == "new", "launch": plan[h.name],
                             "profiles": [p.name for p in profiles], "ssh_extra_args": deploy.ssh_extra_args(h)}
                    for h in hosts}
        staged_wheels = ""

        def staging(folder: Path) -> None:
            nonlocal staged_wheels
            _stage_profiles(folder, hosts, profiles, wheels)
            if wheels is not None:
                staged_wheels = str(folder / "wheels") if wheels.is_file() else str(wheels)
                extravars["edgetui_wheels"] = staged_wheels

        extravars: dict[str, Any] = {"edgetui_fleet": per_host, "edgetui_version": __version__,
                                     "edgetui_run_name": self.manifest["run_name"], "edgetui_wheels": "",
                                     "edgetui_wheel_file": _our_wheel(wheels)}
        try:
            outcome = deploy.run_playbook("deploy", self.manifest["inventory"], list(plan), extravars,
                                          self._on_task, staging=staging, deadline_s=self.options.deploy_deadline_s)
        except Exception as exc:  # Ansible itself could not start: every host of this round fails
            for h in plan:
                self.dir.set_host(h, "failed", f"Ansible could not run: {exc}")
            return
        for h, result in outcome.items():
            entry = self.dir.hosts().get(h, {})
            if entry.get("state") == "deploying":  # the playbook ended with no launch for this host
                why = (f"the deploy did not finish within {self.options.deploy_deadline_s:g} s" if result == "timeout"
                       else result)
                self.dir.set_host(h, "failed", f"not started ({why})")

    def _on_task(self, r: deploy.TaskResult) -> None:
        host = r.host
        if r.status == "unreachable":
            self.dir.set_host(host, "failed", f"unreachable: {r.message}")
            return
        if r.status == "failed":
            self.dir.set_host(host, "failed", f"{r.task} failed: {r.message}")
            return
        if r.task == "probe" and r.status == "ok":
            board = deploy.parse_json_stdout(r.res) or {}
            run_dir = f"{board.get('dir')}/runs/{self.manifest['run_name']}"
            self.dir.set_host(host, python=board.get("python"), remote_dir=board.get("dir"), remote_run=run_dir,
                              board=self.hosts[host].board, edgetui_there=board.get("edgetui_version"))
            self.dir.say(host, f"reachable: Python {board.get('python_version') or board.get('probe_python_version')}, "
                               f"edgetui {board.get('edgetui_version') or 'not installed'} at {board.get('python')}")
        elif r.task == "install":
            entry = self.dir.hosts().get(host, {})
            if r.status == "skipped":
                if entry.get("edgetui_there") == __version__:
                    self.dir.say(host, f"edgetui {__version__} already there: nothing installed")
            else:
                self.dir.say(host, f"installed edgetui {__version__} into {entry.get('python')}")
        elif r.task in ("launch", "resume") and r.status == "ok":
            out = str(r.res.get("stdout") or "")
            m = deploy.LAUNCH_PID.search(out)
            what = "resumed" if r.task == "resume" else "started"
            detail = f"run {what} there, pid {m.group(1)}" if m else "its run was started already"
            self.dir.set_host(host, "launched", detail, launched=True)
            self._start_follower(host)

    # ------------------------------------------------------------------ follow
    def _start_follower(self, host: str) -> None:
        entry = self.dir.hosts().get(host, {})
        with self._lock:
            old = self.followers.get(host)
            if old is not None and old.is_alive():
                return
            def on_state(state: str, detail: str | None) -> None:
                self.dir.set_host(host, state, detail)

            def on_status(status: str, pid: Any, offset: float) -> None:
                self.dir.set_host(host, remote_status=status, remote_pid=pid, clock_offset=offset,
                                  last_seen=time.time())

            f = RemoteFollower(
                self.hosts[host], entry["python"], entry["remote_run"], self.dir.mirror(host),
                on_state=on_state, on_status=on_status, reconnect_for_s=self.options.reconnect_for_s, stop=self.stop,
                interval_s=self.options.stream_interval_s)
            self.followers[host] = f
        f.start()

    def _follower_done(self, host: str, f: RemoteFollower) -> None:
        """A follower has returned: record how the board's run ended, or that contact was lost."""
        if host in self._unreadable:
            return  # failed already, with its reason
        if f.end is None:
            if not self.stop.is_set() and self.dir.hosts().get(host, {}).get("state") not in ("lost", "failed"):
                self.dir.set_host(host, "lost", f.last_error or "the follower ended with no reason given")
            return
        mirror = self.dir.mirror(host)
        n, done, bad = run_counts(mirror)
        if f.end == "missing":
            from edgetui.run.child import tail_lines

            tail = tail_lines(mirror / RUNNER_LOG) if (mirror / RUNNER_LOG).exists() else ""
            last = f": {tail.splitlines()[-1]}" if tail else ""
            self.dir.set_host(host, "failed", f"no run appeared on the board{last}")
            return
        if f.end in RESUMABLE and self.allow_remote_resume and host not in self._resumed:
            self._resumed.add(host)
            self.dir.set_host(host, "ended",
                              f"{f.end} on the board after {done + bad}/{n} configurations; resuming it")
            self._pending_resume.append(host)
            return
        hint = "; `edgetui fleet resume` continues it" if f.end in RESUMABLE else ""
        self.dir.set_host(host, "collected", f"{f.end} on the board: {done} of {n} configurations done"
                                             + (f", {bad} failed or skipped" if bad else "") + hint,
                          remote_status=f.end)

    # ------------------------------------------------------------------ the whole
    def run(self, *, deploy_plan: dict[str, str], follow: list[str], install: bool = True) -> int:
        """Deploy to some hosts, follow others, wait for every host to end, merge; the exit code."""
        view = FleetView(self.dir.root, list(self.hosts), from_end=True)
        for host in self.hosts:  # requests already in a mirror were an earlier controller's to send
            self._control_poller(host).changed()
        for host in follow:
            self._start_follower(host)
        if deploy_plan:
            self._spawn_deploy(deploy_plan, install)
        reported: set[int] = set()  # followers whose end was recorded
        try:
            while True:
                try:
                    self._print_board_lines(view)
                    self._forward_controls()
                except Exception as exc:  # the lines and requests of one tick: following goes on regardless
                    self.dir.say(None, f"controller: {type(exc).__name__}: {exc} (following goes on)")
                # whether anything is still under way is asked before the ended followers are
                # reported: one that ends in between is reported on the next round, not skipped
                busy = any(t.is_alive() for t in list(self._deploys)) or any(f.is_alive() for f in list(self.followers.values()))
                self._report_ended(reported)
                if self._pending_resume and not any(t.is_alive() for t in self._deploys):
                    plan = {h: "resume" for h in self._pending_resume}
                    self._pending_resume = []
                    self._spawn_deploy(plan, install=False)
                    busy = True
                if not busy and not self._pending_resume:
                    break
                time.sleep(TICK_S)
        finally:
            self.stop.set()
        self._print_board_lines(view)
        return self.collect()

    def _report_ended(self, reported: set[int]) -> None:
        for host, f in list(self.followers.items()):
            if not f.is_alive() and id(f) not in reported:
                reported.add(id(f))
                try:
                    self._follower_done(host, f)
                except Exception as exc:  # this host's, with the reason; the others go on
                    self.dir.set_host(host, "failed", f"its run could not be read: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ pause, skip, abort
    def _control_poller(self, host: str) -> ControlPoller:
        poller = self._controls.get(host)
        if poller is None:
            poller = self._controls[host] = ControlPoller.of(self.dir.mirror(host))
        return poller

    def _forward_controls(self) -> None:
        """The console's live screen on a board writes the mirror's control.json (pause, skip,
        abort); the request goes to the board's run folder over SSH."""
        for host, f in list(self.followers.items()):
            if not f.is_alive():
                continue
            found = self._control_poller(host).changed()
            if isinstance(found, MalformedRecord):
                self.dir.say(host, f"a control request was not sent: {found}")
                continue
            if found is None:
                continue
            request = json.dumps(found.to_dict())
            generation = self._control_generation.get(host, 0) + 1
            self._control_generation[host] = generation
            threading.Thread(target=self._send_control, args=(host, request, generation), daemon=True).start()

    def _send_control(self, host: str, request: str, generation: int) -> None:
        """Send one request, again after a dropped link, until it is confirmed, a newer request
        for the host replaces it, or the controller stops."""
        sent = request.strip()
        why = ""
        for attempt in range(1, CONTROL_ATTEMPTS + 1):
            if attempt > 1 and self.stop.wait(CONTROL_RETRY_S):
                break
            if self._control_generation.get(host) != generation:
                return  # a newer request carries the whole state; this one is stale
            ok, why = self._send_control_once(host, request)
            if ok:
                again = f" (attempt {attempt})" if attempt > 1 else ""
                self.dir.say(host, f"sent to the board: {sent}{again}")
                return
        self.dir.say(host, f"could not send {sent}: {why}")

    def _send_control_once(self, host: str, request: str) -> tuple[bool, str]:
        import subprocess

        from edgetui.fleet.ssh import remote_command, ssh_argv, stdin_preamble

        entry = self.dir.hosts().get(host, {})
        code = ("import json, sys; from edgetui.rundir.control import write_control; "
                "write_control(sys.argv[1], **json.loads(sys.argv[2]))")
        argv = ssh_argv(self.hosts[host], remote_command(entry["python"], ["-c", code, entry["remote_run"], request]))
        try:
            proc = subprocess.run(argv, input=stdin_preamble(self.hosts[host].env).decode(), capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
        return proc.returncode == 0, (proc.stderr.strip().splitlines() or [""])[-1]

    def _spawn_deploy(self, plan: dict[str, str], install: bool) -> None:
        t = threading.Thread(target=self._deploy, args=(plan, install), name="fleet-deploy", daemon=True)
        self._deploys.append(t)
        t.start()

    def _print_board_lines(self, view: FleetView) -> None:
        view.poll()
        for host, board in view.boards.items():
            for line in board.new_lines():
                self.dir.say(host, line)
            if board.error is not None and host not in self._unreadable:
                # a broken or hostile board is that board's failure: no longer followed, not merged
                self._unreadable.add(host)
                f = self.followers.get(host)
                if f is not None:
                    f.halt()
                self.dir.set_host(host, "failed", f"its run could not be read: {board.error}")

    def collect(self) -> int:
        """Merge every host's rows; 0 when every configuration on every host is done, else 1."""
        problems: dict[str, list[str]] = {}
        hosts_merged = [h for h in self.hosts if h not in self._unreadable]
        rows = merge(self.dir.root, hosts_merged, problems)
        for host, left_out in problems.items():
            self.dir.say(host, f"{len(left_out)} row(s) left out of the merge: {left_out[0]}"
                         + (f" (and {len(left_out) - 1} more)" if len(left_out) > 1 else ""))
        self.dir.update_manifest(merged=now_iso(), merged_rows=len(rows))
        hosts = self.dir.hosts()
        ok = True
        for name in self.hosts:
            entry = hosts.get(name, {})
            n, done, bad = run_counts(self.dir.mirror(name))
            if entry.get("state") != "collected" or entry.get("remote_status") != "finished" or bad or n is None \
                    or done < n:
                ok = False
        return EXIT_OK if ok else EXIT_FAILED_CONFIGS

    def resume_plan(self) -> tuple[dict[str, str], list[str]]:
        """(hosts to deploy to, hosts to follow) for `fleet resume`: a host that never started is
        deployed to; one started is followed (and its run continued if it was interrupted)."""
        plan: dict[str, str] = {}
        follow: list[str] = []
        for name, entry in self.dir.hosts().items():
            if name not in self.hosts:
                continue
            if entry.get("launched") and entry.get("remote_run") and entry.get("python"):
                if entry.get("state") == "collected" and entry.get("remote_status") in ("finished", "aborted"):
                    continue
                follow.append(name)
            else:  # never started there (unreachable, an install error, or the controller died first)
                plan[name] = "new"
        return plan, follow
