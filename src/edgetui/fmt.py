"""Figures as text, with a missing value shown as "n/a" everywhere (CLI lines, the summary table,
the console's panes and tables): never a zero, never an empty string where a figure belongs."""

from __future__ import annotations

from typing import Any

NA = "n/a"


def is_missing(v: Any) -> bool:
    """None, or a float NaN (what polars and the CSV reader hand back for an empty cell)."""
    return v is None or (isinstance(v, float) and v != v)


def number(v: float | None, digits: int = 1, unit: str = "") -> str:
    """A figure with a fixed number of decimals and an optional unit: "6.40 W", or "n/a"."""
    if v is None or is_missing(v):
        return NA
    return f"{v:.{digits}f}{(' ' + unit) if unit else ''}"


def cell(v: Any, spec: str) -> str:
    """A value through a format spec ("{:.1f}"); text that the spec does not take is shown as it is."""
    if is_missing(v):
        return NA
    try:
        return spec.format(v)
    except (ValueError, TypeError):
        return str(v)


def figure(v: Any) -> str:
    """A table cell with as many digits as its size deserves: 1,253 · 124.5 · 6.40 · 0.09926."""
    if is_missing(v):
        return NA
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        a = abs(v)
        if a < 1e-9:  # float noise around zero (a net energy equal to idle), not a figure
            return "0"
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        return f"{v:.4g}"
    return str(v)


def duration(seconds: float | None) -> str:
    """45s · 1m05s · 2h03m, or "n/a"."""
    if seconds is None or is_missing(seconds):
        return NA
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# What a terminal acts on rather than shows: the C0 controls (ESC begins every escape sequence:
# cursor moves, colours, the window title, OSC 52 writing the clipboard), DEL, and the C1 controls
# (0x9b is a CSI on its own where a terminal reads 8-bit controls).
_CONTROLS = (*range(0x00, 0x20), *range(0x7F, 0xA0))
_ESCAPED_ALL = {c: f"\\x{c:02x}" for c in _CONTROLS}
_ESCAPED_KEEP_LINES = {c: e for c, e in _ESCAPED_ALL.items() if c not in (0x0A, 0x09)}


def printable(text: object, *, lines: bool = True) -> str:
    """Text from outside (a results file, a board, a profile, an error it caused) made safe to
    print: every control character is written as a visible escape (ESC as the four characters
    \\x1b), so a name cannot move the cursor, recolour, retitle or rewrite the user's terminal.
    lines=True keeps newlines and tabs (a block of output); lines=False escapes them too (one cell).
    Every plain-text line edgetui prints goes through here."""
    return str(text).translate(_ESCAPED_KEEP_LINES if lines else _ESCAPED_ALL)


# A spreadsheet reads a CSV cell that starts with one of these as a formula (OWASP's CSV injection
# rule: = + - @, tab and carriage return); the quote is the one put before such a cell, and is itself
# in the set so that the prefix comes off again exactly (a cell that began with a quote keeps it).
SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SPREADSHEET_QUOTE = "'"
SPREADSHEET_GUARDED = (*SPREADSHEET_FORMULA_START, SPREADSHEET_QUOTE)
# the same rule as a regular expression (for polars' column-wise writer): group 1 is the first character
SPREADSHEET_GUARDED_PATTERN = "^([=+@\\t\\r'-])"


def spreadsheet_text(value: str) -> str:
    """A text cell for a CSV export: a quote put before a cell a spreadsheet would run as a
    formula (numbers are never passed here: a -3 stays a number)."""
    return SPREADSHEET_QUOTE + value if value.startswith(SPREADSHEET_GUARDED) else value


def spreadsheet_text_back(value: str) -> str:
    """The text spreadsheet_text was given (what an export's reader undoes)."""
    return value[1:] if value.startswith(SPREADSHEET_QUOTE) else value
