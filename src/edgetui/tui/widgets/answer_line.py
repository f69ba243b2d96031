"""The results screen's top line: the ranking's answer in words (ranking.summary: the best row,
the rows tied with it, the constraints met). The screen sets `answer` (down); "" clears it."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class AnswerLine(Static):
    answer: reactive[str] = reactive("", init=False)

    def watch_answer(self, answer: str) -> None:
        # one line whose height never changes: no new layout of the screen
        self.update(Text(answer, style="bold", no_wrap=True, overflow="ellipsis") if answer else "", layout=False)
