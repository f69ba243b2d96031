"""Pause, skip and abort as one typed record (rundir.control): every request round-trips through
it, written and read by the same definitions, and a control.json that is not a request is
refused with its reason while the last good request stands."""

from __future__ import annotations

import json
import os

import pytest

from edgetui.rundir.control import ControlPoller, ControlRequest, decode_request, read_request, write_control, write_request
from edgetui.rundir.events import MalformedRecord

REQUESTS = [ControlRequest(), ControlRequest(pause=True), ControlRequest(skip="6876e6c791b7"),
            ControlRequest(abort=True), ControlRequest(pause=True, skip="a", abort=True)]


def bump(path) -> None:
    """A later write (same-second mtimes are not told apart on every file system)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@pytest.mark.parametrize("request_", REQUESTS, ids=repr)
def test_every_control_request_round_trips_through_its_record(tmp_path, request_):
    assert ControlRequest.from_dict(request_.to_dict()) == request_
    assert decode_request(json.dumps(request_.to_dict())) == request_
    write_request(tmp_path, request_)
    assert read_request(tmp_path / "control.json") == request_
    assert ControlPoller.of(tmp_path).poll() == request_


def test_write_control_changes_what_is_asked_and_keeps_the_rest(tmp_path):
    write_control(tmp_path, pause=True)
    assert write_control(tmp_path, skip="b") == ControlRequest(pause=True, skip="b")
    assert read_request(tmp_path / "control.json") == ControlRequest(pause=True, skip="b")
    with pytest.raises(TypeError, match="pause"):
        write_control(tmp_path, pause="yes")
    with pytest.raises(TypeError, match="no field pasue"):
        write_control(tmp_path, pasue=True)
    assert read_request(tmp_path / "control.json") == ControlRequest(pause=True, skip="b")  # nothing written


@pytest.mark.parametrize(("text", "why"), [
    ('{"pause": "yes"}', "pause = 'yes' is not of type bool"),
    ('{"skip": 3}', "skip = 3 is not of type"),
    ('{"abort": 1}', "abort = 1 is not of type bool"),
    ("[true]", "not a JSON object (list)"),
    ("{not json", "not JSON"),
])
def test_a_malformed_control_json_is_refused_with_its_reason(tmp_path, text, why):
    with pytest.raises(MalformedRecord, match="control.json: " + why.replace("(", r"\(").replace(")", r"\)")):
        decode_request(text)
    path = tmp_path / "control.json"
    write_request(tmp_path, ControlRequest(pause=True))
    poller = ControlPoller.of(tmp_path)
    assert poller.poll() == ControlRequest(pause=True)
    path.write_text(text)
    bump(path)
    found = poller.changed()
    assert isinstance(found, MalformedRecord) and why in str(found) and why in (poller.refused or "")
    assert poller.request == ControlRequest(pause=True)  # the last good request stands
    assert poller.changed() is None  # refused once, not at every poll
    write_request(tmp_path, ControlRequest(abort=True))
    bump(path)
    assert poller.changed() == ControlRequest(abort=True) and poller.refused is None


def test_the_poller_tells_a_change_once_and_a_removed_file_asks_nothing(tmp_path):
    poller = ControlPoller.of(tmp_path)
    assert poller.changed() is None and poller.request == ControlRequest()
    write_request(tmp_path, ControlRequest(skip="a"))
    assert poller.changed() == ControlRequest(skip="a")
    assert poller.changed() is None and poller.poll() == ControlRequest(skip="a")
    (tmp_path / "control.json").unlink()
    assert poller.changed() is None and poller.request == ControlRequest()


def test_a_request_written_by_an_older_edgetui_reads_with_its_defaults(tmp_path):
    (tmp_path / "control.json").write_text('{"skip": "a", "newer_field": [1]}')
    assert read_request(tmp_path / "control.json") == ControlRequest(skip="a")


def test_the_runner_says_a_refused_request_in_its_log_once_and_keeps_the_last(tmp_path):
    from types import SimpleNamespace

    from edgetui.run.runner import Runner

    said: list[str] = []
    runner = SimpleNamespace(control=ControlPoller.of(tmp_path), warn=said.append)
    write_request(tmp_path, ControlRequest(pause=True))
    assert Runner._control_request(runner) == ControlRequest(pause=True)
    (tmp_path / "control.json").write_text('{"abort": "now"}')
    bump(tmp_path / "control.json")
    assert Runner._control_request(runner) == ControlRequest(pause=True)
    assert Runner._control_request(runner) == ControlRequest(pause=True)
    assert said == ["a control request was ignored: control.json: abort = 'now' is not of type bool"]
