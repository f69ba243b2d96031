"""The text the quality pass evaluates: the bundled public-domain corpus or a file the user gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgetui.errors import UserError

BUNDLED = "bundled"
# Chapters I-IV of Alice's Adventures in Wonderland (public domain; origin in data/SOURCE.md)
BUNDLED_FILE = Path(__file__).resolve().parent / "data" / "alice-chapters-1-4.txt"


def corpus_path(corpus: str) -> Path:
    """The file behind a profile's `corpus` value ("bundled" or a path)."""
    return BUNDLED_FILE if corpus == BUNDLED else Path(corpus)


def check_corpus(path: str | Path) -> str:
    """The corpus text; ValueError(what is wrong) for a missing, binary, non-UTF-8 or empty file."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"no such file: {p}")
    if not p.is_file():
        raise ValueError(f"not a file: {p}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {p}: {exc.strerror}") from None
    if b"\x00" in raw[:65536]:
        raise ValueError(f"not a text file (it holds NUL bytes): {p}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start}): {p}") from None
    if not text.strip():
        raise ValueError(f"the file is empty: {p}")
    return text


def read_corpus(corpus: str) -> str:
    try:
        return check_corpus(corpus_path(corpus))
    except ValueError as exc:
        raise UserError(f"quality corpus: {exc}") from None


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
