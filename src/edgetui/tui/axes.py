"""Axis limits for the console's plots (no plotting library here: the live screen imports this
without the trade-off plot's polars)."""

from __future__ import annotations


def padded(lo: float, hi: float, share: float) -> tuple[float, float]:
    """Axis limits around [lo, hi] with `share` of the range on each side. A range that is flat, or
    flat but for float noise (6.400896 and 6.400896000000001), gets a width of its own: the
    plot's tick spacing would be zero, which textual-plot cannot label."""
    scale = max(abs(lo), abs(hi), 1.0)
    if hi - lo < scale * 1e-6:
        half = max(scale * 0.05, 0.5)
        mid = (lo + hi) / 2
        return mid - half, mid + half
    pad = (hi - lo) * share
    return lo - pad, hi + pad
