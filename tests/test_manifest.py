"""run.json as one typed record (rundir.manifest): every field round-trips through it, the
runner's and the recorded runs' manifests decode, and a field not of its type is refused."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from edgetui.rundir.events import MalformedRecord
from edgetui.rundir.manifest import RunManifest
from edgetui.rundir.store import RunStore
from edgetui.sensors.base import PowerSource

RECORDED = sorted((Path(__file__).parent / "fixtures" / "tui").glob("run-*/run.json"))


def every_field() -> RunManifest:
    recorded = json.loads(RECORDED[0].read_text())
    return RunManifest(
        edgetui_version="0.1.0", created="2026-12-04T20:00:00+00:00", profiles=recorded["profiles"],
        configs=recorded["configs"], host={"hostname": "pi5", "cpu_count": 4}, runner_pid=4242, status="crashed",
        power_source="hwmon: in0", power=PowerSource(backend="hwmon", name="in0", scope="board", method="measured"),
        sensors=[{"backend": "hwmon", "detected": True, "reason": "found"}], power_w_idle=2.5,
        finished="2026-12-04T20:05:00+00:00", error="RuntimeError: boom", schema=3)


def test_every_manifest_field_round_trips_through_its_record(tmp_path):
    m = every_field()
    assert all(getattr(m, f.name) not in (None, [], {}) for f in fields(m))  # the test sets every field
    assert RunManifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    store = RunStore(tmp_path)
    store.write_manifest(m.to_dict())
    back = RunManifest.from_dict(store.read_manifest())
    assert back == RunManifest(**{**m.__dict__, "schema": back.schema})  # the store sets the schema
    assert back.profile_paths == [p["path"] for p in m.profiles]


def test_a_manifest_left_unwritten_reads_as_its_defaults_and_writes_no_empty_field():
    assert RunManifest.from_dict({}) == RunManifest()
    assert RunManifest().to_dict() == {"profiles": [], "configs": [], "host": {}, "sensors": []}
    assert RunManifest.from_dict({"status": "finished", "from_a_newer_edgetui": 1}).status == "finished"


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.parent.name)
def test_the_recorded_runs_manifests_decode(path):
    data = json.loads(path.read_text())
    m = RunManifest.from_dict(data)
    assert len(m.configs) == len(data["configs"]) and m.power_source == data["power_source"]
    assert m.status == data["status"] and m.to_dict() == {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(("change", "why"), [
    ({"runner_pid": "4242"}, "runner_pid = '4242' is not of type"),
    ({"configs": {"a": 1}}, "configs = {'a': 1} is not of type"),
    ({"configs": [{"config_id": 3}]}, "configs[0]"),
    ({"power_w_idle": True}, "power_w_idle = True"),
    ({"profiles": ["x.toml"]}, "profiles[0]: not a JSON object (str)"),
])
def test_a_manifest_field_not_of_its_type_is_refused(change, why):
    with pytest.raises(MalformedRecord, match=re.escape("run.json: " + why)):
        RunManifest.from_dict({**every_field().to_dict(), **change})
