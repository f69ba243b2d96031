"""Which columns the ranking table shows, in what order, and which of them fit a width.

Every column is shown whole or not at all, so no figure is ever cut to a smaller one; names
(board, configuration) may be shortened with an ellipsis to stay in view. Rank and score stay
put while h and l move the columns after them. Headers are two lines (name, unit) so that
numeric columns stay narrow.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgetui.fmt import figure
from edgetui.ranking.criteria import CRITERIA
from edgetui.tui.screens.results_view import INTERVAL, criterion_key
from edgetui.tui.widgets.frame_table import CELL_PADDING, TableColumn

# Short column headers for the criteria (the full label is in the weights pane and the help).
SHORT = {
    "decode_tps": "decode", "prefill_tps": "prefill", "ttft_ms": "TTFT", "net_energy_j_per_token": "net E/tok",
    "energy_j_per_token": "E/tok", "power_w": "power", "tps_per_litre": "tok/s/L", "tps_per_usd": "tok/s/$",
    "rss_mb": "RSS", "temp_c": "peak T", "ppl": "ppl", "kld": "KLD", "top1": "top-1", "sustained": "sustained",
    "drop": "drop",
}
FIXED_COLUMNS = 2  # rank and score stay in view when the other columns scroll
# names, unlike figures, may be cut (with an ellipsis) to keep them in view: (most, least) width
NAME_WIDTHS = {"board": (22, 8), "config": (24, 6), "model": (40, 12), "fleet_host": (16, 6)}
# the names before the first criterion give room, in this order, so that it stays in view
MAKE_ROOM = ("config", "model")
LEFT = {"model", "board", "fleet_host", "config", "status", "missing", "interval"}
STYLES = {"score": "bold", "missing": "yellow"}


@dataclass(frozen=True)
class Layout:
    columns: list[TableColumn]  # the columns shown, fitted
    offset: int  # first column shown after the fixed ones (clamped)
    hidden_right: int  # columns that did not fit to the right


def catalogue(weights: dict[str, float], include_failed: bool, with_config: bool,
              with_host: bool = False) -> list[tuple[str, str]]:
    """Every (column key, header) in display order: rank (with the Pareto mark) and score, the
    model and its configuration (the parameters that vary), the status when failed rows are
    shown, the criteria that count, the 95% rank interval (marked where tied for best), the board
    (and a fleet's inventory host), the other criteria, what is missing."""
    cols = [("rank", "#\n"), ("score", "score\n"), ("model", "model\n")]
    if with_config:
        cols.append(("config", "configuration\n"))
    if include_failed:
        cols.append(("status", "status\n"))
    selected = [k for k in CRITERIA if weights.get(k, 0) > 0]
    for key in selected:
        c = CRITERIA[key]
        cols.append((criterion_key(key), f"{SHORT.get(key, c.label)} ×{weights[key]:g}\n{c.unit}"))
    cols.append((INTERVAL, "95%\nrank"))
    cols.append(("board", "board\n"))
    if with_host:  # a fleet's rows: two identical boards told apart by their inventory host
        cols.append(("fleet_host", "host\n"))
    for key in CRITERIA:
        if key not in selected:
            c = CRITERIA[key]
            cols.append((criterion_key(key), f"{SHORT.get(key, c.label)}\n{c.unit}"))
    cols.append(("missing", "missing\n"))
    return cols


def fit(cols: list[tuple[str, str]], widths: dict[str, int], available: int, offset: int) -> Layout:
    """The columns that fit `available` cells: the fixed ones, then whole columns from `offset`."""
    fixed, rest = cols[:FIXED_COLUMNS], cols[FIXED_COLUMNS:]
    offset = max(0, min(offset, len(rest) - 1))

    def column(key: str, header: str, width: int) -> TableColumn:
        if key == "config" and width < len("configuration"):
            header = "config\n"  # the long name only where the column is that wide anyway
        return TableColumn(key, header, width, "left" if key in LEFT else "right", STYLES.get(key, ""),
                           figure if key.startswith("c:") else None)

    def natural(key: str, header: str) -> int:
        head = len("config") if key == "config" else max(len(line) for line in header.split("\n"))
        w = max(widths.get(key, 0), head)
        if key in NAME_WIDTHS:
            w = min(w, NAME_WIDTHS[key][0])
        return w

    width = {k: natural(k, h) for k, h in cols}
    if offset == 0:
        lead = [k for k, _ in fixed]
        for k, _ in rest:
            lead.append(k)
            if k.startswith("c:"):
                break
        over = sum(width[k] + 2 * CELL_PADDING for k in lead) - available
        for k in MAKE_ROOM:
            if over > 0 and k in lead:
                cut = min(over, width[k] - NAME_WIDTHS[k][1])
                if cut > 0:
                    width[k] -= cut
                    over -= cut
    shown = [column(k, h, width[k]) for k, h in fixed]
    used = sum(c.render_width for c in shown)
    for k, h in rest[offset:]:
        w = width[k]
        if used + w + 2 * CELL_PADDING > available and k in NAME_WIDTHS:
            room = available - used - 2 * CELL_PADDING
            if room >= NAME_WIDTHS[k][1]:
                w = min(w, room)
        if used + w + 2 * CELL_PADDING > available and len(shown) > FIXED_COLUMNS:
            break
        shown.append(column(k, h, w))
        used += w + 2 * CELL_PADDING
    hidden_right = len(rest) - offset - (len(shown) - FIXED_COLUMNS)
    return Layout(columns=shown, offset=offset, hidden_right=hidden_right)
