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
