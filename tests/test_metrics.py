"""Live metrics for Prometheus: a run folder followed as the console follows it, its figures as
gauges with board and configuration labels, written as node_exporter's textfile and served on
loopback; read back with prometheus_client's own parser."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgetui.errors import UserError
from edgetui.profiles.plan import Configuration
from edgetui.run.metrics import MetricsExporter, MetricsOptions

CONFIG = Configuration(profile="smoke", engine="llama_cpp", engine_url=None, model="smollm2", model_name="smollm2",
                       model_path=None, n_threads=2, n_gpu_layers=0, n_ctx=256, n_batch=512, flash_attn="auto",
                       kv_cache_type="f16", prompt_tokens=16, prompt=None, gen_tokens=40, repetitions=3, warmup=1)


def write(path: Path, *records: dict) -> None:
    with path.open("a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def run_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    manifest = {"schema": 1, "status": "running", "runner_pid": os.getpid(), "configs": [CONFIG.to_dict()],
                "profiles": [{"name": "smoke", "board": {"name": "Raspberry Pi 5 8GB"}}],
                "host": {"host": "bench", "board_model": "Raspberry Pi 5 Model B Rev 1.0"}, "power_source": "rpi"}
    (folder / "run.json").write_text(json.dumps(manifest))
    cid = CONFIG.config_id
    write(folder / "events.jsonl",
          {"ev": "run_start", "t": 100.0, "n_configs": 1, "power_source": "rpi (SoC rails)"},
          {"ev": "config_start", "t": 101.0, "config_id": cid, "index": 1, "n": 1, "describe": "smollm2",
           "config": CONFIG.to_dict()},
          {"ev": "rep_start", "t": 102.0, "config_id": cid, "rep": 0, "warmup": False},
          {"ev": "rep_end", "t": 103.0, "config_id": cid, "rep": 0, "warmup": False, "decode_tps": 110.0,
           "prefill_tps": 480.0, "ttft_ms": 35.0, "gen_tokens_actual": 40},
          {"ev": "rep_start", "t": 103.5, "config_id": cid, "rep": 1, "warmup": False},
          {"ev": "progress", "t": 104.0, "config_id": cid, "rep": 1, "warmup": False, "phase": "decode", "tokens": 10},
          {"ev": "progress", "t": 104.25, "config_id": cid, "rep": 1, "warmup": False, "phase": "decode",
           "tokens": 40})
    write(folder / "samples.jsonl",
          {"t": 104.2, "phase": "decode", "power_w": 6.5, "temp_c_max": 61.0, "throttled": False, "rss_mb": 200.0,
           "mem_used_mb": 1024.0, "mem_total_mb": 8192.0})
    return folder


def samples_of(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_the_textfile_parses_and_carries_the_live_figures(tmp_path):
    prom = tmp_path / "edgetui.prom"
    exporter = MetricsExporter(run_folder(tmp_path), MetricsOptions(textfile=prom)).start()
    exporter.stop()
    got = samples_of(prom.read_text())
    (decode,) = got["edgetui_decode_tokens_per_second"]
    assert decode.value == pytest.approx(30 / 0.25)  # the live screen's rate: tokens over time between reports
    assert decode.labels == {"board": "Raspberry Pi 5 8GB", "profile": "smoke", "config_id": CONFIG.config_id,
                             "model": "smollm2", "engine": "llama_cpp"}
    assert got["edgetui_last_decode_tokens_per_second"][0].value == 110.0
    assert got["edgetui_last_ttft_seconds"][0].value == pytest.approx(0.035)
    assert got["edgetui_power_watts"][0].value == 6.5
    assert got["edgetui_power_watts"][0].labels == {"board": "Raspberry Pi 5 8GB"}
    assert got["edgetui_temperature_max_celsius"][0].value == 61.0
    assert got["edgetui_throttled"][0].value == 0.0
    assert got["edgetui_inference_rss_bytes"][0].value == 200 * 2**20
    assert got["edgetui_memory_used_bytes"][0].value == 1024 * 2**20
    assert got["edgetui_repetitions_done"][0].value == 1 and got["edgetui_repetitions_planned"][0].value == 3
    outcomes = {s.labels["outcome"]: s.value for s in got["edgetui_configurations"]}
    assert outcomes == {"done": 0, "failed": 0, "skipped": 0, "total": 1}
    assert got["edgetui_run_elapsed_seconds"][0].value >= 0
    assert got["edgetui_run_info"][0].labels["status"] == "running"
    # nothing left beside it but the file itself (the rewrite is a rename of a temporary file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edgetui.prom", "run"]


def test_a_figure_not_known_is_absent_not_zero(tmp_path):
    folder = run_folder(tmp_path)
    write(folder / "samples.jsonl", {"t": 105.0, "phase": "decode", "power_w": None, "temp_c_max": None,
                                     "throttled": None, "rss_mb": 210.0})
    write(folder / "events.jsonl", {"ev": "rep_end", "t": 105.5, "config_id": CONFIG.config_id, "rep": 1,
                                    "warmup": False, "decode_tps": 112.0, "prefill_tps": None, "ttft_ms": 30.0})
    prom = tmp_path / "m.prom"
    exporter = MetricsExporter(folder, MetricsOptions(textfile=prom)).start()
    exporter.stop()
    got = samples_of(prom.read_text())
    for name in ("edgetui_power_watts", "edgetui_temperature_max_celsius", "edgetui_throttled",
                 "edgetui_decode_tokens_per_second", "edgetui_last_prefill_tokens_per_second"):
        assert name not in got, name  # no sensor, not decoding: no sample rather than a zero
    assert got["edgetui_inference_rss_bytes"][0].value == 210 * 2**20


def test_the_port_serves_the_same_gauges_on_loopback(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter = MetricsExporter(run_folder(tmp_path), MetricsOptions(port=port)).start()
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        exporter.stop()
    got = samples_of(text)
    assert got["edgetui_power_watts"][0].value == 6.5
    assert got["edgetui_decode_tokens_per_second"][0].labels["config_id"] == CONFIG.config_id
    with pytest.raises(OSError):  # closed with the run
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_taken_port_or_a_bad_file_is_refused_before_the_run(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(UserError, match="cannot serve metrics on 127.0.0.1"):
            MetricsExporter(tmp_path, MetricsOptions(port=s.getsockname()[1])).start()
        with pytest.raises(UserError, match="cannot serve metrics"):
            MetricsOptions(port=s.getsockname()[1]).check(port_free=True)  # what --detach checks first
    with pytest.raises(UserError, match="ending in .prom"):
        MetricsExporter(tmp_path, MetricsOptions(textfile=tmp_path / "m.txt")).start()
    with pytest.raises(UserError, match="no such folder"):
        MetricsExporter(tmp_path, MetricsOptions(textfile=tmp_path / "absent" / "m.prom")).start()
    with pytest.raises(UserError, match="from 1 to 65535"):
        MetricsOptions(port=70000).check()


def test_a_headless_run_exports_while_it_runs_and_its_outcome_at_the_end(tmp_path):
    import subprocess
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import EDGETUI, REPO
    from standins.ollama_server import StandinOllama

    server = StandinOllama(decode_tps=40.0).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    profile = tmp_path / "p.toml"
    profile.write_text(f"""
