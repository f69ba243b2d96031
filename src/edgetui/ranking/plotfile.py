"""`edgetui plot`'s file: the trade-off figure (plotdata.tradeoff_data) as SVG or PNG, drawn with
matplotlib's Agg/SVG back-ends (no display needed). matplotlib is an optional extra
(`pip install 'edgetui[plot]'`): about 50 MB installed, more than the rest of the console, and only
this command needs it. The mark area grows with the board's volume, as in the paper's Fig. 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgetui.errors import UserError
from edgetui.ranking.outfile import check_target, write_export
from edgetui.ranking.plotdata import TradeOffData

SUFFIXES = (".svg", ".png")
MISSING_LIBRARY = ("`edgetui plot` draws with matplotlib, which is not installed: "
                   "pip install 'edgetui[plot]' (or pip install matplotlib)")
# mark area in points^2: the smallest board gets MIN_AREA, the largest MAX_AREA, area ~ volume;
# a board without a volume gets a hollow mark of NO_VOLUME_AREA
MIN_AREA, MAX_AREA, NO_VOLUME_AREA = 40.0, 900.0, 60.0
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
FRONT_COLOUR = "#d62728"


def check_out_path(path: str | Path, *, force: bool) -> Path:
    """The output file, refused before anything is drawn: a suffix other than .svg/.png, then as
    every export (ranking.outfile.check_target): a symbolic link, a folder, an existing file
    without force, a folder that does not exist."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise UserError(f'"{p.suffix or "(none)"}" is not a figure format; write FILE.svg or FILE.png', where="--out")
    return check_target(p, force=force)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UserError(MISSING_LIBRARY) from None
    matplotlib.use("Agg")  # files only: never look for a display
    import matplotlib.pyplot as plt

    return plt


def mark_areas(data: TradeOffData) -> dict[str, float]:
    """Board -> mark area, proportional to its volume between MIN_AREA and MAX_AREA."""
    vols = [g.volume_cm3 for g in data.groups if g.volume_cm3 is not None]
    top = max(vols) if vols else 0.0
    out = {}
    for g in data.groups:
        if g.volume_cm3 is None or top <= 0:
            out[g.board] = NO_VOLUME_AREA
        else:
            out[g.board] = max(MIN_AREA, MAX_AREA * g.volume_cm3 / top)
    return out


def write_figure(data: TradeOffData, path: str | Path, *, title: str | None = None, force: bool = False) -> Path:
    """Draw the figure into path (.svg or .png), written as every export is (ranking.outfile:
    never through a symbolic link, atomically). Returns the path."""
    plt = _pyplot()
    p = Path(path)
    fig, ax = plt.subplots(figsize=(8.0, 5.6), dpi=120)
    try:
        areas = mark_areas(data)
        area_of = np.array([areas[g.board] for g in data.groups])[data.group] if len(data) else np.zeros(0)
        front = data.front
        if front.size:
            ax.plot(data.xs[front], data.ys[front], color=FRONT_COLOUR, linewidth=1.4, zorder=2,
                    label=data.front_label)
        for i, g in enumerate(data.groups):
            mine = data.group == i
            colour = COLOURS[i % len(COLOURS)]
            hollow = g.volume_cm3 is None
            ax.scatter(data.xs[mine], data.ys[mine], s=areas[g.board], alpha=1.0 if hollow else 0.55,
                       facecolors="none" if hollow else colour, edgecolors=colour, linewidths=1.0, zorder=3,
                       label=g.label)
        if front.size:  # the front's own points outlined, so they read as such without the line
            ax.scatter(data.xs[front], data.ys[front], s=area_of[front], facecolors="none",
                       edgecolors=FRONT_COLOUR, linewidths=1.6, zorder=4)
        h = data.highlighted
        if h is not None:
            ring = areas[h.board] * 2.2
            ax.scatter([h.x], [h.y], s=ring, marker="o", facecolors="none", edgecolors="black",
                       linewidths=1.6, zorder=5)
            off = ring ** 0.5 / 2 + 3  # just outside the ring, in points
            ax.annotate(f"#{h.rank} {h.model}", (h.x, h.y), xytext=(off, off), textcoords="offset points",
                        fontsize=8, zorder=6)
        ax.margins(0.1)  # the largest marks stay inside the axes
        ax.set_xlabel(data.x_title)
        ax.set_ylabel(data.y_title)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        shown = f"{len(data)} of {data.n_rows} configuration{'s' if data.n_rows != 1 else ''}"
        ax.set_title(title or f"Trade-off: {data.x.label} against {data.y.label} ({shown})", fontsize=10)
        if len(data):
            legend = ax.legend(fontsize=8, loc="best", markerscale=0.6, title="board (volume: mark size)",
                               title_fontsize=8)
            for handle in legend.legend_handles:  # equal marks in the legend: the size says volume on the plot
                if hasattr(handle, "set_sizes"):
                    handle.set_sizes([40.0])
        else:
            ax.text(0.5, 0.5, "no row has both values", transform=ax.transAxes, ha="center", va="center")
        notes = [n for n in (data.note, _highlight_note(data)) if n]
        if notes:
            fig.text(0.01, 0.01, "; ".join(notes), fontsize=8, ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.03 if notes else 0, 1, 1))
        # no date in the SVG, and a fixed id salt: the same data writes the same file
        plt.rcParams["svg.hashsalt"] = "edgetui"
        fmt = p.suffix.lower().lstrip(".")
        metadata = {"Date": None} if fmt == "svg" else {}
        write_export(p, lambda f: fig.savefig(f, format=fmt, metadata=metadata), force=force)
    finally:
        plt.close(fig)
    return p


def _highlight_note(data: TradeOffData) -> str:
    if data.highlighted is not None:
        return f"circled: #{data.highlighted.rank} by score"
    return data.highlighted_note
