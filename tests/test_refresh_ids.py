"""The live figures (metrics exporter, ETA) hash each configuration's id once per plan, not once
per refresh: at 10,000 configurations that was 57 ms of every second inside the runner."""

from __future__ import annotations

import json
import os

from edgetui.profiles.plan import Configuration
from edgetui.run.metrics import MetricsExporter, MetricsOptions

N = 3000


def plan() -> list[Configuration]:
    return [Configuration(profile="big", engine="llama_cpp", engine_url=None, model="m", model_name="m",
                          model_path=None, n_threads=1 + i % 30, n_gpu_layers=0, n_ctx=256 + i // 30, n_batch=512,
                          flash_attn="auto", kv_cache_type="f16", prompt_tokens=16, prompt=None, gen_tokens=40,
                          repetitions=3, warmup=1) for i in range(N)]


def test_refreshes_hash_each_id_once(tmp_path, monkeypatch):
    configs = plan()
    folder = tmp_path / "run"
    folder.mkdir()
    manifest = {"schema": 1, "status": "running", "runner_pid": os.getpid(), "configs": [c.to_dict() for c in configs],
                "profiles": [{"name": "big"}], "host": {"host": "bench"}}
    (folder / "run.json").write_text(json.dumps(manifest))
    first, second = configs[0].config_id, configs[1].config_id
    events = [{"ev": "run_start", "t": 100.0, "n_configs": N},
              {"ev": "config_start", "t": 101.0, "config_id": first, "index": 1, "n": N, "describe": "m"},
              {"ev": "rep_end", "t": 103.0, "config_id": first, "rep": 0, "warmup": False, "decode_tps": 50.0,
               "prefill_tps": 400.0, "ttft_ms": 30.0, "gen_tokens_actual": 40},
              {"ev": "config_end", "t": 104.0, "config_id": first, "status": "done"},
              {"ev": "config_start", "t": 105.0, "config_id": second, "index": 2, "n": N, "describe": "m"}]
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))

    hashed: list[int] = []
    real = Configuration.config_id

    def counted(self: Configuration) -> str:
        hashed.append(1)
        return real.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Configuration, "config_id", property(counted))
    exporter = MetricsExporter(folder, MetricsOptions())
    etas = []
    for i in range(30):
        if i == 15:  # the runner rewrites its manifest (a status, the idle power): the plan is the same
            manifest["power_w_idle"] = 2.5
            (folder / "run.json").write_text(json.dumps(manifest))
            os.utime(folder / "run.json", (1e9 + i, 1e9 + i))
        exporter.refresh()
        etas.append(exporter.follower.state.eta(200.0))
    state = exporter.follower.state
    assert state.n_configs == N
    assert etas[0] is not None and etas[0] > 0
    assert len(hashed) <= N, f"{len(hashed)} ids hashed for {N} configurations over 30 refreshes"
    assert state.config_of(second) is not None


def test_a_new_plan_is_indexed_again(tmp_path):
    from edgetui.rundir.follow import LiveState

    configs = plan()[:10]
    state = LiveState({"configs": [c.to_dict() for c in configs]})
    assert state.config_of(configs[3].config_id) == configs[3]
    state.set_manifest({"configs": [c.to_dict() for c in configs[5:]]})
    assert state.config_of(configs[3].config_id) is None
    assert state.config_ids == [c.config_id for c in configs[5:]]
