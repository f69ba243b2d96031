"""The first screen: the profiles found, the queue built from them, and the key that runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from edgetui.errors import UserError
from edgetui.fmt import duration as fmt_duration
from edgetui.profiles.estimate import LARGE_PLAN, Estimate, History, ModelFiles, bases_text, estimate_plan
from edgetui.profiles.plan import Configuration, expand
from edgetui.profiles.schema import Profile, load_profile
from edgetui.rundir.history import board_history
from edgetui.rundir.layout import default_runs_dir
from edgetui.tui.dialogs import ConfirmScreen, InputScreen
from edgetui.tui.messages import ConsoleView, ShowLive, ShowResults, StartRun


@dataclass
class ProfileEntry:
    """A profile file as the queue screen knows it: loaded, or the error that refused it."""

    path: Path
    profile: Profile | None = None
    error: str | None = None
    configs: list[Configuration] | None = None
    estimates: list[Estimate] | None = None  # each configuration's duration and memory (profiles.estimate)

    @classmethod
    def load(cls, path: str | Path, history: History | None = None, *, files: ModelFiles | None = None,
             available_bytes: int | None = None, estimate: bool = True) -> ProfileEntry:
        """The profile read and expanded; its estimates too unless estimate=False (then estimate()
        makes them: they read each model file's header, a vocabulary of up to 250,000 strings)."""
        p = Path(path)
        try:
            prof = load_profile(p)
            configs = expand(prof)
        except UserError as exc:
            return cls(p, error=str(exc))
        entry = cls(p, profile=prof, configs=configs)
        if estimate:
            entry.estimate(history, files=files, available_bytes=available_bytes)
        return entry

    def estimate(self, history: History | None = None, *, files: ModelFiles | None = None,
                 available_bytes: int | None = None) -> None:
        if self.configs is not None:
            self.estimates = estimate_plan(self.configs, history, available_bytes=available_bytes, files=files)

    @property
    def unfit(self) -> list[Estimate]:
        return [e for e in self.estimates or [] if not e.fits]

    @property
    def key(self) -> str:
        return str(self.path.resolve())

    @property
    def name(self) -> str:
        return self.profile.name if self.profile else self.path.stem

    @property
    def seconds(self) -> float | None:
        if not self.configs or not self.profile or self.estimates is None:
            return None
        return (sum(e.seconds for e in self.estimates or []) + self.profile.idle_baseline_s
                + self.profile.cooldown_s * len(self.configs))


def discover(profiles_dir: str | Path | None, files: list[str], history: History | None = None, *,
             available_bytes: int | None = None, estimate: bool = True) -> list[ProfileEntry]:
    """Files named on the command line first, then every *.toml in the profiles folder and its
    subfolders (profiles/paper/, profiles/paper-runtime/), top level first, each with its estimates
    from this board's earlier runs (history), unless estimate=False."""
    paths: list[Path] = [Path(f) for f in files]
    folder = Path(profiles_dir) if profiles_dir else Path("profiles")
    if folder.is_dir():
        paths += sorted(folder.rglob("*.toml"), key=lambda p: (len(p.relative_to(folder).parts), str(p)))
    seen: set[str] = set()
    entries = []
    files_read = ModelFiles()
    for p in paths:
        e = ProfileEntry.load(p, history, files=files_read, available_bytes=available_bytes, estimate=estimate)
        if e.key not in seen:
            seen.add(e.key)
            entries.append(e)
    return entries


MAX_DETAIL_CONFIGS = 3
NAME_WIDTH = 20  # long names are cut in the middle, so that count, estimate and state stay in view


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """paper-runtime-jetson-orin-ollama-cpu -> paper-runt…-ollama-cpu: both ends tell profiles apart."""
    if len(name) <= width:
        return name
    tail = (width - 1) // 2 + 1
    return name[: width - 1 - tail] + "…" + name[-tail:]


def split_paths(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


class QueueScreen(Screen):
    CSS_PATH = "queue.tcss"
    TITLE = "Queue"
    AUTO_FOCUS = "#profiles"

    BINDINGS = [
        Binding("j", "cursor(1)", "Down", show=False, id="queue.down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="queue.up"),
        Binding("space", "toggle_queued", "Queue/unqueue", id="queue.toggle",
                tooltip="put the highlighted profile in the queue, or take it out"),
        Binding("r", "run", "Run queue", id="queue.run", tooltip="start the queue as a detached runner"),
        Binding("K", "move(-1)", "Move up", show=False, id="queue.move_up", tooltip="move the queued profile earlier"),
        Binding("J", "move(1)", "Move down", show=False, id="queue.move_down", tooltip="move the queued profile later"),
        Binding("d", "remove", "Remove", show=False, id="queue.remove", tooltip="take the profile out of the queue"),
        Binding("a", "add", "Add file", id="queue.add", tooltip="add a profile by its path"),
        Binding("n", "new", "New profile", id="queue.new",
                tooltip="make a profile from fields (models found here, axes, workload), its plan previewed"),
        Binding("e", "edit", "Edit", show=False, id="queue.edit",
                tooltip="open the highlighted profile in the builder (a shipped or hand-written one is saved as a copy)"),
        Binding("f5", "reload", "Reload", show=False, id="queue.reload", tooltip="read the profiles again (after editing one)"),
        Binding("l", "live", "Live run", id="queue.live", tooltip="the run in progress"),
        Binding("v", "results", "Results", id="queue.results",
                tooltip="rank earlier results: run folders, results.json/.csv or exported rankings"),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="queue.next_pane"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, id="queue.previous_pane"),
    ]

    def __init__(self, profiles_dir: str | None, files: list[str], view: ConsoleView,
                 queued: list[str] | None = None) -> None:
        super().__init__()
        self.view = view
        self.profiles_dir = profiles_dir
        self.files = list(files)
        self.entries: list[ProfileEntry] = []
        self.history: History | None = None  # what this board measured before, for the estimates
        self.queue: list[str] = []  # entry keys, in run order
        self._initial_queue = [str(Path(p).resolve()) for p in (queued or [])]

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with Horizontal(id="panes"):
            with Vertical(id="profiles-pane", classes="pane"):
                yield DataTable(id="profiles", cursor_type="row", zebra_stripes=False)
            with Vertical(id="queue-pane", classes="pane"):
                yield DataTable(id="queue", cursor_type="row")
                yield Static(id="queue-total")
        if self.view.fleet_inventory:  # `edgetui --fleet INVENTORY`: one row per board
            from edgetui.tui.screens.fleet import FleetPane

            yield FleetPane(self.view.fleet_inventory, self.view.fleet_hosts)
        yield Static(id="details")
        yield Static(id="run-banner")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#profiles-pane").border_title = "Profiles"
        self.query_one("#queue-pane").border_title = "Queue"
        self.query_one("#details").border_title = "Details"
        profiles = self.query_one("#profiles", DataTable)
        profiles.add_column("q", key="q", width=2)
        profiles.add_column("profile", key="name")
        profiles.add_column("cfg", key="configs")  # narrow headers: usable at 80 columns
        profiles.add_column("est.", key="est")
        profiles.add_column("ok", key="state")
        queue = self.query_one("#queue", DataTable)
        queue.add_column("#", key="n", width=2)
        queue.add_column("profile", key="name")
        queue.add_column("cfg", key="configs")
        queue.add_column("est.", key="est")
        # the estimates read the model files' headers (a third of a second for two small models):
        # the first frame shows the profiles, the estimates follow it
        self.load_entries(estimate=False)
        # after the refresh that follows this screen's first (the first is the screen's mount)
        self.call_after_refresh(self.call_after_refresh, self.estimate_entries)
        for key in self._initial_queue:
            entry = self._entry(key)
            if entry is not None and entry.profile is not None and key not in self.queue:
                self.queue.append(key)
        self.refresh_tables()
        self.update_banner()

    def on_screen_resume(self) -> None:
        self.update_banner()

    # ------------------------------------------------------------------ data
    def load_entries(self, *, estimate: bool = True) -> None:
        self.history = board_history(self.view.runs_dir or default_runs_dir())
        self.entries = discover(self.profiles_dir, self.files, self.history, available_bytes=self.view.available_bytes,
                                estimate=estimate)
        runnable = {e.key for e in self.entries if e.profile is not None}
        self.queue = [k for k in self.queue if k in runnable]

    def estimate_entries(self) -> None:
        """The estimates of the entries listed without them (the first frame's)."""
        files = ModelFiles()
        waiting = [e for e in self.entries if e.estimates is None and e.configs is not None]
        for e in waiting:
            e.estimate(self.history, files=files, available_bytes=self.view.available_bytes)
        if waiting:
            self.refresh_tables()

    def _entry(self, key: str) -> ProfileEntry | None:
        return next((e for e in self.entries if e.key == key), None)

    def refresh_tables(self) -> None:
        profiles = self.query_one("#profiles", DataTable)
        row = profiles.cursor_row
        profiles.clear()
        for e in self.entries:
            mark = str(self.queue.index(e.key) + 1) if e.key in self.queue else ""
            if e.profile is not None:
                state = Text("✓", style="green")
                configs = str(len(e.configs or []))
                est = "…" if e.estimates is None else "~" + fmt_duration(e.seconds)
            else:
                state, configs, est = Text("✗", style="bold red"), "-", "-"  # the reason: Details pane
            profiles.add_row(mark, short_name(e.name), configs, est, state, key=e.key)
        if self.entries:
            profiles.move_cursor(row=min(max(row, 0), len(self.entries) - 1))
        queue = self.query_one("#queue", DataTable)
        qrow = queue.cursor_row
        queue.clear()
        total_configs, total_s = 0, 0.0
        for i, key in enumerate(self.queue, 1):
            queued = self._entry(key)
            assert queued is not None
            n = len(queued.configs or [])
            total_configs += n
            total_s += queued.seconds or 0.0
            est = "…" if queued.estimates is None else "~" + fmt_duration(queued.seconds)
            queue.add_row(str(i), short_name(queued.name), str(n), est, key=key)
        if self.queue:
            queue.move_cursor(row=min(max(qrow, 0), len(self.queue) - 1))
        if self.queue:
            pending = any((q := self._entry(k)) is not None and q.estimates is None for k in self.queue)
            total = (f"{len(self.queue)} profile(s), {total_configs} configuration(s), about "
                     + ("…" if pending else fmt_duration(total_s)))
        else:
            total = "empty: space on a profile queues it"
        self.query_one("#queue-total", Static).update(total)
        self.show_details()

    def highlighted(self) -> ProfileEntry | None:
        focused = self.focused
        table = focused if isinstance(focused, DataTable) else self.query_one("#profiles", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # an empty or just-cleared table has no cell under the cursor
            return None
        return self._entry(key) if key else None

    def show_details(self) -> None:
        details = self.query_one("#details", Static)
        e = self.highlighted()
        if e is None:
            details.update(Text("No profiles in ./profiles: press a to add one by path, or start edgetui with "
                                "--profiles DIR or profile files.", style="dim"))
            return
        text = Text()
        text.append(f"{e.path}\n", style="dim")
        if e.error:
            text.append(e.error, style="bold red")
        else:
            assert e.profile is not None
            if e.profile.description:
                text.append(e.profile.description + "\n")
            configs = e.configs or []
            if configs:
                text.append(f"{len(configs)} configuration(s), {configs[0].repetitions} repetition(s) "
                            f"+ {configs[0].warmup} warm-up each:\n")
            for c in configs[:MAX_DETAIL_CONFIGS]:
                text.append(f"  {c.describe()}\n")
            if len(configs) > MAX_DETAIL_CONFIGS:
                text.append(f"  ... and {len(configs) - MAX_DETAIL_CONFIGS} more\n", style="dim")
            if e.estimates:
                text.append(f"estimated {fmt_duration(e.seconds)} ({bases_text(e.estimates)})\n", style="dim")
            if e.unfit:
                text.append(f"{len(e.unfit)} configuration(s) will not fit in memory: {e.unfit[0].memory_note()}\n",
                            style="bold red")
        text.rstrip()
        details.update(text)

    def update_banner(self) -> None:
        banner = self.query_one("#run-banner", Static)
        follower = self.view.follower
        if follower is not None and follower.active:
            banner.update(Text(f" A run is in progress ({follower.run_dir.name}): press l to watch it. ",
                               style="bold reverse"))
            banner.display = True
        else:
            banner.display = False

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_details()

    def on_descendant_focus(self) -> None:
        self.show_details()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "live":
            return self.view.follower is not None
        if action in ("move", "remove"):
            return bool(self.queue)
        return True

    def action_cursor(self, step: int) -> None:
        table = self.focused if isinstance(self.focused, DataTable) else self.query_one("#profiles", DataTable)
        (table.action_cursor_down if step > 0 else table.action_cursor_up)()

    def action_toggle_queued(self) -> None:
        e = self.highlighted()
        if e is None:
            return
        if e.key in self.queue:
            self.queue.remove(e.key)
        elif e.profile is None:
            self.notify(e.error or "this profile has an error", title="Not queued", severity="error")
            return
        else:
            self.queue.append(e.key)
        self.refresh_tables()
        self.refresh_bindings()

    def _queued_cursor(self) -> str | None:
        queue = self.query_one("#queue", DataTable)
        if self.focused is queue and queue.row_count:
            return self.queue[queue.cursor_row]
        e = self.highlighted()
        return e.key if e is not None and e.key in self.queue else None

    def action_move(self, step: int) -> None:
        key = self._queued_cursor()
        if key is None:
            self.notify("highlight a queued profile first", severity="warning")
            return
        i = self.queue.index(key)
        j = i + step
        if not 0 <= j < len(self.queue):
            return
        self.queue[i], self.queue[j] = self.queue[j], self.queue[i]
        self.refresh_tables()
        queue = self.query_one("#queue", DataTable)
        if self.focused is queue:
            queue.move_cursor(row=j)

    def action_remove(self) -> None:
        key = self._queued_cursor()
        if key is None:
            self.notify("highlight a queued profile first", severity="warning")
            return
        self.queue.remove(key)
        self.refresh_tables()
        self.refresh_bindings()

    def action_add(self) -> None:
        def check(value: str) -> str | None:
            entry = ProfileEntry.load(Path(value).expanduser(), self.history)
            return entry.error

        def added(value: str | None) -> None:
            if not value:
                return
            path = Path(value).expanduser()
            if str(path) not in self.files:
                self.files.append(str(path))
            self.load_entries()
            key = str(path.resolve())
            if key not in self.queue:
                self.queue.append(key)
            self.refresh_tables()
            self.refresh_bindings()
            self.notify(f"{path} added to the queue")

        default = (str(Path(self.profiles_dir or "profiles")) + "/") if Path(self.profiles_dir or "profiles").is_dir() else ""
        self.app.push_screen(InputScreen("Add a profile", default, "Path of a profile TOML file; it is checked "
                                        "before it is added.", check), added)

    def action_reload(self) -> None:
        self.load_entries()
        self.refresh_tables()
        self.notify(f"{len(self.entries)} profile(s) read")

    def action_results(self) -> None:
        from edgetui.rundir.state import list_runs

        runs = list_runs(self.view.runs_dir or default_runs_dir(), alive=self.view.alive)
        default = str(runs[0].path) if runs else ""

        def check(text: str) -> str | None:
            missing = [p for p in split_paths(text) if not Path(p).expanduser().exists()]
            return f"no such file or folder: {', '.join(missing)}" if missing else None

        def chosen(text: str | None) -> None:
            if text:
                self.post_message(ShowResults([str(Path(p).expanduser()) for p in split_paths(text)]))

        self.app.push_screen(InputScreen(
            "Open results", default, "One or more run folders, results.json/.csv files or exported rankings, "
            "separated by commas (several boards merge into one ranking). Default: the newest run.", check), chosen)

    def action_live(self) -> None:
        self.post_message(ShowLive())

    def action_run(self) -> None:
        follower = self.view.follower
        if follower is not None and follower.active:
            self.notify("a run is already in progress: press l to watch it", severity="warning")
            return
        if not self.queue:
            self.notify("the queue is empty: highlight a profile and press space", severity="warning")
            return
        before = list(self.queue)
        self.load_entries()  # files may have changed since they were listed
        self.refresh_tables()
        dropped = [k for k in before if k not in self.queue]
        if dropped:
            entry = self._entry(dropped[0])
            why = entry.error if entry is not None and entry.error else f"{dropped[0]} is gone"
            self.notify(why, title="A queued profile no longer loads", severity="error", timeout=10)
            return
        queued = [e for k in self.queue if (e := self._entry(k)) is not None]
        n = sum(len(e.configs or []) for e in queued)
        unfit = [u for e in queued for u in e.unfit]
        start = StartRun([e.path for e in queued])
        if n <= LARGE_PLAN and not unfit:
            self.post_message(start)
            return
        asks: list[str] = []
        if n > LARGE_PLAN:
            seconds = sum(e.seconds or 0.0 for e in queued)
            asks.append(f"The queue holds {n} configurations, about {fmt_duration(seconds)} by the estimates "
                       f"(more than {LARGE_PLAN}).")
        if unfit:
            asks.append(f"{len(unfit)} configuration(s) will not fit in the memory available "
                       f"({unfit[0].config.describe()}: {unfit[0].memory_note()}); they will fail.")
        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(start)

        self.app.push_screen(ConfirmScreen("Run this queue?", " ".join(asks), yes="Run", no="Not now"), answered)

    # ------------------------------------------------------------------ the builder
    def _folder(self) -> Path:
        return Path(self.profiles_dir) if self.profiles_dir else Path("profiles")

    def open_builder(self, editing: Profile | None = None) -> None:
        from edgetui.engines.catalog import catalogue
        from edgetui.tui.screens.builder import BuilderScreen

        view = self.view
        taken = {e.profile.name: e.path for e in self.entries if e.profile is not None}

        def saved(path: Path | None) -> None:
            if path is None:
                return
            self.load_entries()
            self.refresh_tables()
            key = str(path.resolve())
            row = next((i for i, e in enumerate(self.entries) if e.key == key), None)
            if row is not None:
                table = self.query_one("#profiles", DataTable)
                table.focus()
                table.move_cursor(row=row)
            self.refresh_bindings()

        self.app.push_screen(BuilderScreen(
            self._folder(), lambda server: catalogue(view.model_folders, ollama_url=view.ollama_url if server == ""
                                                     else server),
            history=self.history, editing=editing, taken_names=taken, available_bytes=view.available_bytes), saved)

    def action_new(self) -> None:
        self.open_builder()

    def action_edit(self) -> None:
        e = self.highlighted()
        if e is None or e.profile is None:
            self.notify(e.error if e is not None and e.error else "highlight a profile first",
                        title="Nothing to edit", severity="warning")
            return
        self.open_builder(e.profile)
