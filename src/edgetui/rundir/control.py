"""Pause, skip and abort: asked of a running queue through a small file in its run folder,
so that any process (the console, a second console after an SSH drop, the fleet controller
forwarding a request to a board) can ask. One typed record, ControlRequest, is what every writer
writes and every reader reads; ControlPoller is the one reader (the runner's, the console's, the
fleet controller's)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgetui.rundir.events import MalformedRecord, typed_fields
from edgetui.rundir.layout import CONTROL


@dataclass(frozen=True)
class ControlRequest:
    """What is asked of the runner now: the whole state (a newer request replaces an older one)."""

    pause: bool = False  # hold between repetitions
    skip: str | None = None  # the configuration (its id) to stop and record as skipped
    abort: bool = False  # stop the queue; a resume runs the rest

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, what: str = CONTROL) -> ControlRequest:
        """The request in a decoded control.json (perhaps a board's, or hand-written): each field of
        its type, or MalformedRecord naming the first that is not. Keys it does not know are left out."""
        return cls(**typed_fields(cls, data, what))

    def asking(self, **changes: Any) -> ControlRequest:
        """This request with some fields changed, each checked for its type (TypeError otherwise)."""
        try:
            return ControlRequest.from_dict({**self.to_dict(), **changes}, "control request")
        except MalformedRecord as exc:
            raise TypeError(str(exc)) from None


def decode_request(text: str | bytes, what: str = CONTROL) -> ControlRequest:
    """A control.json's text as its request; MalformedRecord when it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedRecord(f"{what}: not JSON ({exc})") from None
    return ControlRequest.from_dict(data, what)


def read_request(path: Path) -> ControlRequest:
    """The request in a control.json: none asked (the default) when there is no file;
    MalformedRecord when there is one that is not a request; OSError when it cannot be read."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return ControlRequest()
    return decode_request(text, str(path.name))


@dataclass
class ControlPoller:
    """control.json of a run folder (or a board's mirror), re-read only when it changed. The
    runner polls it between steps, the console to show what was asked, the fleet controller to
    forward a request to its board. A file that is not a request is refused (`refused` says
    why) and the last good request stands."""

    path: Path
    request: ControlRequest = field(default_factory=ControlRequest)
    refused: str | None = None  # why the file as it stands now was not taken
    _mtime: int | None = None

    @classmethod
    def of(cls, run_dir: str | Path) -> ControlPoller:
        return cls(Path(run_dir) / CONTROL)

    def poll(self) -> ControlRequest:
        """What is asked now."""
        self.changed()
        return self.request

    def changed(self) -> ControlRequest | MalformedRecord | None:
        """What the file says, when it changed since the last look: the new request, or why it was
        refused; None when it did not change, or is gone (then none is asked: a new runner removes
        what was asked of an earlier pass)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            self._mtime, self.request, self.refused = None, ControlRequest(), None
            return None
        if mtime == self._mtime:
            return None
        self._mtime = mtime
        try:
            self.request = read_request(self.path)
        except MalformedRecord as exc:
            self.refused = str(exc)
            return exc
        except OSError:
            self._mtime = None  # read again next time
            return None
        self.refused = None
        return self.request


def write_request(run_dir: str | Path, request: ControlRequest) -> None:
    """Ask this of the run (the whole state), written atomically and synced."""
    from edgetui.rundir.store import atomic_write

    atomic_write(Path(run_dir) / CONTROL, json.dumps(request.to_dict()))


def write_control(run_dir: str | Path, **changes: Any) -> ControlRequest:
    """Change some of what is asked of the run (pause=, skip=, abort=), the rest as it was; a
    control.json that is not a request is replaced. TypeError for a field not of its type (or
    unknown). Returns what is asked now."""
    unknown = set(changes) - set(ControlRequest.__dataclass_fields__)
    if unknown:
        raise TypeError(f"control request: no field {', '.join(sorted(unknown))}")
    try:
        current = read_request(Path(run_dir) / CONTROL)
    except (MalformedRecord, OSError):
        current = ControlRequest()
    request = current.asking(**changes)
    write_request(run_dir, request)
    return request

