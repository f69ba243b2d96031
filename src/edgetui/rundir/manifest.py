"""run.json, the manifest of a run folder, as one typed record: the runner writes `to_dict()` of
a RunManifest, readers take `RunManifest.from_dict()` of what they read (perhaps a board's), so
both hold one definition, as the events do (rundir.events). A field left None is not written;
one an older edgetui did not write reads as its default; keys a newer one wrote are left out."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from edgetui.rundir.events import MalformedRecord, typed_fields
from edgetui.sensors.base import PowerSource


@dataclass(kw_only=True)
class RunManifest:
    edgetui_version: str | None = None
    created: str | None = None  # ISO time of the run's first pass (a resume keeps it)
    profiles: list[dict[str, Any]] = field(default_factory=list)  # Profile.to_dict() of each, with its path
    configs: list[dict[str, Any]] = field(default_factory=list)  # Configuration.to_dict() of the plan, in order
    host: dict[str, Any] = field(default_factory=dict)  # sensors.host.host_info()
    runner_pid: int | None = None
    status: str | None = None  # running, finished, aborted, crashed (None: running, as an older edgetui wrote)
    power_source: str | None = None  # the label results.csv records
    power: PowerSource | None = None  # the same, as fields
    sensors: list[dict[str, Any]] = field(default_factory=list)  # each backend: name, detected, reason
    power_w_idle: float | None = None  # the idle baseline, once measured
    finished: str | None = None  # ISO time the last pass ended
    error: str | None = None  # crashed: the exception in one line
    schema: int | None = None  # the store's SCHEMA_VERSION, set by RunStore.write_manifest

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v.to_dict() if isinstance(v, PowerSource) else v
        return out

    @classmethod
    def from_dict(cls, data: Any, what: str = "run.json") -> RunManifest:
        """The manifest in a decoded run.json: every field of its type, each configuration
        decodable as one; MalformedRecord naming the first that is not."""
        from edgetui.profiles.plan import Configuration

        if isinstance(data, dict):  # each item of a list said by its index, before the list as a whole
            for name in ("configs", "profiles", "sensors"):
                items = data.get(name)
                for i, item in enumerate(items if isinstance(items, list) else ()):
                    if name == "configs":
                        typed_fields(Configuration, item, f"{what}: configs[{i}]")
                    elif not isinstance(item, dict):
                        raise MalformedRecord(f"{what}: {name}[{i}]: not a JSON object ({type(item).__name__})")
        kwargs = typed_fields(cls, data, what)
        if "power" in kwargs:
            kwargs["power"] = PowerSource.from_dict(kwargs["power"])
        return cls(**kwargs)

    @property
    def profile_paths(self) -> list[str]:
        """The profile files the run was planned from (a resume reads them again)."""
        paths = [p.get("path") for p in self.profiles]
        return [p for p in paths if isinstance(p, str)]
