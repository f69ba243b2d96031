"""The openai engine against a real OpenAI-compatible server: llama-cpp-python's own, started
here on a free loopback port with the bundled SmolLM2; then a headless run through it, checked
against the in-process llama.cpp engine on the same model."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version

import pytest

from edgetui.engines.base import EngineError, metrics
from edgetui.engines.registry import engine_class
from edgetui.profiles.plan import Configuration

from conftest import run_cli, write_profile

ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(smollm2_path, tmp_path_factory):
    """`python -m llama_cpp.server` with SmolLM2, as a user would start it."""
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path), "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512", "--n_threads", "2", "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"llama_cpp.server did not start (see {log.name})")
            time.sleep(0.3)
    yield url, proc.pid
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def config(url: str, **kw) -> Configuration:
    base = dict(profile="p", engine="openai", engine_url=url, model=ALIAS, model_name=ALIAS, model_path=None,
                n_threads=2, n_gpu_layers=0, n_ctx=512, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                prompt_tokens=24, prompt=None, gen_tokens=16, repetitions=2, warmup=0, engine_timeout_s=60.0)
    base.update(kw)
    return Configuration(**base)


def engine(c: Configuration):
    return engine_class("openai")(c, None, lambda ev: None)


def test_load_finds_the_model_and_the_servers_version(llama_server):
    url, _ = llama_server
    info = engine(config(url)).load()
    assert info.engine_version == f"llama-cpp-python {version('llama_cpp_python')}"
    assert info.info["server_model"] == ALIAS


def test_a_run_has_the_exact_prompt_and_the_tokens_actually_produced(llama_server):
    url, _ = llama_server
    c = config(url)
    e = engine(c)
    e.load()
    r1, r2 = e.run_once(c, 0, True), e.run_once(c, 1, False)
    for r in (r1, r2):
        assert r.prompt_tokens == 24 and "prompt_tokens_differ" not in r.extra
        assert r.gen_tokens == 16 and r.extra["finish_reason"] == "length"
        assert r.extra["gen_tokens_source"].startswith("chunks counted")  # this server streams no usage
        assert r.t_start < r.t_first_token < r.t_end and r.timing_source == "wall clock"
        assert metrics(r)["decode_tps"] > 0
    assert r1.extra["prompt_prefix"] != r2.extra["prompt_prefix"]  # no cached prefix to reuse


def test_the_chat_endpoint_counts_the_template_in_the_prompt(llama_server):
    url, _ = llama_server
    c = config(url, engine_api="chat", prompt_tokens=None, prompt="Name three edge boards.", gen_tokens=8)
    e = engine(c)
    e.load()
    r = e.run_once(c, 0, False)
    assert r.gen_tokens == 8
    assert r.prompt_tokens > len("[001] Name three edge boards.".split())  # the chat template's tokens too


def test_a_model_the_server_does_not_serve_is_a_clear_failure(llama_server):
    url, _ = llama_server
    with pytest.raises(EngineError, match=r'does not serve the model "qwen2.5:0.5b" \(it serves: smollm2\)'):
        engine(config(url, model_name="qwen2.5:0.5b")).load()


def test_connection_refused_is_a_clear_failure():
    with pytest.raises(EngineError, match="connection refused"):
        engine(config(f"http://127.0.0.1:{free_port()}")).load()


class BrokenSSE:
    """An OpenAI-compatible server that sends two chunks, then goes away or goes silent."""

    def __init__(self, mode: str) -> None:
        stop = self.stop_event = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for word in ("Edge", " boards"):
                    chunk = {"object": "text_completion", "choices": [{"text": word, "index": 0, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if mode == "stall":
                    stop.wait(30)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("mode, message", [("cut", "ended after 2 chunks without finishing"),
                                           ("stall", r"no answer from .* within 2 s")])
def test_a_stream_that_stops_halfway_fails_the_repetition(mode, message):
    server = BrokenSSE(mode)
    try:
        c = config(server.url, model_name="m", prompt_tokens=None, prompt="Hi.", engine_timeout_s=2.0)
        e = engine(c)
        e.load()
        with pytest.raises(EngineError, match=message):
            e.run_once(c, 0, False)
    finally:
        server.close()


def test_a_headless_run_through_the_server_agrees_with_llama_cpp_in_process(llama_server, tmp_path):
    url, server_pid = llama_server
    common = """
[[models]]
name = "{model}"
[sweep]
n_threads = [2]
n_ctx = [512]
[workload]
prompt_tokens = [32]
gen_tokens = 32
"""
    top = "repetitions = 2\nwarmup = 1\nidle_baseline_s = 0\n"
    engine = f'[engine]\nkind = "openai"\nurl = "{url}"\ntimeout_s = 60\n'
    served = write_profile(tmp_path / "served.toml", f'name = "served"\n{top}{engine}' + common.format(model=ALIAS))
    local = write_profile(tmp_path / "local.toml", f'name = "local"\n{top}' + common.format(model="smollm2-135m-q4_1"))
    out = tmp_path / "out"
    proc = run_cli("run", str(served), str(local), "--headless", "--out", str(out), "--sysfs-root", str(tmp_path),
                   timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"following the server's memory: pid {server_pid} (listening on port" in proc.stdout
    rows = {r["profile"]: r for r in csv.DictReader((out / "results.csv").open())}
    s, loc = rows["served"], rows["local"]
    assert s["status"] == loc["status"] == "done"
    assert s["engine"] == "openai" and s["engine_version"].startswith("llama-cpp-python")
    assert float(s["gen_tokens_mean"]) == float(loc["gen_tokens_mean"]) == 32
    assert float(s["rss_mb_peak"]) > 100  # the server holds the model, and its memory was followed
    served_tps, local_tps = float(s["decode_tps_mean"]), float(loc["decode_tps_mean"])
    # Same model, same machine: through HTTP and Python sampling it is slower, but not by 10x.
    assert 0.1 < served_tps / local_tps < 10, (served_tps, local_tps)
