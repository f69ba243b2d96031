"""The results screen's ranking pane: the answer line, the ranking table (and the plot beside or
below it), the highlighted row's details and the constraints line. The screen composes its
children (so that the plot binds to the screen's reactives) and gives it each ranking to show
(`show`, down); the pane owns what only the table needs: which columns fit and the horizontal
scroll (h, l), the note on where the row highlighted before a re-rank went, and the row details.
The cursor moving posts RowChanged (up)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from edgetui.fmt import NA
from edgetui.tui.screens.results_columns import Layout, catalogue, fit
from edgetui.tui.screens.results_view import RankedView
from edgetui.tui.widgets.answer_line import AnswerLine
from edgetui.tui.widgets.frame_table import FrameTable

TABLE_SCROLLBAR = 1
WEIGHTS_AND_BORDERS = 34  # what the table's width is guessed to leave before it is laid out


def params_of(row: dict[str, Any]) -> str:
    parts = []
    for key, fmt in (("n_threads", "t{}"), ("n_gpu_layers", "ngl{}"), ("n_ctx", "ctx{}"), ("n_batch", "b{}"),
                     ("flash_attn", "fa:{}"), ("quant", "{}"), ("prompt_tokens", "pp{}"), ("gen_tokens", "tg{}")):
        v = row.get(key)
        if v is not None:
            parts.append(fmt.format(int(v) if isinstance(v, float) and v.is_integer() else v))
    return " ".join(parts)


def identity_of(row: dict[str, Any] | None) -> str | None:
    """A row's identity across rankings (source|config_id)."""
    return f"{row.get('source') or ''}|{row.get('config_id')}" if row else None


class RankingPane(Vertical):
    class RowChanged(Message):
        """The cursor is on another row of the ranking (None: no row shown)."""

        def __init__(self, row: dict[str, Any] | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view: RankedView | None = None
        self.col_offset = 0  # first column shown after rank and score (h and l move it)
        self.hidden_right = 0
        self._rank_note = ""
        self._shown_text: Text | str | None = None

    def on_mount(self) -> None:
        self.border_title = "Ranking"

    @property
    def table(self) -> FrameTable:
        return self.query_one("#ranking", FrameTable)

    def highlighted_row(self) -> dict[str, Any] | None:
        """The ranking's row under the cursor, or None."""
        table = self.table
        if self.view is None or table.row_count == 0:
            return None
        return self.view.row(min(table.cursor_row, table.row_count - 1))

    def columns(self) -> list[tuple[str, str]]:
        """Every (column key, header) of the ranking shown, in display order (results_columns.catalogue)."""
        assert self.view is not None
        shown = self.view.settings  # what the table shows, until the next ranking arrives
        return catalogue(shown.weights, shown.include_failed, with_config=bool(self.view.varying),
                         with_host=self.view.loaded.has_host)

    def fit_columns(self) -> Layout:
        assert self.view is not None
        available = (self.table.size.width or max(20, self.screen.size.width - WEIGHTS_AND_BORDERS)) - TABLE_SCROLLBAR
        out = fit(self.columns(), self.view.widths, available, self.col_offset)
        self.col_offset, self.hidden_right = out.offset, out.hidden_right
        return out

    # ------------------------------------------------------------------ what the screen asks
    def show(self, view: RankedView, keep: str | None = None, reranked_from: str | None = None) -> None:
        """Show this ranking: the table's frame and order swapped, the cursor on the row it was on
        (`keep`: a row identity after a reload or a new order) where that row is still shown, or at
        the top after a re-rank, with where the row highlighted before went (`reranked_from`)."""
        self.view = view
        table = self.table
        cursor = None
        if keep is not None:
            loaded_row = view.loaded.position(keep)
            position = view.position_of(loaded_row) if loaded_row is not None else None
            cursor = position if position is not None else table.cursor_row
        if reranked_from is not None:
            cursor, self._rank_note = 0, self._new_rank_note(view, reranked_from)
        table.show(view.frame, self.fit_columns().columns, view.order, cursor=cursor)
        self.query_one(AnswerLine).answer = view.answer
        settings = view.settings
        n = len(view.order)
        n_failed = view.n_failed
        shown = f"{n:,} row(s)" + (f", {n_failed} not done" if n_failed else "")
        filt = ", ".join(f"{k}={v}" for k, v in settings.filters.items())
        header = dict(self.columns()).get(settings.sort_key, settings.sort_key).replace("\n", " ").strip()
        more = []
        if self.col_offset:
            more.append("h ←")
        if self.hidden_right:
            more.append(f"{self.hidden_right} more →l")
        self.border_subtitle = (
            f"{shown}{self._rank_note} · sorted by {header}{' (reversed)' if settings.sort_reverse else ''}"
            + (f" · filter {filt}" if filt else "") + (f" · columns: {' '.join(more)}" if more else ""))
        if not n:
            why = ("no row meets the constraints" if view.ranking.constraints else
                   "no row matches the filters" if settings.filters else "no finished configuration to rank")
            self.say(Text(why + " (i shows failed rows)", style="yellow"))
        else:
            self.show_row_details()

    def redraw(self) -> None:
        """The same ranking again (a new width: other columns fit)."""
        if self.view is not None:
            self.show(self.view)

    def scroll_columns(self, step: int) -> None:
        if self.view is None or (step > 0 and not self.hidden_right):
            return
        self.col_offset = max(0, self.col_offset + step)
        self.redraw()

    def clear(self, message: str) -> None:
        """No ranking: why, in red."""
        self.view = None
        self.table.show(self.table.frame.clear(), [])
        self.query_one(AnswerLine).answer = ""
        self.say(Text(message, style="bold red"))

    def say(self, content: Text | str) -> None:
        """The row details' line: replaced only when it changed (an update lays the screen out again)."""
        if self._shown_text != content:
            self._shown_text = content
            self.query_one("#row-details", Static).update(content)

    # ------------------------------------------------------------------ the cursor
    def on_frame_table_row_highlighted(self, event: FrameTable.RowHighlighted) -> None:
        self.show_row_details()
        self.post_message(self.RowChanged(self.highlighted_row()))

    def show_row_details(self) -> None:
        row = self.highlighted_row()
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
        self.say(t)

    @staticmethod
    def _new_rank_note(view: RankedView, identity: str) -> str:
        """' · CONFIG (highlighted before) now #N', or that it is no longer shown."""
        if not identity:
            return ""
        loaded_row = view.loaded.position(identity)
        position = view.position_of(loaded_row) if loaded_row is not None else None
        if position is None:
            return " · the row highlighted before is not shown"
        row = view.row(position)
        return f" · {row.get('config_id')} (highlighted before) now #{row.get('rank')}"
