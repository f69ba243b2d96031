"""A broken or hostile board is that board's failure alone: its frames, events, manifest, outcome
lines, samples and rows are decoded as untrusted, and whatever is wrong fails (or is skipped on)
that host, with the reason, while the other boards finish and the merged ranking is written.

No sshd here: a stand-in `ssh` (ansible_ssh_executable) runs the remote command on this machine,
so an honest board is the real streamer on a run folder made here, and a hostile one is a script
that sends what it likes. tests/test_fleet_loopback.py has the same over a real sshd."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from edgetui.fleet.inventory import FleetHost
from edgetui.fleet.mirror import FrameReader, Mirror, ProtocolError, decode_header
from edgetui.rundir.store import SCHEMA_VERSION, RunStore

from conftest import REPO
from result_rows import make_row

# ------------------------------------------------------------------ frame headers
BAD_HEADERS = [
    (b'{"f":"events.jsonl","o":0,"n":"x"}', "a frame of x bytes"),
    (b'{"f":"events.jsonl","o":0,"n":1e999}', "a frame of inf bytes"),
    (b'{"f":"events.jsonl","o":0,"n":[1]}', "a frame of [1] bytes"),
    (b'{"f":"events.jsonl","o":0,"n":true}', "a frame of True bytes"),
    (b"[" * 100_000 + b"]" * 100_000, "not a frame header"),  # nested past Python's recursion limit
    (b'{"f":"events.jsonl","o":"0","n":1}', "'o' = '0' is not a whole number"),
    (b'{"f":"events.jsonl","o":-1,"n":1}', "'o' = '-1' is not a whole number"),
    (b'{"f":["events.jsonl"],"o":0,"n":1}', "refused file name"),
    (b'{"f":"events.jsonl","truncate":1.5}', "'truncate' = '1.5'"),
    (b'{"f":"run.json","whole":true,"o":0,"size":1e999,"n":1}', "'size' = 'inf'"),
    (b'{"status":["running"]}', "a status that is not one"),
    (b'{"status":"running","pid":"12"}', "a pid that is not one"),
    (b'{"status":"running","mono":1e999}', "a clock reading that is not one"),
    (b'{"end":{"finished":1}}', "an end that is not one"),
    (b'"just text"', "not a frame header"),
]


@pytest.mark.parametrize(("line", "why"), BAD_HEADERS, ids=[w for _, w in BAD_HEADERS])
def test_a_malformed_frame_header_is_a_protocol_error_with_its_reason(line, why):
    with pytest.raises(ProtocolError, match=None) as caught:
        decode_header(line)
    assert why in str(caught.value), caught.value
    reader = FrameReader(-1)  # the reader's own path to it, from its buffer
    reader.buf += line + b"\nxyz"
    with pytest.raises(ProtocolError):
        reader.next()


def test_a_board_writes_only_the_files_of_a_run_folder_into_its_mirror(tmp_path):
    mirror = Mirror(tmp_path / "m")
    for name in ("control.json", "runner.lock", "console_seen", ".events.jsonl.part", "notes.txt",
                 "logs/a.txt", "logs/../x.log"):
        with pytest.raises(ProtocolError, match="refused file name"):
            mirror.append(name, 0, b"x")
        with pytest.raises(ProtocolError, match="refused file name"):
            mirror.whole(name, b"x")
    assert not any((tmp_path / "m").rglob("*")) if (tmp_path / "m").exists() else True
    for name in ("events.jsonl", "samples.jsonl", "configs.jsonl", "repetitions.jsonl", "runner.log",
                 "logs/0123abcd.log"):
        mirror.append(name, 0, b"x\n")
    for name in ("run.json", "results.json", "results.csv"):
        mirror.whole(name, b"{}")


def test_a_file_sent_whole_comes_in_parts_and_is_replaced_only_once_complete(tmp_path):
    import io

    from edgetui.fleet import stream

    run = tmp_path / "run"
    RunStore(run).prepare()
    big = json.dumps({"schema": SCHEMA_VERSION, "rows": [make_row(f"c{i}") for i in range(1500)]}).encode()
    assert len(big) > 3 * stream.FRAME_BYTES
    (run / "results.json").write_bytes(big)
    buf = io.BytesIO()
    stream.Streamer(run, {}, buf).send_new_bytes()
    from test_fleet_core import _frames

    parts = [(h, p) for h, p in _frames(buf.getvalue()) if h.get("f") == "results.json"]
    assert len(parts) > 3 and all(h["n"] <= stream.FRAME_BYTES and h["size"] == len(big) for h, _ in parts)
    mirror = Mirror(tmp_path / "mirror")
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "results.json").write_bytes(b"the version before")
    for h, p in parts[:-1]:
        mirror.whole("results.json", p, offset=h["o"], size=h["size"])
        assert (tmp_path / "mirror" / "results.json").read_bytes() == b"the version before"  # never half of one
    h, p = parts[-1]
    mirror.whole("results.json", p, offset=h["o"], size=h["size"])
    assert (tmp_path / "mirror" / "results.json").read_bytes() == big
    assert sorted(os.listdir(tmp_path / "mirror")) == ["results.json"]  # the part file is gone
    with pytest.raises(ProtocolError, match="a part from byte"):  # a part that continues nothing held
        mirror.whole("results.json", b"x", offset=5, size=10)


# ------------------------------------------------------------------ the fold
def _hostile_mirror(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"schema": SCHEMA_VERSION, "status": "running",
                                               "configs": [1, {"profile": ["x"]}]}))
    lines = [{"ev": "run_start", "t": 1, "n_configs": "two"}, {"ev": "config_start", "t": 2, "config": [1]},
             {"ev": "config_start", "t": 2, "config_id": "c1", "index": 1, "n": 1, "describe": "m",
              "config": {"repetitions": "3", "warmup": [0]}},
             {"ev": "rep_end", "t": 3, "config_id": "c1", "rep": 0, "decode_tps": "fast"},
             {"ev": "rep_end", "t": 3, "config_id": "c1", "rep": 0, "decode_tps": 12.5, "timing_flags": "x"},
             {"ev": "rep_end", "t": 3.5, "config_id": "c1", "rep": 1, "decode_tps": 12.5},
             [1], "text", 3]
    (root / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    samples = [{"t": 1, "power_w": "lots", "temp_c_max": [1], "readings": {"x": 1}}, "s", {"t": 2, "power_w": 3.5}]
    (root / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in samples))
    (root / "configs.jsonl").write_text('"config_id"\n[1]\n{"config_id": ["c1"]}\n{"config_id": "c1", "status": "done"}\n')


def test_a_boards_malformed_records_are_skipped_and_told_and_the_fold_goes_on(tmp_path):
    from edgetui.fleet.view import FleetView, run_counts

    _hostile_mirror(tmp_path / "bad")
    view = FleetView(tmp_path, ["bad"])
    rows = view.poll()  # no exception
    state = view.boards["bad"].state
    assert view.boards["bad"].error is None
    assert state.malformed >= 5 and state.current is not None and state.current.repetitions == 0
    assert state.decode_mean_run == 12.5  # the well-formed repetition counted, the malformed one not
    warnings = [ln.text for ln in state.log if "not edgetui's" in ln.text]
    assert any("run.json: configs[0]: not a JSON object" in w for w in warnings), warnings
    assert any("n_configs = 'two'" in w for w in warnings), warnings
    assert any("more records skipped" in ln.text for ln in state.log)  # then counted, not told one by one
    from edgetui.rundir.follow import LiveState

    alone = LiveState()
    alone.feed_event({"ev": "rep_end", "t": 3, "decode_tps": "fast"})
    assert "rep_end: decode_tps = 'fast' is not of type" in alone.log[-1].text
    assert rows[0].power_w is None or isinstance(rows[0].power_w, float)
    state.eta(10.0)
    state.readings("power")
    assert run_counts(tmp_path / "bad") == (None, 1, 0)  # the manifest is not one: planned count unknown


def test_an_error_folding_one_board_is_that_boards_and_the_others_are_still_folded(tmp_path, monkeypatch):
    from edgetui.fleet import view as view_mod

    for host in ("a", "b"):
        (tmp_path / host).mkdir()
        (tmp_path / host / "events.jsonl").write_text('{"ev":"run_start","t":1,"n_configs":1}\n')
    fleet = view_mod.FleetView(tmp_path, ["a", "b"])
    real = view_mod.BoardFollower._poll

    def broken(self):
        if self.mirror.name == "a":
            raise RuntimeError("something no one foresaw")
        real(self)

    monkeypatch.setattr(view_mod.BoardFollower, "_poll", broken)
    rows = fleet.poll()
    assert fleet.boards["a"].error == "RuntimeError: something no one foresaw"
    assert rows[1].n_configs == 1


# ------------------------------------------------------------------ the controller, three boards
FAKE_SSH = """#!{python}
import os, sys
argv = sys.argv[1:]
command = argv[argv.index("--") + 2]
os.execvp("sh", ["sh", "-c", command])
"""

HOSTILE_STREAM = """#!{python}
import json, sys
sys.stdin.buffer.read()  # the environment and the offsets, as the real streamer takes them
out = sys.stdout.buffer
def frame(header, payload=b""):
    out.write((header if isinstance(header, bytes) else json.dumps(header).encode()) + b"\\n" + payload)