name = "metrics"
repetitions = 2
warmup = 0
idle_baseline_s = 0
[board]
name = "Test board"
[engine]
kind = "ollama"
url = "{server.url}"
[[models]]
name = "qwen2.5:0.5b"
[workload]
prompt = "Explain how to compare edge boards."
gen_tokens = 60
""")
    prom = tmp_path / "edgetui.prom"
    proc = subprocess.Popen([*EDGETUI, "run", str(profile), "--headless", "--out", str(tmp_path / "out"),
                             "--sysfs-root", str(tmp_path), "--prometheus", str(prom), "--metrics-port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen_decoding = None
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                time.sleep(0.2)
                continue
            got = samples_of(text)
            if "edgetui_decode_tokens_per_second" in got:
                seen_decoding = got
                break
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=120)
    finally:
        server.stop()
    assert proc.returncode == 0, out
    assert seen_decoding is not None, "no live decode rate was served while the run decoded"
    (live,) = seen_decoding["edgetui_decode_tokens_per_second"]
    assert live.labels["board"] == "Test board" and live.labels["engine"] == "ollama" and live.value > 0
    final = samples_of(prom.read_text())  # the last rewrite: the run's outcome
    assert {s.labels["outcome"]: s.value for s in final["edgetui_configurations"]}["done"] == 1
    assert final["edgetui_run_info"][0].labels["status"] == "finished"


def test_metrics_need_a_headless_run(tmp_path):
    from conftest import run_cli

    proc = run_cli("run", "profiles/smoke.toml", "--prometheus", str(tmp_path / "m.prom"))
    assert proc.returncode == 2 and "--headless" in proc.stderr


def test_a_detached_run_is_refused_a_taken_port_before_it_starts(tmp_path):
    from conftest import run_cli

    profile = tmp_path / "p.toml"
    profile.write_text('name = "d"\nidle_baseline_s = 0\n[engine]\nkind = "ollama"\nurl = "http://127.0.0.1:9"\n'
                       '[[models]]\nname = "m"\n[workload]\nprompt = "x"\ngen_tokens = 4\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        proc = run_cli("run", str(profile), "--headless", "--detach", "--out", str(tmp_path / "out"),
                       "--metrics-port", str(s.getsockname()[1]))
    assert proc.returncode == 2 and "cannot serve metrics" in proc.stderr
    assert not (tmp_path / "out" / "run.json").exists()
