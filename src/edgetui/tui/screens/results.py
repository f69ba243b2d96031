"""The results screen: the ranking (edgetui.ranking.rank, the same code as `edgetui rank`) in a table,
a weights editor beside it, filters, sorting and export. Nothing is ranked here: every change
calls ranking.rank() again and the table is updated from what it returns.

polars comes in with this module, which the app imports only when results are first shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Label, Select, Static

from edgetui.ranking import criteria as ranking, export
from edgetui.ranking.rank import Ranking, rank
from edgetui.ranking.sources import load_results
from edgetui.errors import UserError
from edgetui.fmt import NA, figure as fmt_value
from edgetui.tui.dialogs import ConfirmScreen, InputScreen

# Short column headers for the criteria (the full label is in the weights pane and the help).
SHORT = {
    "decode_tps": "decode", "prefill_tps": "prefill", "ttft_ms": "TTFT", "net_energy_j_per_token": "net E/tok",
    "energy_j_per_token": "E/tok", "power_w": "power", "tps_per_litre": "tok/s/L", "tps_per_usd": "tok/s/$",
    "rss_mb": "RSS", "temp_c": "peak T",
}
FILTER_COLUMNS = ("model", "board", "engine")
MAX_WEIGHT = 99.0
BOARD_WIDTH = 22
MIN_BOARD_WIDTH = 8
CELL_PADDING = 1  # DataTable's default, each side of a cell
FIXED_COLUMNS = 2  # rank and score stay in view when the other columns scroll
TABLE_SCROLLBAR = 1


class Cell:
    """A table cell that keeps its raw value (for sorting) beside the text shown."""

    __slots__ = ("value", "text", "style", "justify", "row_key")

    def __init__(self, value: Any, text: str | None = None, style: str = "", justify: str = "right",
                 row_key: str = "") -> None:
        self.value = value
        self.row_key = row_key
        self.text = fmt_value(value) if text is None else text
        self.style = ("dim" if value is None else "") + (" " + style if style else "")
        self.justify = justify

    def __rich__(self) -> Text:
        return Text(self.text, style=self.style.strip(), justify=self.justify, no_wrap=True,  # type: ignore[arg-type]
                    overflow="ellipsis")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and (self.text, self.style) == (other.text, other.style)

    def __hash__(self) -> int:
        return hash((self.text, self.style))


def params_of(row: dict[str, Any]) -> str:
    parts = []
    for key, fmt in (("n_threads", "t{}"), ("n_gpu_layers", "ngl{}"), ("n_ctx", "ctx{}"), ("n_batch", "b{}"),
                     ("flash_attn", "fa:{}"), ("quant", "{}"), ("prompt_tokens", "pp{}"), ("gen_tokens", "tg{}")):
        v = row.get(key)
        if v is not None:
            parts.append(fmt.format(int(v) if isinstance(v, float) and v.is_integer() else v))
    return " ".join(parts)


def short_clause(text: str) -> str:
    """The first clause of a policy sentence, for narrow terminals."""
    for sep in ("; ", ", oriented", " (after"):
        if sep in text:
            text = text.split(sep, 1)[0]
    return text


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


class ResultsScreen(Screen):
    CSS_PATH = "results.tcss"
    TITLE = "Results"
    AUTO_FOCUS = "#weights"

    BINDINGS = [
        Binding("j", "cursor(1)", "Down", show=False, id="results.down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="results.up"),
        Binding("space", "toggle_criterion", "On/off", id="results.toggle",
                tooltip="count the highlighted criterion in the score, or not"),
        Binding("plus,equals_sign", "weight(1)", "Raise weight", id="results.weight_up",
                tooltip="raise the highlighted criterion's weight"),
        Binding("minus", "weight(-1)", "Lower weight", show=False, id="results.weight_down",
                tooltip="lower the highlighted criterion's weight"),
        Binding("w", "type_weights", "Type weights", show=False, id="results.type_weights",
                tooltip="type weights as decode_tps=3,ttft_ms=1 (as `edgetui rank --weights`)"),
        Binding("o", "sort_next", "Sort", id="results.sort", tooltip="sort by the next column"),
        Binding("O", "sort_reverse", "Reverse", show=False, id="results.sort_reverse", tooltip="reverse the sort"),
        Binding("f", "filter", "Filter", id="results.filter", tooltip="keep one model, board or engine"),
        Binding("i", "include_failed", "Failed rows", show=False, id="results.include_failed",
                tooltip="show failed and skipped configurations (never scored above measured ones)"),
        Binding("e", "export", "Export", id="results.export", tooltip="write the ranking to .toml or .csv"),
        Binding("f5", "reload", "Reload", show=False, id="results.reload", tooltip="read the results files again"),
        Binding("h", "columns(-1)", "Columns left", show=False, id="results.columns_left",
                tooltip="show the columns to the left (rank and score stay)"),
        Binding("l", "columns(1)", "Columns right", show=False, id="results.columns_right",
                tooltip="show the columns to the right"),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="results.next_pane"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, id="results.previous_pane"),
        Binding("escape", "back", "Back", id="results.back"),
    ]

    def __init__(self, paths: Sequence[str | Path]) -> None:
        super().__init__()
        self.paths = [str(p) for p in paths]
        self.df: Any = None  # polars DataFrame of the merged results
        self.weights: dict[str, float] = dict(ranking.DEFAULT_WEIGHTS)
        self.saved_weights: dict[str, float] = {}  # weight before a criterion was switched off
        self.filters: dict[str, str] = {}
        self.include_failed = False
        self.ranking: Ranking | None = None
        self.rows: dict[str, dict[str, Any]] = {}
        self.cells: dict[str, dict[str, Cell]] = {}
        self.col_offset = 0  # first column shown after rank and score (h and l move it)
        self.board_cap = BOARD_WIDTH
        self.hidden_right = 0
        self.last_export: Path | None = None
        self.sort_key = "rank"
        self.sort_reverse = False
        self.error: str | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="ranking-pane", classes="pane"):
                yield DataTable(id="ranking", cursor_type="row", zebra_stripes=True, header_height=2)
                yield Static(id="row-details")
            with Vertical(id="weights-pane", classes="pane"):
                yield DataTable(id="weights", cursor_type="row", cell_padding=0)
                yield Static(id="weights-hint")
        yield Static(id="policy")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#ranking-pane").border_title = "Ranking"
        self.query_one("#weights-pane").border_title = "Weights"
        self.query_one("#policy").border_title = "How the score is made"
        w = self.query_one("#weights", DataTable)
        w.add_column("on  ", key="on", width=4)
        w.add_column("criterion", key="label")
        w.add_column(" ", key="dir", width=2)
        w.add_column(" wt", key="weight", width=3)
        self.query_one("#weights-hint", Static).update(
            Text("space on/off\n+/- weight\n↑ higher better\n↓ lower better", style="dim"))
        self._fit(self.size.width)
        self.load()
        self.call_after_refresh(self._draw_after_layout)

    def _draw_after_layout(self) -> None:
        if self.ranking is not None:
            self.draw_table(rebuild=True)  # now that the table's width is known

    def on_resize(self, event) -> None:  # noqa: ANN001 - textual.events.Resize
        self._fit(event.size.width)
        self.show_policy()
        if self.ranking is not None:
            self.call_after_refresh(self.draw_table, True)  # the columns that fit change with the width

    def _fit(self, width: int) -> None:
        self.set_class(width >= 140, "wide")

    # ------------------------------------------------------------------ data
    def load(self) -> None:
        try:
            self.df = load_results(self.paths)
            self.error = None
        except UserError as exc:
            self.df = None
            self.error = str(exc)
        self.rerank()

    def rerank(self) -> bool:
        """Rank again with the current settings; False (and the message shown) when refused."""
        self.draw_weights()
        if self.df is None:
            self.show_error(self.error or "no results")
            return False
        try:
            self.ranking = rank(self.df, self.weights, filters=self.filters or None,
                                        include_failed=self.include_failed)
        except UserError as exc:
            self.notify(exc.message, title="Not ranked", severity="error")
            return False
        self.draw_table()
        self.show_policy()
        return True

    def show_error(self, message: str) -> None:
        table = self.query_one("#ranking", DataTable)
        table.clear(columns=True)
        self.query_one("#row-details", Static).update(Text(message, style="bold red"))
        self.query_one("#policy", Static).update("")

    # ------------------------------------------------------------------ drawing
    def draw_weights(self) -> None:
        table = self.query_one("#weights", DataTable)
        for key, c in ranking.CRITERIA.items():
            w = self.weights.get(key, 0.0)
            cells = {
                "on": Text("[x]" if w > 0 else "[ ]", style="bold green" if w > 0 else "dim"),
                "label": Text(c.label if self.has_class("wide") else SHORT.get(key, c.label),
                              style="" if w > 0 else "dim"),
                "dir": Text(" ↑" if c.higher_is_better else " ↓"),
                "weight": Text(f"{w:g}" if w > 0 else "-", justify="right"),
            }
            if key in table.rows:
                for col, value in cells.items():
                    table.update_cell(key, col, value)
            else:
                table.add_row(*cells.values(), key=key)

    def columns(self) -> list[tuple[str, str]]:
        """Every (column key, header) in display order: rank (with the Pareto mark) and score, the
        model, the criteria that count, the board, the other criteria, then the parameters.
        Headers are two lines (name, unit) so that numeric columns stay narrow."""
        cols = [("rank", "#\n"), ("score", "score\n"), ("model", "model\n")]
        if self.include_failed:
            cols.append(("status", "status\n"))
        selected = [k for k in ranking.CRITERIA if self.weights.get(k, 0) > 0]
        others = [k for k in ranking.CRITERIA if k not in selected]
        for key in selected:
            c = ranking.CRITERIA[key]
            cols.append((f"c:{key}", f"{SHORT.get(key, c.label)} ×{self.weights[key]:g}\n{c.unit}"))
        cols.append(("board", "board\n"))
        for key in others:
            c = ranking.CRITERIA[key]
            cols.append((f"c:{key}", f"{SHORT.get(key, c.label)}\n{c.unit}"))
        cols.append(("params", "params\n"))  # wide: last, so that it does not hide the narrow ones
        cols.append(("missing", "missing\n"))
        return cols

    def _width(self, key: str, header: str) -> int:
        """The width a column takes on screen (its widest line, board names capped, and padding)."""
        widest = max(len(line) for line in header.split("\n"))
        for cells in self.cells.values():
            widest = max(widest, len(cells[key].text))
        if key == "board":
            widest = min(widest, self.board_cap)
        return widest + 2 * CELL_PADDING

    def visible_columns(self) -> list[tuple[str, str]]:
        """Rank and score always, then whole columns from the scroll offset while they fit: a
        column is shown entirely or not at all, so no figure is ever cut to a smaller one."""
        cols = self.columns()
        fixed, rest = cols[:FIXED_COLUMNS], cols[FIXED_COLUMNS:]
        self.col_offset = max(0, min(self.col_offset, len(rest) - 1))
        table = self.query_one("#ranking", DataTable)
        avail = (table.size.width or max(20, self.size.width - 34)) - TABLE_SCROLLBAR
        used = sum(self._width(k, h) for k, h in fixed)
        shown = list(fixed)
        self.board_cap = BOARD_WIDTH
        for k, h in rest[self.col_offset:]:
            w = self._width(k, h)
            if used + w > avail and k == "board" and avail - used >= MIN_BOARD_WIDTH + 2 * CELL_PADDING:
                # names, unlike figures, may be shortened (with an ellipsis): the board stays in view
                self.board_cap = avail - used - 2 * CELL_PADDING
                w = avail - used
            if used + w > avail and len(shown) > FIXED_COLUMNS:
                break
            shown.append((k, h))
            used += w
        self.hidden_right = len(rest) - self.col_offset - (len(shown) - FIXED_COLUMNS)
        return shown

    def row_cells(self, row: dict[str, Any]) -> dict[str, Cell]:
        rank_text = None if row.get("rank") is None else f"{row['rank']}{'★' if row.get('pareto') else ''}"
        cells: dict[str, Cell] = {
            "rank": Cell(row.get("rank"), rank_text, row_key=self.row_key(row),
                         style="yellow" if row.get("pareto") else ""),
            "score": Cell(row.get("score"), None if row.get("score") is None else f"{row['score']:.3f}",
                          style="bold"),
            "board": Cell(row.get("board"), justify="left"),
            "model": Cell(row.get("model"), justify="left"),
            "params": Cell(params_of(row), justify="left"),
            "status": Cell(row.get("status"), justify="left",
                           style="red" if row.get("status") == "failed" else ""),
            "missing": Cell(row.get("missing") or "", justify="left", style="yellow"),
        }
        for key, c in ranking.CRITERIA.items():
            value = row.get(f"value_{key}", row.get(c.column))
            text = None
            if key == "net_energy_j_per_token" and row.get("energy_basis") == "gross" and value is not None:
                text = fmt_value(value) + " (gross)"
            cells[f"c:{key}"] = Cell(value, text)
        return cells

    @staticmethod
    def row_key(row: dict[str, Any]) -> str:
        return f"{row.get('source')}|{row.get('config_id')}"

    def draw_table(self, rebuild: bool = False) -> None:
        """Show the ranking: cells updated in place when only values moved, or the table rebuilt
        when its rows or columns changed (or `rebuild`: a new width)."""
        assert self.ranking is not None
        table = self.query_one("#ranking", DataTable)
        rows = self.ranking.table.to_dicts()
        new_rows = {self.row_key(r): r for r in rows}
        new_cells = {rk: self.row_cells(r) for rk, r in new_rows.items()}
        old_cells = self.cells
        self.cells = new_cells
        cols = self.visible_columns()
        same_shape = (not rebuild and set(new_rows) == set(self.rows)
                      and [str(k.value) for k in table.columns] == [k for k, _ in cols])
        if same_shape:
            # the same rows and columns: update only the cells that changed (rank, score) and the headers
            for key, header in cols:
                table.columns[key].label = Text(header)  # type: ignore[index]
            for rk, cells in new_cells.items():
                old = old_cells[rk]
                for ck, cell in cells.items():
                    if ck in table.columns and old.get(ck) != cell:  # type: ignore[operator]
                        table.update_cell(rk, ck, cell)
            table.refresh()
        else:
            cursor = table.cursor_row
            table.clear(columns=True)
            for key, header in cols:
                # long board names are cut in the table (the row details below give them whole);
                # widths given, not measured by the table: the one computed to fit is the one drawn
                table.add_column(Text(header), key=key, width=self._width(key, header) - 2 * CELL_PADDING)
            for rk, cells in new_cells.items():
                table.add_row(*(cells[k] for k, _ in cols), key=rk)
            if rows:
                table.move_cursor(row=min(max(cursor, 0), len(rows) - 1))
        self.rows = new_rows
        self.apply_sort()
        n_failed = sum(1 for r in rows if r.get("status") not in (None, "done"))
        shown = f"{len(rows)} row(s)" + (f", {n_failed} not done" if n_failed else "")
        filt = ", ".join(f"{k}={v}" for k, v in self.filters.items())
        header = dict(self.columns()).get(self.sort_key, self.sort_key).replace("\n", " ").strip()
        more = []
        if self.col_offset:
            more.append("h ←")
        if self.hidden_right:
            more.append(f"{self.hidden_right} more →l")
        self.query_one("#ranking-pane").border_subtitle = (
            f"{shown} · sorted by {header}{' (reversed)' if self.sort_reverse else ''}"
            + (f" · filter {filt}" if filt else "") + (f" · columns: {' '.join(more)}" if more else ""))
        if not rows:
            why = "no row matches the filters" if self.filters else "no finished configuration to rank"
            self.query_one("#row-details", Static).update(Text(why + " (i shows failed rows)", style="yellow"))
        else:
            self.show_row_details()

    def display_order(self) -> list[str]:
        """Row keys in display order: numbers largest first (rank smallest first), text A to Z,
        reversed on request; a missing value always last; ties in rank order."""
        key = self.sort_key
        by_rank = sorted(self.rows, key=lambda rk: (self.rows[rk].get("rank") is None, self.rows[rk].get("rank") or 0))
        present = [rk for rk in by_rank if self.cells[rk][key].value is not None]
        missing = [rk for rk in by_rank if self.cells[rk][key].value is None]
        values = {rk: self.cells[rk][key].value for rk in present}
        numeric = all(isinstance(v, (int, float)) for v in values.values())
        descending = numeric and key != "rank"
        present.sort(key=lambda rk: values[rk] if numeric else str(values[rk]).lower(),
                     reverse=descending != self.sort_reverse)
        return present + missing

    def apply_sort(self) -> None:
        table = self.query_one("#ranking", DataTable)
        if not self.rows:
            return
        if self.sort_key not in table.columns:
            self.sort_key = "rank"
        positions = {rk: i for i, rk in enumerate(self.display_order())}
        # DataTable.sort hands the key function the rank cell; that cell knows its row
        table.sort("rank", key=lambda cell: positions.get(cell.row_key, 0))

    def show_row_details(self) -> None:
        table = self.query_one("#ranking", DataTable)
        details = self.query_one("#row-details", Static)
        if table.row_count == 0:
            return
        try:
            rk = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # the cursor is past the rows of a table being rebuilt
            return
        row = self.rows.get(rk or "")
        if row is None:
            return
        t = Text()
        t.append(f"{row.get('config_id')} ", style="bold")
        t.append(f"{row.get('board') or NA} · {row.get('model')} · {row.get('engine')} · {params_of(row)}")
        t.append(f"\nfrom {row.get('source')}", style="dim")
        if row.get("status") != "done":
            t.append(f"\n{row.get('status')}: {(row.get('error') or '').splitlines()[0] if row.get('error') else ''}",
                     style="bold red")
        if row.get("missing"):
            t.append(f"\nmissing (counted as worst, not as zero): {row['missing']}", style="yellow")
        details.update(t)

    def show_policy(self) -> None:
        if self.ranking is None:
            return
        wide = self.size.width >= 140 or self.size.height >= 40
        norm = self.ranking.normalisation if wide else short_clause(self.ranking.normalisation)
        miss = self.ranking.missing_policy if wide else short_clause(self.ranking.missing_policy)
        t = Text()
        t.append("normalisation: ", style="bold")
        t.append(norm)
        t.append("\nmissing values: ", style="bold")
        t.append(miss)
        t.append(f"\nweights: {ranking.format_weights(self.weights)} · ★ Pareto-optimal on them", style="dim")
        self.query_one("#policy", Static).update(t)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "ranking":
            self.show_row_details()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.data_table.id != "ranking":
            return
        key = str(event.column_key.value)
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self.draw_table()

    # ------------------------------------------------------------------ actions
    def _criterion(self) -> str:
        table = self.query_one("#weights", DataTable)
        return list(ranking.CRITERIA)[table.cursor_row]

    def set_weight(self, key: str, weight: float) -> None:
        before = dict(self.weights)
        if weight > 0:
            self.weights[key] = min(MAX_WEIGHT, weight)
        else:
            if self.weights.get(key, 0) > 0:
                self.saved_weights[key] = self.weights[key]
            self.weights.pop(key, None)
        if not self.rerank():
            self.weights = before
            self.draw_weights()

    def action_cursor(self, step: int) -> None:
        table = self.focused if isinstance(self.focused, DataTable) else self.query_one("#weights", DataTable)
        (table.action_cursor_down if step > 0 else table.action_cursor_up)()

    def action_toggle_criterion(self) -> None:
        key = self._criterion()
        if self.weights.get(key, 0) > 0:
            self.set_weight(key, 0)
        else:
            self.set_weight(key, self.saved_weights.get(key, 1.0))

    def action_weight(self, step: int) -> None:
        key = self._criterion()
        self.set_weight(key, self.weights.get(key, 0.0) + step)

    def action_type_weights(self) -> None:
        def check(text: str) -> str | None:
            try:
                ranking.parse_weights(text)
            except UserError as exc:
                return exc.message
            return None

        def done(text: str | None) -> None:
            if text:
                before = dict(self.weights)
                self.weights = ranking.parse_weights(text)
                if not self.rerank():
                    self.weights = before
                    self.draw_weights()

        keys = ", ".join(ranking.CRITERIA)
        self.app.push_screen(InputScreen("Weights", ranking.format_weights(self.weights),
                                         f"CRITERION=WEIGHT, comma separated; criteria: {keys}", check), done)

    def action_sort_next(self) -> None:
        keys = [k for k, _ in self.columns() if k not in ("params", "missing")]
        i = keys.index(self.sort_key) if self.sort_key in keys else -1
        self.sort_key = keys[(i + 1) % len(keys)]
        self.sort_reverse = False
        if self.ranking is not None:
            self.draw_table()

    def action_columns(self, step: int) -> None:
        if self.ranking is None:
            return
        if step > 0 and not self.hidden_right:
            return
        self.col_offset = max(0, self.col_offset + step)
        self.draw_table()

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        if self.ranking is not None:
            self.draw_table()

    def action_filter(self) -> None:
        if self.df is None:
            return
        choices = {}
        for col in FILTER_COLUMNS:
            if col in self.df.columns:
                choices[col] = sorted({str(v) for v in self.df[col].to_list() if v is not None})

        def done(filters: dict[str, str] | None) -> None:
            if filters is None:
                return
            before = dict(self.filters)
            self.filters = filters
            if not self.rerank():
                self.filters = before
                self.rerank()

        self.app.push_screen(FilterScreen(choices, self.filters), done)

    def action_include_failed(self) -> None:
        self.include_failed = not self.include_failed
        self.rerank()
        self.notify("failed and skipped rows shown" if self.include_failed else "failed and skipped rows hidden")

    def action_reload(self) -> None:
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("export", "filter", "sort_next", "sort_reverse", "include_failed") and self.df is None:
            return False
        return True

    def action_export(self) -> None:
        if self.ranking is None:
            return
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        default = f"edgetui-ranking-{stamp}.toml"

        def check(path: str) -> str | None:
            p = Path(path).expanduser()
            if p.suffix.lower() not in (".toml", ".csv"):
                return "the file name must end in .toml or .csv"
            if p.is_dir():
                return "that is a folder; give a file name"
            if not p.parent.exists():
                return f"no folder {p.parent}"
            return None

        def chosen(path: str | None) -> None:
            if not path:
                return
            p = Path(path).expanduser()
            if p.exists():
                self.app.push_screen(
                    ConfirmScreen("Overwrite?", f"{p} exists. Replace it with this ranking?", yes="Overwrite",
                                  no="Cancel"),
                    lambda yes: self.write_export(p, force=True) if yes else None)
            else:
                self.write_export(p, force=False)

        self.app.push_screen(InputScreen("Export the ranking", default,
                                         "A .toml or .csv path: the file holds the weights, the normalisation, "
                                         "and every row's rank, score and raw metrics.", check), chosen)

    def write_export(self, path: Path, *, force: bool) -> None:
        assert self.ranking is not None
        try:
            written = export.export_ranking(self.ranking, path, force=force)
        except UserError as exc:
            self.notify(str(exc), title="Not exported", severity="error", timeout=10)
            return
        self.last_export = written
        self.notify(f"ranking written to {written}", title="Exported")

    def action_back(self) -> None:
        self.app.go_back()  # type: ignore[attr-defined]
