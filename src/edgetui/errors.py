"""Errors that are the user's to fix: shown as one clear message, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED_CONFIGS = 1
EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input found before anything ran: printed as-is, exit code 2."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class DataWarning(UserWarning):
    """Something in the data that the user should know of, though nothing was refused: shown as
    one line (`edgetui: warning: ...` at the command line, a notification in the console)."""


def close_match_hint(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a close match exists, else ''."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{matches[0]}"?)' if matches else ""
