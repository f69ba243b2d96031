"""The environment of the processes edgetui starts from itself (the detached runner, the
inference child, the quantizer, the fleet controller): this one's, with output unbuffered and
this edgetui first on the import path, so a checkout that is not installed runs the same code."""

from __future__ import annotations

import os
from pathlib import Path

# the folder that holds the edgetui package (src/ in a checkout, site-packages when installed)
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
