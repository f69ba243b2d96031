"""tomllib on Python 3.11+, its twin tomli on 3.10 (Jetson's JetPack 6 ships Ubuntu 22.04's 3.10),
and `loads`: tomllib.loads for files from outside, with a value nested past MAX_DEPTH refused as a
TOMLDecodeError (tomllib itself recurses, and raises RecursionError on `a = [[[[...]]]]`)."""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["MAX_DEPTH", "TOMLTooDeep", "loads", "tomllib"]

# No profile, keymap or ranking export nests deeper than a few levels; past this it is not ours.
MAX_DEPTH = 64


class TOMLTooDeep(tomllib.TOMLDecodeError):
    """A value nested past MAX_DEPTH: a TOMLDecodeError, caught wherever one is."""

    def __init__(self) -> None:
        # ValueError's own init: TOMLDecodeError's (3.14, tomli 2.1) wants a position this has not
        ValueError.__init__(self, f"a value is nested more than {MAX_DEPTH} levels deep")


def loads(text: str) -> dict[str, Any]:
    """tomllib.loads, with nesting past MAX_DEPTH a TOMLDecodeError (TOMLTooDeep)."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise TOMLTooDeep() from None
    if _depth(data) > MAX_DEPTH:  # parsed, but deep enough to break what walks it later (json, tomli_w)
        raise TOMLTooDeep()
    return data


def _depth(value: Any) -> int:
    """How deep tables and arrays nest, walked without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest
