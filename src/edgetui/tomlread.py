"""tomllib on Python 3.11+, its twin tomli on 3.10 (Jetson's JetPack 6 ships Ubuntu 22.04's 3.10)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["tomllib"]
