"""The console: `edgetui` with no sub-command.

It never runs inference. `r` on the queue screen starts `edgetui run --headless` as a detached
process (run.launch) and the live screen follows the run folder's files: a worker thread reads
what is new REFRESH_HZ times a second and posts RunRead; the app folds it into the run's state on
its own loop and redraws the live screen only when it is the screen on top. Quitting, or losing
the terminal, leaves the runner running; the next `edgetui` attaches."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.worker import get_current_worker

from edgetui.engines.catalog import DEFAULT_OLLAMA_URL
from edgetui.rundir.layout import default_runs_dir, new_run_dir
from edgetui.rundir.state import list_runs, mark_seen, run_to_open
from edgetui.rundir.state import runner_alive as pid_alive  # run.session's pid_alive, without importing it
from edgetui.tui.dialogs import ConfirmScreen, HelpScreen
from edgetui.tui.keymap import keymap_path, load_keymap
from edgetui.tui.messages import (
    ConsoleView,
    GoBack,
    OpenBoard,
    ResultsChanged,
    ResumeRun,
    RunRead,
    ShowLive,
    ShowResults,
    StartRun,
)
from edgetui.tui.palette import ScreenActions
from edgetui.tui.screens.queue import QueueScreen

if TYPE_CHECKING:  # following a run (run.session and what it folds) is imported once a run is followed
    from edgetui.run.session import RunFollower

REFRESH_HZ = 2.0  # reads and redraws per second: a few Hz at most, whatever the token rate


class EdgeApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "edgetui"
    COMMANDS = App.COMMANDS | {ScreenActions}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="every key of this screen"),
        Binding("q", "quit_console", "Quit", id="app.quit",
                tooltip="leave the console; a run in progress goes on without it"),
    ]

    def __init__(self, *, profiles_dir: str | None = None, files: list[str] | None = None,
                 results: list[str] | None = None, run_profiles: list[str] | None = None,
                 sysfs_root: str | None = None, runs_dir: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 alive: Callable[[int | None], bool] = pid_alive, attach: bool = True,
                 fleet: str | None = None, fleet_hosts: list[str] | None = None,
                 fleet_out: str | None = None, model_folders: list[tuple[str, Path]] | None = None,
                 ollama_url: str | None = DEFAULT_OLLAMA_URL, available_bytes: int | None = None) -> None:
        super().__init__()
        self.fleet_inventory = fleet  # the queue runs on these boards (tui/screens/fleet.py)
        self.fleet_hosts = list(fleet_hosts or [])
        self.animation_level = "none"
        self.profiles_dir = profiles_dir
        self.files = list(files or []) + [p for p in (run_profiles or []) if p not in (files or [])]
        self.results_paths = results
        self.run_profiles = run_profiles
        self.sysfs_root = sysfs_root
        self.runs_dir = Path(runs_dir) if runs_dir else None
        # the runner stamps events with time.monotonic(): CLOCK_MONOTONIC is one clock for every
        # process of the machine, so elapsed times compare the console's reading with the runner's
        self.clock = clock
        self.alive = alive
        self.attach = attach
        self.view = ConsoleView(runs_dir=self.runs_dir, alive=alive, clock=clock,  # what the screens read
                                fleet_inventory=fleet, fleet_hosts=self.fleet_hosts, fleet_out=fleet_out,
                                model_folders=model_folders,
                                ollama_url=ollama_url, available_bytes=available_bytes)
        self._results_shown_for: Path | None = None
        self._was_active = False

    @property
    def follower(self) -> RunFollower | None:
        return self.view.follower

    @follower.setter
    def follower(self, follower: RunFollower | None) -> None:
        self.view.follower = follower

    @property
    def fleet_out(self) -> str | None:
        return self.view.fleet_out

    @fleet_out.setter
    def fleet_out(self, out: str | None) -> None:
        self.view.fleet_out = out

    # ------------------------------------------------------------------ start-up
    def on_mount(self) -> None:
        keymap, problem = load_keymap(keymap_path())
        if keymap:
            self.set_keymap(keymap)
            self.view.keymap = keymap
        if problem:
            self.notify(problem, title="Keymap not used", severity="warning", timeout=10)
        # pushed rather than returned by get_default_screen, which would not load its CSS_PATH
        queue = QueueScreen(self.profiles_dir, self.files, self.view, queued=self.run_profiles)
        self.push_screen(queue)
        if self.results_paths:
            self.show_results(self.results_paths)
        elif self.run_profiles:
            self.call_after_refresh(queue.action_run)
        elif self.attach:
            self.open_existing_run()

    def open_existing_run(self) -> None:
        """A run in progress (attach), or one whose end no console has shown yet."""
        runs_dir = self.runs_dir or default_runs_dir()
        info = run_to_open(runs_dir, alive=self.alive)
        if info is None:
            return
        from edgetui.run.session import RunFollower

        self.follower = RunFollower(info.path, attach=True, alive=self.alive, clock=self.clock)
        if info.status == "running":
            self.notify(f"attached to the run in progress in {info.path}", title="Run in progress")
            self.show_live()
        elif info.resumable:  # interrupted, or crashed
            mark_seen(info.path)
            self.show_live()
            what = (f"this run's runner crashed ({info.error})" if info.status == "crashed"
                    else "this run stopped before its queue ended")
            self.notify(f"{what}: u resumes it", title=f"{info.status.capitalize()} run", severity="warning",
                        timeout=10)
        else:
            self._results_shown_for = info.path
            mark_seen(info.path)
            self.notify(f"the run in {info.path.name} {info.status} while no console was open",
                        title="Run ended")
            self.show_results([info.path])
        self._start_ticking()

    # ------------------------------------------------------------------ the run
    def start_run(self, profile_paths: list[Path]) -> None:
        from edgetui.errors import UserError
        from edgetui.profiles.schema import load_profiles

        if self.fleet_inventory:
            from edgetui.tui.screens.fleet import FleetPane

            for pane in self.screen.query(FleetPane):  # the queue screen's: it starts the controller itself
                pane.start(profile_paths, out=self.view.fleet_out)
            return
        try:
            profiles = load_profiles(profile_paths)
        except UserError as exc:
            self.notify(str(exc), title="Cannot run", severity="error", timeout=10)
            return
        # one run at a time: a second queue beside the first would skew both runs' measurements
        busy = next((r for r in list_runs(self.runs_dir or default_runs_dir(), alive=self.alive)
                     if r.status == "running"), None)
        if busy is not None:
            self.notify(f"a run is already in progress ({busy.path.name}); this queue was not started. "
                        "Its live screen is open: abort it (x) or wait for it to end.",
                        title="One run at a time", severity="warning", timeout=10)
            if self.follower is None or self.follower.run_dir != busy.path:
                from edgetui.run.session import RunFollower

                self.follower = RunFollower(busy.path, attach=True, alive=self.alive, clock=self.clock)
            self.show_live()
            self._start_ticking()
            return
        run_dir = new_run_dir([p.name for p in profiles])
        if self.runs_dir is not None:
            run_dir = self.runs_dir / run_dir.name
        base, n = run_dir, 1
        while run_dir.exists():  # two runs in the same second
            n += 1
            run_dir = base.with_name(f"{base.name}-{n}")
        from edgetui.run.launch import launch_runner
        from edgetui.run.session import RunFollower

        try:
            process = launch_runner(profile_paths, run_dir, sysfs_root=self.sysfs_root)
        except OSError as exc:
            self.notify(f"could not start the runner: {exc}", title="Cannot run", severity="error")
            return
        self.follower = RunFollower(run_dir, process=process, alive=self.alive, clock=self.clock)
        self._results_shown_for = None
        self.show_live()
        self._start_ticking()

    def resume_run(self) -> None:
        f = self.follower
        if f is None or f.died is None:
            return
        try:
            at_work = f.resume(self.sysfs_root)
        except OSError as exc:
            self.notify(f"could not start the runner: {exc}", severity="error")
            return
        if at_work is not None:
            self.notify(f"{at_work.describe()} is already resuming this run: attached to it instead of "
                        "starting a second runner", title="Run in progress", timeout=10)
        self._results_shown_for = None
        self._start_ticking()

    def _start_ticking(self) -> None:
        if self.follower is not None:
            self._follow(self.follower)

    @work(thread=True, exclusive=True, group="follow")
    def _follow(self, f: RunFollower) -> None:
        """Read the run folder off the event loop at the console's fixed rate, posting RunRead each
        time; ends when the run has ended or its runner is gone and nothing more came (a new run or
        a resume starts it again). exclusive: a new run's worker replaces the last one."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            found = f.fetch()
            self.post_message(RunRead(f))
            if not found and (f.ended or f.died is not None):
                return
            worker.cancelled_event.wait(1.0 / REFRESH_HZ)

    def on_run_read(self, message: RunRead) -> None:
        if message.follower is self.follower:
            self._update(message.follower.take())

    def tick(self) -> None:
        """Read and fold the run folder on this loop, then update the screens (for tests and
        screenshots, which step the console by hand; a run is followed by the worker)."""
        if self.follower is not None:
            self._update(self.follower.poll())

    def _update(self, changed: bool) -> None:
        """Redraw the live screen if it is the one on top; the queue's banner when the run starts
        or stops; the ranking once the run has ended."""
        f = self.follower
        if f is None:
            return
        from edgetui.tui.screens.live import LiveScreen  # imported once a run is followed, not at start-up

        screen = self.screen
        if isinstance(screen, LiveScreen) and screen.follower is f:
            screen.redraw(changed)
        active = f.active
        if active != self._was_active:
            self._was_active = active
            for s in self.screen_stack:
                if isinstance(s, QueueScreen):
                    s.update_banner()
                    s.refresh_bindings()
        if f.ended and self._results_shown_for != f.run_dir:
            self.run_ended(f)

    def run_ended(self, f: RunFollower) -> None:
        """Open the ranking by itself when the queue finishes (once), unless a dialog is up."""
        if isinstance(self.screen, ModalScreen):
            return  # try again on the next tick
        self._results_shown_for = f.run_dir
        mark_seen(f.run_dir)
        status = f.state.manifest.get("status") or (f.state.run_end.status if f.state.run_end else None)
        has_rows = f.store.json_path.exists()
        if not has_rows:
            self.notify("the run ended without a finished configuration", severity="warning")
            return
        from edgetui.tui.screens.live import LiveScreen
        from edgetui.tui.screens.results import ResultsScreen

        current = self.screen
        if isinstance(current, ResultsScreen) and current.paths == [str(f.run_dir)]:
            current.post_message(ResultsChanged(f.run_dir))  # it reads the results again itself
        elif status == "finished" or isinstance(current, LiveScreen):
            self.show_results([f.run_dir])
        else:
            self.notify(f"run {status}: l then v shows its ranking", title="Run ended")

    def go_back(self) -> None:
        """Pop the screen on top, never the queue screen (the bottom of the stack is Textual's own)."""
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def open_board(self, follower: RunFollower) -> None:
        """A fleet board's live screen: its run folder as mirrored here."""
        self.follower = follower
        self.show_live()
        self._start_ticking()

    def show_live(self) -> None:
        if self.follower is None:
            return
        from edgetui.tui.screens.live import LiveScreen  # its plots import numpy: 0.15 s not spent at start-up

        for s in self.screen_stack:
            if isinstance(s, LiveScreen) and s.follower is self.follower:
                while self.screen is not s:
                    self.pop_screen()
                return
        self.push_screen(LiveScreen(self.follower, clock=self.clock))

    def show_results(self, paths: list[str | Path] | list[Path] | list[str]) -> None:
        from edgetui.tui.screens.results import ResultsScreen  # polars is imported here, not at start-up

        self.push_screen(ResultsScreen(list(paths)))

    # ------------------------------------------------------------------ what the screens ask
    @on(StartRun)
    def _start_run_asked(self, message: StartRun) -> None:
        self.start_run(message.profile_paths)

    @on(ResumeRun)
    def _resume_asked(self) -> None:
        self.resume_run()

    @on(ShowLive)
    def _live_asked(self) -> None:
        self.show_live()

    @on(ShowResults)
    def _results_asked(self, message: ShowResults) -> None:
        self.show_results(message.paths)

    @on(GoBack)
    def _back_asked(self) -> None:
        self.go_back()

    @on(OpenBoard)
    def _board_asked(self, message: OpenBoard) -> None:
        self.open_board(message.follower)

    # ------------------------------------------------------------------ app keys
    def action_help(self) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        self.push_screen(HelpScreen(self.screen, self.view.keymap))

    def action_quit_console(self) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        f = self.follower
        if f is None or not f.active:
            self.exit(0)
            return
        self.push_screen(ConfirmScreen(
            "Quit the console?",
            f"A run is in progress ({f.run_dir.name}). Quitting the console does NOT stop it: the runner "
            "goes on in the background, and typing edgetui again shows it live (pause, skip and abort work "
            "from there). To stop the run, abort it (x on the live screen) first.",
            yes="Quit", no="Stay"), lambda yes: self.exit(0) if yes else None)


def run_console(*, profiles_dir: str | None = None, files: list[str] | None = None,
                results: list[str] | None = None, run_profiles: list[str] | None = None,
                sysfs_root: str | None = None, fleet: str | None = None, fleet_out: str | None = None) -> int:
    """`edgetui` (the console); returns the exit code."""
    hosts = None
    if fleet:  # read before the screen opens: a bad inventory is exit code 2 with its message
        from edgetui.fleet.inventory import load_inventory

        hosts = [h.name for h in load_inventory(fleet)]
    app = EdgeApp(profiles_dir=profiles_dir, files=files, results=results, run_profiles=run_profiles,
                  sysfs_root=sysfs_root, fleet=fleet, fleet_hosts=hosts, fleet_out=fleet_out)
    app.run()
    return app.return_code or 0
