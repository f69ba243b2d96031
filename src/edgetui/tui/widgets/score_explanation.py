"""The results screen's "How the score is made" pane: the ranking's normalisation and missing-value
policy, its constraints and the rows they leave out, what the 95% rank interval is, and the
weights. It shows the ranking the screen gives it (`ranking`, set down; None: nothing), in full on
a roomy terminal (`roomy`) and by first clauses on a small one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from edgetui.ranking.constraints import constraints_text, left_out_text
from edgetui.ranking.criteria import format_weights
from edgetui.ranking.rank import Ranking
from edgetui.tui.screens.results_view import TIED_MARK


def short_clause(text: str) -> str:
    """The first clause of a policy sentence, for narrow terminals."""
    for sep in ("; ", ", oriented", " (after"):
        if sep in text:
            text = text.split(sep, 1)[0]
    return text


class ScoreExplanation(Vertical):
    ranking: reactive[Ranking | None] = reactive(None, always_update=True, init=False)
    roomy: reactive[bool] = reactive(True, init=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shown: dict[str, Text | str] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="policy")
        yield Static(id="policy-weights")  # one line, redrawn on every ranking without a new layout

    def on_mount(self) -> None:
        self.border_title = "How the score is made"

    def watch_ranking(self) -> None:
        self.draw()

    def watch_roomy(self) -> None:
        if self.ranking is not None:
            self.draw()

    def _update(self, selector: str, content: Text | str, layout: bool = True) -> None:
        """A line's text, replaced only when it changed (an update lays the screen out again, unless
        `layout` is False: a line whose height cannot change)."""
        if self._shown.get(selector) != content:
            self._shown[selector] = content
            self.query_one(selector, Static).update(content, layout=layout)

    def draw(self) -> None:
        r = self.ranking
        if r is None:
            self._update("#policy", "")
            self._update("#policy-weights", "", layout=False)
            return
        norm = r.normalisation if self.roomy else short_clause(r.normalisation)
        miss = r.missing_policy if self.roomy else short_clause(r.missing_policy)
        t = Text()
        t.append("normalisation: ", style="bold")
        t.append(norm)
        t.append("\nmissing values: ", style="bold")
        t.append(miss)
        if r.constraints:
            t.append("\nconstraints: ", style="bold")
            t.append(constraints_text(r.constraints))
            t.append(f" ({left_out_text(r.left_out) or 'every row meets them'})")
        t.append("\n95% rank: ", style="bold")
        t.append(f"rank interval over {r.resamples} resamples of the figures within their noise; "
                 f"{TIED_MARK.strip()} tied for best (the interval includes 1)" if r.resamples
                 else "being computed")
        self._update("#policy", t)
        weights = Text(f"weights: {format_weights(r.weights)} · ★ Pareto-optimal on them", style="dim",
                       no_wrap=True, overflow="ellipsis")
        self._update("#policy-weights", weights, layout=False)