frame({{"status": "running", "pid": 1, "mono": 1.0}})
item = {item!r}
data = {{
    "event": ("events.jsonl", b'{{"ev":"rep_end","t":1,"config_id":"c1","decode_tps":"fast"}}\\n'),
    "outcome": ("configs.jsonl", b'"config_id"\\n'),
}}
if item in data:
    name, payload = data[item]
    frame({{"f": name, "o": 0, "n": len(payload)}}, payload)
    frame({{"f": "run.json", "whole": True, "n": 2}}, b"{{}}")
elif item == "manifest":
    payload = json.dumps({{"schema": {schema}, "status": "finished", "configs": [1]}}).encode()
    frame({{"f": "run.json", "whole": True, "n": len(payload)}}, payload)
elif item == "rows":
    row = {row!r}
    payload = json.dumps({{"schema": {schema}, "rows": [row, [1], {{"config_id": "c9", "decode_tps_mean": 1e999}}]}}).encode()
    frame({{"f": "results.json", "whole": True, "n": len(payload)}}, payload)
else:
    frame(item.encode())  # a broken header: the stream ends there
    out.flush()
    sys.exit(0)
frame({{"end": "finished"}})
out.flush()
"""

HOSTILE_ITEMS = ["event", "outcome", "manifest", "rows", '{"n": "x"}', '{"f":"events.jsonl","o":0,"n":1e999}',
                 '{"n": [1]}', "[" * 50_000]


def _finished_run(folder: Path, tps: float) -> None:
    store = RunStore(folder)
    store.prepare()
    store.write_manifest({"schema": SCHEMA_VERSION, "status": "finished", "configs": []})
    store.write_results([make_row("c1", board="Raspberry Pi 5", decode_tps_mean=tps)])


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("item", HOSTILE_ITEMS, ids=lambda i: i[:24])
def test_three_boards_one_hostile_the_other_two_finish_and_the_ranking_is_merged(tmp_path, monkeypatch, item):
    from edgetui.fleet import mirror as mirror_mod
    from edgetui.fleet.cli import ranking_text
    from edgetui.fleet.controller import FleetController, FleetOptions
    from edgetui.fleet.layout import FleetDir

    monkeypatch.setattr(mirror_mod, "BACKOFF_S", (0.05,))
    ssh = _script(tmp_path / "ssh", FAKE_SSH.format(python=sys.executable))
    hostile_ssh = _script(tmp_path / "hostile-ssh", HOSTILE_STREAM.format(
        python=sys.executable, item=item, schema=SCHEMA_VERSION,
        row=make_row("c1", board="Evil board", decode_tps_mean="fast")))
    env = {"PYTHONPATH": str(REPO / "src")}
    hosts = [FleetHost("pi5", {"ansible_ssh_executable": str(ssh), "edgetui_env": env}),
             FleetHost("evil", {"ansible_ssh_executable": str(hostile_ssh), "edgetui_env": env}),
             FleetHost("orin", {"ansible_ssh_executable": str(ssh), "edgetui_env": env})]
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    FleetDir(fleet).write_manifest({"kind": "edgetui-fleet", "hosts": [h.name for h in hosts]})
    lines: list[str] = []
    controller = FleetController(fleet, hosts, {"hosts": [h.name for h in hosts]}, on_line=lines.append,
                                 options=FleetOptions(reconnect_for_s=30, stream_interval_s=0.05))
    for i, h in enumerate(hosts):
        run = tmp_path / "boards" / h.name
        _finished_run(run, 10.0 + i)
        controller.dir.set_host(h.name, "launched", python=sys.executable, remote_run=str(run), launched=True,
                                say=False)
    started = time.monotonic()
    code = controller.run(deploy_plan={}, follow=[h.name for h in hosts])
    assert time.monotonic() - started < 120
    states = controller.dir.hosts()
    for good in ("pi5", "orin"):
        assert states[good]["state"] == "collected", (good, states[good], lines)
    merged = json.loads((fleet / "results.json").read_text())["rows"]
    assert {r["fleet_host"] for r in merged} >= {"pi5", "orin"}
    assert all(isinstance(r["decode_tps_mean"], float) for r in merged)
    assert ranking_text(fleet) is not None  # the merged ranking reads, and ranks
    evil = states["evil"]
    if item in ("event", "outcome", "manifest"):  # records skipped and told; the run is collected
        assert any(line.startswith("[evil] warning: skipped a record") for line in lines) or item == "outcome", lines
    elif item == "rows":
        assert any("[evil] 3 row(s) left out of the merge" in line for line in lines), lines
        assert "evil" not in {r["fleet_host"] for r in merged}
    else:  # the same broken stream on every connection: given up, with the reason
        assert evil["state"] == "lost", evil
        assert "in a row" in evil["detail"] and ("frame" in evil["detail"] or "header" in evil["detail"]), evil
        assert code != 0
