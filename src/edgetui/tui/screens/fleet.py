"""The queue screen's fleet pane (`edgetui --fleet INVENTORY`, `edgetui fleet run INVENTORY
PROFILE...`): one row per board of the inventory (state, configuration i of N, tokens/s now,
power, temperature), read from the fleet run folder by the core's FleetView; enter opens the
highlighted board's live screen on its mirrored run folder.

`r` on the queue screen runs the queue on the fleet: the controller (`edgetui fleet run ...
--headless`) is started as a detached process, as a local run's runner is, so quitting the
console never stops it; the pane only reads what it writes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from edgetui.childenv import child_env
from edgetui.fleet.layout import CONTROLLER_LOG
from edgetui.fleet.view import BoardRow, FleetView, mirror_follower
from edgetui.fmt import number as fmt_num
from edgetui.rundir.layout import is_run_folder
from edgetui.tui.messages import OpenBoard

POLL_S = 0.5
STATE_STYLES = {"failed": "bold red", "lost": "bold red", "reconnecting": "yellow", "collected": "green",
                "following": "", "launched": "", "deploying": "dim", "pending": "dim", "ended": "yellow"}


def launch_controller(inventory: str | Path, profiles: Sequence[str | Path], fleet_dir: Path) -> subprocess.Popen:
    """`edgetui fleet run INVENTORY PROFILE... --out FLEET_RUN --headless`, detached, logging to
    FLEET_RUN/controller.log."""
    fleet_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "edgetui", "fleet", "run", str(Path(inventory).resolve()),
           *[str(Path(p).resolve()) for p in profiles], "--out", str(fleet_dir), "--headless"]
    env = child_env()
    with (fleet_dir / CONTROLLER_LOG).open("ab") as log:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env)


def row_cells(r: BoardRow) -> list[Text | str]:
    state = Text(r.state, style=STATE_STYLES.get(r.state, ""))
    return [r.host, r.board or "", state, r.progress, fmt_num(r.decode_tps), fmt_num(r.power_w, 2),
            fmt_num(r.temp_c)]


class FleetPane(Vertical):
    """The boards of a fleet, before and during its run."""

    DEFAULT_CSS = """
    #fleet-pane { height: auto; max-height: 14; }
    #fleet { height: auto; max-height: 10; }
    #fleet-status { color: $text-muted; height: auto; }
    """

    BINDINGS = [
        Binding("enter", "open_board", "Board's live run", id="fleet.open",
                tooltip="the highlighted board's live screen (its run folder mirrored here)"),
    ]

    def __init__(self, inventory: str, hosts: list[str], fleet_dir: Path | None = None) -> None:
        super().__init__(id="fleet-pane", classes="pane")
        self.inventory = inventory
        self.hosts = hosts
        self.fleet_dir = fleet_dir
        self.view: FleetView | None = None
        self.process: subprocess.Popen | None = None

    def compose(self) -> ComposeResult:
        yield DataTable(id="fleet", cursor_type="row")
        yield Static(id="fleet-status")

    def on_mount(self) -> None:
        self.border_title = f"Fleet: {self.inventory}"
        table = self.query_one("#fleet", DataTable)
        for label, key in (("host", "host"), ("board", "board"), ("state", "state"), ("cfg", "cfg"),
                           ("tok/s", "tps"), ("W", "power"), ("°C", "temp")):
            table.add_column(label, key=key)
        self.refresh_rows()
        self.set_interval(POLL_S, self.refresh_rows)

    def follow(self, fleet_dir: Path, process: subprocess.Popen | None = None) -> None:
        self.fleet_dir = fleet_dir
        self.process = process
        self.view = FleetView(fleet_dir, self.hosts)
        self.refresh_rows()

    def rows(self) -> list[BoardRow]:
        if self.view is None:
            return [BoardRow(h, None, "not started", None, None, None, None, None, None, None) for h in self.hosts]
        return self.view.poll()

    def refresh_rows(self) -> None:
        if not self.screen.is_current:
            return  # never redrawn while hidden
        table = self.query_one("#fleet", DataTable)
        rows = self.rows()
        keys = {str(k.value) for k in table.rows}
        for r in rows:
            cells = row_cells(r)
            if r.host in keys:
                for col, value in zip(("host", "board", "state", "cfg", "tps", "power", "temp"), cells):
                    table.update_cell(r.host, col, value)
            else:
                table.add_row(*cells, key=r.host)
        status = self.query_one("#fleet-status", Static)
        if self.view is None:
            status.update(Text(f"{len(self.hosts)} host(s); r runs the queue on every one", style="dim"))
            return
        highlighted = self.highlighted()
        detail = next((r.detail for r in rows if r.host == highlighted and r.detail), "")
        ended = self.process is not None and self.process.poll() is not None
        where = f"{self.fleet_dir}" + (" (controller ended: see controller.log)" if ended else "")
        status.update(Text(f"{where}\n{highlighted}: {detail}" if highlighted and detail else where, style="dim"))

    def start(self, profile_paths: Sequence[str | Path], out: str | None = None) -> None:
        """`r` with a fleet: the queue's profiles checked here, then the controller started detached,
        writing to `out` (`--out`; None: a new fleet run folder)."""
        from edgetui.errors import UserError
        from edgetui.fleet.controller import default_fleet_dir
        from edgetui.fleet.layout import is_fleet_dir
        from edgetui.profiles.schema import load_profiles

        if self.process is not None and self.process.poll() is None:
            self.notify("the fleet run is still in progress", severity="warning")
            return
        try:
            profiles = load_profiles(list(profile_paths))
        except UserError as exc:
            self.notify(str(exc), title="Cannot run", severity="error", timeout=10)
            return
        fleet_dir = Path(out) if out else default_fleet_dir([p.name for p in profiles])
        if is_fleet_dir(fleet_dir):
            self.notify(f"{fleet_dir} holds a fleet run already: `edgetui fleet resume {fleet_dir}`",
                        title="Cannot run", severity="error", timeout=10)
            return
        try:
            process = launch_controller(self.inventory, profile_paths, fleet_dir)
        except OSError as exc:
            self.notify(f"could not start the fleet controller: {exc}", title="Cannot run", severity="error")
            return
        self.follow(fleet_dir, process)
        self.notify(f"the fleet run goes to {fleet_dir}; enter on a board opens its live screen", title="Fleet run")

    def highlighted(self) -> str | None:
        table = self.query_one("#fleet", DataTable)
        if table.row_count == 0:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:  # an empty or just-cleared table has no cell under the cursor
            return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "fleet":  # enter on a board (the table takes the key itself)
            event.stop()
            self.action_open_board()

    def action_open_board(self) -> None:
        host = self.highlighted()
        if host is None:
            return
        if self.fleet_dir is None or not is_run_folder(self.fleet_dir / host):
            self.notify(f"{host} has no run yet", severity="warning")
            return
        self.post_message(OpenBoard(mirror_follower(self.fleet_dir, host)))
