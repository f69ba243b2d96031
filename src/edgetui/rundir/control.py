"""Pause, skip and abort: asked of a running queue through a small file in its run folder,
so that any process (the console, a second console after an SSH drop) can ask."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui.rundir.layout import CONTROL


@dataclass
class Control:
    """Pause, skip and abort, asked for through control.json in the run folder (by the
    console, or `edgetui` attached to a detached run); the runner polls it between steps and the
    console to show what was asked. Re-read only when the file changed."""

    path: Path
    _mtime: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, run_dir: str | Path) -> Control:
        return cls(Path(run_dir) / CONTROL)

    def poll(self) -> dict[str, Any]:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:  # none asked, or a new runner removed what was asked of an earlier pass
            self._mtime, self.state = 0.0, {}
            return self.state
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self.state = json.loads(self.path.read_text())
            except (OSError, ValueError):
                pass
        return self.state


def write_control(run_dir: str | Path, **state: Any) -> None:
    from edgetui.rundir.store import atomic_write

    path = Path(run_dir) / CONTROL
    try:
        current = json.loads(path.read_text())
    except (OSError, ValueError):
        current = {}
    current.update(state)
    atomic_write(path, json.dumps(current))
