"""The results screen's weights pane: one row per ranking criterion (on or off, its direction, its
weight). It owns the cursor and the weights a criterion had before it was switched off. A key
shows the new weights at once and asks for them with Asked (up), so that the next key, pressed
before the screen has answered, steps from them; the screen re-ranks, or refuses and sets the
pane's `weights` (down) back to those ranked."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from edgetui.errors import UserError
from edgetui.ranking.criteria import CRITERIA, DEFAULT_WEIGHTS, format_weights, parse_weights
from edgetui.tui.dialogs import InputScreen
from edgetui.tui.screens.results_columns import SHORT

MAX_WEIGHT = 99.0
HINT = "space on/off\n+/- weight\n↑ higher better\n↓ lower better"


class WeightsPane(Vertical):
    weights: reactive[dict[str, float]] = reactive(dict(DEFAULT_WEIGHTS), init=False)
    wide: reactive[bool] = reactive(False, init=False)  # full criterion names (a wide screen)

    class Asked(Message):
        """Rank with these weights (the pane shows them once the screen sets them)."""

        def __init__(self, weights: dict[str, float]) -> None:
            super().__init__()
            self.weights = weights

    def __init__(self, *, wide: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(WeightsPane.wide, wide)  # drawn so from the first: the columns fit the labels
        self.saved_weights: dict[str, float] = {}  # weight before a criterion was switched off
        self._cells: dict[tuple[str, str], Text] = {}

    def compose(self) -> ComposeResult:
        yield DataTable(id="weights", cursor_type="row", cell_padding=0)
        yield Static(Text(HINT, style="dim"), id="weights-hint")

    def on_mount(self) -> None:
        self.border_title = "Weights"
        w = self.table
        w.add_column("on  ", key="on", width=4)
        w.add_column("criterion", key="label")
        w.add_column(" ", key="dir", width=2)
        w.add_column(" wt", key="weight", width=3)
        self._draw()

    @property
    def table(self) -> DataTable:
        return self.query_one("#weights", DataTable)

    @property
    def criterion(self) -> str:
        """The highlighted criterion's key."""
        return list(CRITERIA)[self.table.cursor_row]

    def watch_weights(self) -> None:
        self.draw()

    def watch_wide(self) -> None:
        self.draw()

    # ------------------------------------------------------------------ what the screen's keys do
    def toggle(self) -> None:
        """Count the highlighted criterion in the score (with the weight it had), or not."""
        key = self.criterion
        self.ask(key, 0 if self.weights.get(key, 0) > 0 else self.saved_weights.get(key, 1.0))

    def step(self, step: int) -> None:
        key = self.criterion
        self.ask(key, self.weights.get(key, 0.0) + step)

    def ask(self, key: str, weight: float) -> None:
        weights = dict(self.weights)
        if weight > 0:
            weights[key] = min(MAX_WEIGHT, weight)
        else:
            if weights.get(key, 0) > 0:
                self.saved_weights[key] = weights[key]
            weights.pop(key, None)
        self.weights = weights
        self.post_message(self.Asked(weights))

    def type_weights(self) -> None:
        """The weights typed as `edgetui rank --weights` takes them."""
        def check(text: str) -> str | None:
            try:
                parse_weights(text)
            except UserError as exc:
                return exc.message
            return None

        def done(text: str | None) -> None:
            if text:
                self.weights = parse_weights(text)
                self.post_message(self.Asked(dict(self.weights)))

        keys = ", ".join(CRITERIA)
        self.app.push_screen(InputScreen("Weights", format_weights(self.weights),
                                         f"CRITERION=WEIGHT, comma separated; criteria: {keys}", check), done)

    # ------------------------------------------------------------------ drawing
    def draw(self) -> None:
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        table = self.table
        for key, c in CRITERIA.items():
            w = self.weights.get(key, 0.0)
            cells = {
                "on": Text("[x]" if w > 0 else "[ ]", style="bold green" if w > 0 else "dim"),
                "label": Text(c.label if self.wide else SHORT.get(key, c.label), style="" if w > 0 else "dim"),
                "dir": Text(" ↑" if c.higher_is_better else " ↓"),
                "weight": Text(f"{w:g}" if w > 0 else "-", justify="right"),
            }
            if key in table.rows:
                for col, value in cells.items():
                    # only what changed: each update makes the table measure and redraw itself
                    if self._cells.get((key, col)) != value:
                        table.update_cell(key, col, value, update_width=col == "label")
            else:
                table.add_row(*cells.values(), key=key)
            self._cells.update({(key, col): value for col, value in cells.items()})
