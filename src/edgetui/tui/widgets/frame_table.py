"""A table that shows any number of rows: its cells are text columns of a polars frame, and only
the rows in view are read and drawn (Textual's Line API), so 100,000 rows cost what 30 do.

The frame is never copied into the widget: show() swaps the frame reference and an optional
order (row numbers into the frame, in display order), so a re-rank or a sort is one call. A
column may hold values rather than text, with a formatter applied to the cells in view only.
A missing cell (null) is drawn as `null_text` ("n/a"), dimmed. Header lines may be two (name over unit).
Columns are laid out as given, whole, from the left; the caller decides which fit (see
tui.screens.results_columns), so there is no horizontal scrolling here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from edgetui.fmt import NA

CELL_PADDING = 1  # blank cells each side of a column's text
ELLIPSIS = "…"
STYLE_SUFFIX = ":style"  # a frame column "<key>:style" gives per-cell Rich styles for column <key>
TEXT_SUFFIX = ":suffix"  # a frame column "<key>:suffix" gives per-cell text drawn after the value


@dataclass(frozen=True)
class TableColumn:
    key: str  # the frame's text column
    header: str  # one or two lines ("decode\ntok/s")
    width: int  # text width, without the padding
    justify: Literal["left", "right"] = "right"
    style: str = ""  # Rich style of every cell of the column
    # the value as text, for the cells in view only (None: the frame's column is text already)
    format: Callable[[Any], str] | None = None

    @property
    def render_width(self) -> int:
        return self.width + 2 * CELL_PADDING


def clip(text: str, width: int, justify: str) -> str:
    """The text in exactly `width` cells: cut with an ellipsis when longer (only names are ever
    given less room than they need: figures get their full width)."""
    if len(text) > width:
        text = text[: max(0, width - 1)] + ELLIPSIS if width > 0 else ""
    return text.rjust(width) if justify == "right" else text.ljust(width)


class FrameTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"frame-table--header", "frame-table--cursor", "frame-table--even-row",
                         "frame-table--odd-row"}
    DEFAULT_CSS = """
    FrameTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        &:focus {
            background-tint: $foreground 5%;
            & > .frame-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .frame-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .frame-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .frame-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .frame-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .frame-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "to(0)", "First row", show=False),
        Binding("end", "to(-1)", "Last row", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class RowHighlighted(Message):
        """The cursor moved to another row (a display position)."""

        def __init__(self, table: FrameTable, row: int) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> FrameTable:
            return self.table

    class HeaderSelected(Message):
        """A column header was clicked."""

        def __init__(self, table: FrameTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> FrameTable:
            return self.table

    def __init__(self, *, zebra_stripes: bool = True, header_height: int = 2, null_text: str = NA,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.null_text = null_text
        self.zebra_stripes = zebra_stripes
        self.header_height = header_height
        self.frame: pl.DataFrame = pl.DataFrame()
        self.order: np.ndarray | None = None
        self.columns: tuple[TableColumn, ...] = ()
        self.generation = 0  # counts show() calls: what a benchmark waits for
        self.painted_generation = -1  # the generation last drawn
        self._window: tuple[int, int, int, list[tuple[Any, ...]]] = (-1, 0, 0, [])

    # ------------------------------------------------------------------ data
    @property
    def row_count(self) -> int:
        return len(self.order) if self.order is not None else self.frame.height

    @property
    def column_keys(self) -> list[str]:
        return [c.key for c in self.columns]

    def show(self, frame: pl.DataFrame, columns: Sequence[TableColumn], order: np.ndarray | None = None,
             cursor: int | None = None) -> None:
        """Show these columns of `frame`, its rows in `order` (row numbers; None: as they are), the
        cursor on display position `cursor` (None: where it was, within the rows)."""
        self.frame = frame
        self.order = order
        self.columns = tuple(columns)
        self.generation += 1
        self._window = (-1, 0, 0, [])
        self.virtual_size = Size(sum(c.render_width for c in self.columns), self.row_count + self.header_height)
        row = self.cursor_row if cursor is None else cursor
        self.cursor_row = max(0, min(row, self.row_count - 1))
        self.refresh()

    def frame_row(self, position: int) -> int:
        """The frame's row number shown at a display position."""
        return int(self.order[position]) if self.order is not None else position

    def _rows(self, start: int, count: int) -> list[tuple[Any, ...]]:
        """The cells of display rows start..start+count (read once per scroll position)."""
        gen, w_start, w_count, rows = self._window
        if gen == self.generation and w_start == start and w_count == count:
            return rows
        stop = min(self.row_count, start + count)
        names = [c.key for c in self.columns] + [c.key + extra for extra in (STYLE_SUFFIX, TEXT_SUFFIX)
                                                 for c in self.columns if c.key + extra in self.frame.columns]
        if stop <= start or not self.columns:
            rows = []
        else:
            window = self.frame.select(names)
            if self.order is not None:
                window = window[self.order[start:stop]]
            else:
                window = window.slice(start, stop - start)
            rows = window.rows()
        self._window = (self.generation, start, count, rows)
        return rows

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y < self.header_height:
            return self._header_line(y, width)
        self.painted_generation = self.generation
        top = int(self.scroll_y)
        rows = self._rows(top, self.scrollable_content_region.height - self.header_height)
        i = y - self.header_height
        if i >= len(rows):
            return Strip.blank(width, self.rich_style)
        return self._row_line(top + i, rows[i], width)

    def _header_line(self, line: int, width: int) -> Strip:
        style = self.get_component_rich_style("frame-table--header")
        segments = []
        for c in self.columns:
            parts = c.header.split("\n")
            text = parts[line] if line < len(parts) else ""
            segments.append(Segment(" " * CELL_PADDING + clip(text, c.width, c.justify) + " " * CELL_PADDING, style))
        return Strip(segments).extend_cell_length(width, style).crop(0, width)

    def _row_line(self, position: int, cells: tuple[Any, ...], width: int) -> Strip:
        if position == self.cursor_row:
            base = self.get_component_rich_style("frame-table--cursor")
        elif self.zebra_stripes and position % 2:
            base = self.get_component_rich_style("frame-table--even-row")
        else:
            base = self.get_component_rich_style("frame-table--odd-row")
        n = len(self.columns)
        styled = {c.key: n + j for j, c in enumerate(c for c in self.columns
                                                       if c.key + STYLE_SUFFIX in self.frame.columns)}
        n += len(styled)
        suffixed = {c.key: n + j for j, c in enumerate(c for c in self.columns
                                                         if c.key + TEXT_SUFFIX in self.frame.columns)}
        on_cursor = position == self.cursor_row
        segments = []
        for k, c in enumerate(self.columns):
            value = cells[k]
            cell_style = " ".join(s for s in (c.style, cells[styled[c.key]] if c.key in styled else None,
                                              "dim" if value is None else None) if s)
            style = base
            if cell_style:
                extra = Style.parse(cell_style)
                # on the cursor row the cursor's colours win; a cell keeps only its emphasis
                style = base + (Style(bold=extra.bold, dim=extra.dim, italic=extra.italic) if on_cursor else extra)
            if value is None:
                text = self.null_text
            else:
                text = c.format(value) if c.format is not None else str(value)
                suffix = cells[suffixed[c.key]] if c.key in suffixed else None
                if suffix:
                    text += suffix
            segments.append(Segment(" " * CELL_PADDING + clip(text, c.width, c.justify) + " " * CELL_PADDING, style))
        return Strip(segments).extend_cell_length(width, base).crop(0, width)

    # ------------------------------------------------------------------ cursor
    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        if self.row_count:
            self.post_message(self.RowHighlighted(self, new))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - self.header_height)
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def move_cursor(self, row: int) -> None:
        if self.row_count:
            self.cursor_row = max(0, min(row, self.row_count - 1))

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step * max(1, self.scrollable_content_region.height - self.header_height))

    def action_to(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else self.row_count - 1)

    def on_resize(self, event: events.Resize) -> None:
        self._window = (-1, 0, 0, [])
        self._scroll_to_cursor()

    async def on_click(self, event: events.Click) -> None:
        if event.y < self.header_height:
            x = 0
            for c in self.columns:
                if x <= event.x < x + c.render_width:
                    self.post_message(self.HeaderSelected(self, c.key))
                    return
                x += c.render_width
            return
        self.move_cursor(int(self.scroll_y) + event.y - self.header_height)
