"""The results screen's comparison (v): pick a run from the run list (a modal listing the runs,
newest first), compare the results shown (NEW) with it (BASE) as `edgetui compare` does
(ranking.compare, in a worker), and show the pairs, their ratios with 95% intervals, verdicts,
the geometric mean and the unmatched rows in a modal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from edgetui.errors import UserError
from edgetui.ranking.compare import Comparison, compare, format_comparison


class RunPickScreen(ModalScreen[str | None]):
    """The runs to compare with, newest first; enter picks one, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="compare_pick.cancel")]

    def __init__(self, runs: Sequence[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.runs = list(runs)  # (path, line)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Compare with which run? (it is BASE, the results shown are NEW)", classes="dialog-title")
            if self.runs:
                yield OptionList(*(Option(line, id=str(i)) for i, (_, line) in enumerate(self.runs)), id="runs")
            else:
                yield Static("no other run in the runs folder", classes="dialog-error")
            yield Static("enter: compare · escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        if self.runs:
            self.query_one("#runs", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.runs[int(event.option.id or 0)][0])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ComparisonScreen(ModalScreen[None]):
    """A comparison's text (ranking.compare.format_comparison), scrollable."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="comparison.close")]

    def __init__(self, comparison: Comparison) -> None:
        super().__init__(classes="dialog-screen")
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label(f"Compared on {self.comparison.metric}", classes="dialog-title")
            with VerticalScroll():
                yield Static(Text(format_comparison(self.comparison)), id="comparison")
            yield Static("escape: close", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


def other_runs(shown: Sequence[str], runs_dir: str | Path | None = None) -> list[tuple[str, str]]:
    """(path, line) of the runs in the runs folder, newest first, less those shown."""
    from edgetui.rundir.state import list_runs

    here = {Path(p).resolve() for p in shown}
    return [(str(s.path), s.line()) for s in list_runs(runs_dir) if s.path.resolve() not in here]


class CompareFlow:
    """Pick, compare (in a worker), show."""

    def __init__(self, screen: Screen, runs_dir: str | Path | None = None) -> None:
        self.screen = screen
        self.runs_dir = runs_dir
        self.last: Comparison | None = None

    def start(self) -> None:
        paths = list(getattr(self.screen, "paths", []))

        def chosen(base: str | None) -> None:
            if base:
                self.screen.run_worker(lambda: self._compare(base, paths), thread=True, group="compare")

        self.screen.app.push_screen(RunPickScreen(other_runs(paths, self.runs_dir)), chosen)

    def _compare(self, base: str, new: list[str]) -> None:
        tell = self.screen.app.call_from_thread
        try:
            result = compare(base, new)
        except UserError as exc:
            tell(self.screen.notify, str(exc), title="Not compared", severity="error", timeout=10)
            return
        self.last = result
        tell(self.screen.app.push_screen, ComparisonScreen(result))
