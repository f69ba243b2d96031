"""What every sensor backend is: a probe that says why it can or cannot read, and readings
that carry their unit, scope and method."""

from __future__ import annotations

import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path

# kinds of reading, with their units
UNITS = {
    "power": "W", "energy": "J", "temperature": "C", "load": "%", "memory": "MB",
    "frequency": "Hz", "fan": "RPM", "throttle": "flags", "voltage": "V", "current": "A",
    "counter": "count", "info": "",
}
METHODS = ("measured", "estimated", "external")


@dataclass(frozen=True)
class Reading:
    backend: str
    name: str
    kind: str
    value: float | str | None
    unit: str
    scope: str  # what it covers: board, module, soc_rails, package, chip, rail, zone, system, process
    method: str = "measured"

    def to_dict(self) -> dict:
        return asdict(self)


NO_POWER = "no power sensor"


@dataclass(frozen=True)
class PowerSource:
    """The power source of a run as fields: the backend and its total reading (what it covers,
    measured or estimated), or no source and why each candidate was not one."""

    backend: str | None = None
    name: str | None = None  # the total reading's name (a backend may have several rails)
    scope: str | None = None
    method: str | None = None
    reasons: tuple[str, ...] = ()  # with no backend: "backend: why", one per candidate

    @property
    def label(self) -> str:
        """What results.csv's power_source says: "jetson:VDD_IN (module, measured)", or why none."""
        if self.backend is None:
            return f"{NO_POWER} ({'; '.join(self.reasons)})"
        if self.name is None:
            return self.backend
        return f"{self.backend}:{self.name} ({self.scope}, {self.method})"

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if v is not None and v != ()}

    @classmethod
    def from_dict(cls, d: dict) -> PowerSource:
        return cls(backend=d.get("backend"), name=d.get("name"), scope=d.get("scope"), method=d.get("method"),
                   reasons=tuple(d.get("reasons") or ()))

    @classmethod
    def from_label(cls, label: str) -> PowerSource:
        """The fields of a label written by an edgetui that recorded only the label (older run
        folders): read back here, in this one place."""
        head, _, rest = label.partition(" (")
        inside = rest[:-1] if rest.endswith(")") else rest
        if head == NO_POWER:
            return cls(reasons=tuple(r for r in inside.split("; ") if r))
        backend, _, name = head.partition(":")
        scope, _, method = inside.partition(", ")
        return cls(backend=backend, name=name or None, scope=scope or None, method=method or None)


@dataclass(frozen=True)
class Probe:
    detected: bool
    reason: str  # why not, or what was found


@dataclass
class SensorContext:
    """Where backends look: a root standing for / (a fixture tree in tests) and the PATH for commands."""

    root: Path = Path("/")
    path_env: str | None = None  # PATH for external commands; None = the process's own
    command_timeout_s: float = 2.0
    options: dict = field(default_factory=dict)  # profile [power] settings and the like

    def p(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def which(self, cmd: str) -> str | None:
        return shutil.which(cmd, path=self.path_env if self.path_env is not None else os.environ.get("PATH"))

    def run(self, *argv: str) -> tuple[int, str]:
        """Run a command found on PATH; (returncode, output). A missing command is (127, reason)."""
        exe = self.which(argv[0])
        if exe is None:
            return 127, f"{argv[0]} not found on PATH"
        env = dict(os.environ)
        if self.path_env is not None:
            env["PATH"] = self.path_env
        try:
            proc = subprocess.run([exe, *argv[1:]], capture_output=True, text=True,
                                  timeout=self.command_timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return 124, f"{argv[0]} timed out after {self.command_timeout_s:g} s"
        except OSError as exc:
            return 126, f"{argv[0]}: {exc.strerror}"
        return proc.returncode, proc.stdout + proc.stderr


def read_text(path: Path) -> str | None:
    """A sysfs file's stripped content, or None when it is missing, empty or refuses (EINVAL, EACCES)."""
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def read_number(path: Path) -> float | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def denied(path: Path) -> bool:
    """True when the file exists but this user may not read it (root-only counters)."""
    try:
        with path.open("rb"):
            return False
    except PermissionError:
        return True
    except OSError:
        return False


class Backend(ABC):
    """One source of readings. Subclasses set `name`, and `power_priority` when they can stand
    for the total power (higher wins automatic selection; None = never a total)."""

    name: str = "?"
    power_priority: int | None = None
    power_note: str | None = None  # why a detected backend gives no power (e.g. a board with none)

    def __init__(self, ctx: SensorContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def probe(self) -> Probe:
        """Can this backend read here? Cheap; never raises."""

    @abstractmethod
    def read(self) -> list[Reading]:
        """Current readings. Never raises for a missing or unreadable sensor: it leaves it out."""

    def total_power(self, readings: list[Reading]) -> Reading | None:
        """Among this backend's readings, the one that stands for total power ("power", W)
        or a cumulative energy counter ("energy", J), if it has one."""
        return None

    def reading(self, name: str, kind: str, value: float | str | None, scope: str, method: str = "measured") -> Reading:
        return Reading(self.name, name, kind, value, UNITS[kind], scope, method)

    def close(self) -> None:
        """Release anything held open (a jtop connection, NVML)."""
