"""The results screen's filter dialog: keep one model, board and engine (blank = any)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Select, Static

from edgetui.tui.screens.results_view import FILTER_COLUMNS


class FilterScreen(ModalScreen[dict[str, str] | None]):
    """Pick a model, board and engine to keep (blank = any)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="filter.cancel"),
                Binding("ctrl+s", "apply", "Apply", id="filter.apply"),
                Binding("ctrl+r", "clear", "Clear all", id="filter.clear")]

    def __init__(self, choices: dict[str, list[str]], current: dict[str, str]) -> None:
        super().__init__(classes="dialog-screen")
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Filter the ranking", classes="dialog-title")
            for col in FILTER_COLUMNS:
                yield Label(col)
                yield Select([(v, v) for v in self.choices.get(col, [])], prompt=f"any {col}",
                             value=self.current.get(col, Select.NULL), id=f"filter-{col}", allow_blank=True)
            yield Static("tab: next · enter: open a list · ctrl+s: apply · ctrl+r: clear · escape: cancel",
                         classes="dialog-hint")

    def _values(self) -> dict[str, str]:
        out = {}
        for col in FILTER_COLUMNS:
            v = self.query_one(f"#filter-{col}", Select).value
            if isinstance(v, str):
                out[col] = v
        return out

    def action_apply(self) -> None:
        self.dismiss(self._values())

    def action_clear(self) -> None:
        self.dismiss({})

    def action_cancel(self) -> None:
        self.dismiss(None)
