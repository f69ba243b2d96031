"""Finding an inference server's process (by pid, name or port) so its memory is followed."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from edgetui.engines.serverproc import find_server, find_server_for


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait()


def test_by_default_the_process_listening_on_the_urls_port(listener):
    found = find_server(f"http://127.0.0.1:{listener}")
    assert found.pid == os.getpid() and "listening on port" in found.how


def test_an_explicit_port_wins_over_the_urls(listener):
    assert find_server_for("ollama", "http://127.0.0.1:1", port=listener).pid == os.getpid()


def test_a_pid_brings_its_children(sleeper):
    found = find_server(None, pid=os.getpid())
    assert found.pid == os.getpid() and sleeper.pid in found.pids  # Ollama's model runners are children


def test_a_process_name(sleeper):
    found = find_server("http://127.0.0.1:1", process="sleep")
    assert found.found and sleeper.pid in found.pids


def test_what_cannot_be_found_says_why():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert f"no process listens on port {port}" in find_server(f"http://127.0.0.1:{port}").how
    assert "another machine (192.0.2.7)" in find_server("http://192.0.2.7:11434").how
    assert "no process named" in find_server(None, process="no-such-server-xyz").how
    missing = find_server(None, pid=2**22 + 12345)
    assert not missing.found and "no process with pid" in missing.how


def test_stackflow_urls_default_to_port_10001(monkeypatch):
    seen = {}
    monkeypatch.setattr("edgetui.engines.serverproc.by_port", lambda port: seen.setdefault("port", port))
    find_server_for("stackflow", "tcp://127.0.0.1")
    assert seen["port"] == 10001
