"""The results screen's export flow: ask for a .toml or .csv path, confirm before replacing a
file, write the ranking (ranking.export, as `edgetui rank --export`), tell what happened."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from textual.screen import Screen

from edgetui.errors import UserError
from edgetui.ranking.export import export_ranking
from edgetui.ranking.rank import Ranking
from edgetui.tui.dialogs import ConfirmScreen, InputScreen


def check_export_path(path: str) -> str | None:
    """Why this path cannot take an export, or None."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".toml", ".csv"):
        return "the file name must end in .toml or .csv"
    if p.is_dir():
        return "that is a folder; give a file name"
    if not p.parent.exists():
        return f"no folder {p.parent}"
    return None


class ExportFlow:
    """Ask, confirm, write: the ranking written is the one shown when the path is given."""

    def __init__(self, screen: Screen, current: Callable[[], Ranking | None]) -> None:
        self.screen = screen
        self.current = current
        self.last_export: Path | None = None

    def start(self) -> None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")

        def chosen(path: str | None) -> None:
            if not path:
                return
            p = Path(path).expanduser()
            if p.exists():
                def confirm(yes: bool | None) -> None:
                    if yes:
                        self.write(p, force=True)

                self.screen.app.push_screen(
                    ConfirmScreen("Overwrite?", f"{p} exists. Replace it with this ranking?", yes="Overwrite",
                                  no="Cancel"), confirm)
            else:
                self.write(p, force=False)

        self.screen.app.push_screen(InputScreen(
            "Export the ranking", f"edgetui-ranking-{stamp}.toml",
            "A .toml or .csv path: the file holds the weights, the normalisation, and every row's rank, "
            "score and raw metrics (a .csv keeps them in FILE.csv.meta.toml beside it).", check_export_path), chosen)

    def write(self, path: Path, *, force: bool) -> None:
        """Write in a worker thread (100,000 rows take a second or two), then tell the outcome."""
        self.screen.run_worker(lambda: self._write(path, force), thread=True, group="export")

    def _write(self, path: Path, force: bool) -> None:
        tell = self.screen.app.call_from_thread
        try:
            ranking = self.current()
            if ranking is None:
                return
            written = export_ranking(ranking, path, force=force)
        except UserError as exc:
            tell(self.screen.notify, str(exc), title="Not exported", severity="error", timeout=10)
            return
        self.last_export = written
        tell(self.screen.notify, f"ranking written to {written}", title="Exported")
