"""The results columns are declared once (edgetui.rundir.columns): the aggregation's rows carry
exactly them with their types, and results.csv keeps every digit that results.json has."""

from __future__ import annotations

import csv
import json

import pytest

from edgetui.run.aggregate import result_row
from edgetui.rundir.columns import COLUMN_KINDS, COLUMNS, CONTRACT_COLUMNS, RESULT_COLUMNS, typed_row
from edgetui.rundir.store import RunStore


def config(**over):
    c = {"config_id": "c1", "profile": "p", "engine": "llama_cpp", "model": "m", "n_threads": 2, "n_gpu_layers": 0,
         "n_ctx": 512, "n_batch": 512, "flash_attn": True, "kv_cache_type": "f16", "prompt_tokens": 32,
         "gen_tokens": 16}
    c.update(over)
    return c


def rep(**over):
    r = {"ttft_ms": 100.0, "prefill_tps": 300.0, "decode_tps": 20.0, "e2e_tps": 15.0, "prompt_tokens": 32,
         "gen_tokens_actual": 16, "energy_j": 8.0, "net_energy_j": 4.0, "power_w_mean": 5.0}
    r.update(over)
    return r


def test_every_column_is_declared_once_with_a_kind_and_the_contract_ends_at_cpu_model():
    assert len(RESULT_COLUMNS) == len(set(RESULT_COLUMNS)) == len(COLUMNS)
    assert set(COLUMN_KINDS.values()) <= {"text", "int", "float", "bool"}
    assert CONTRACT_COLUMNS[0] == "config_id" and CONTRACT_COLUMNS[-1] == "cpu_model"


def test_an_aggregated_row_has_every_declared_column_typed_and_in_order():
    import numpy as np

    context = {"board": "pi5", "load_s": np.float64(0.5), "rss_mb_peak": np.int64(300), "throttled": False,
               "price_usd": 80}
    row = result_row(config(), [rep(rep=0), rep(rep=1, decode_tps=22.0)], status="done", error=None, context=context)
    assert list(row) == RESULT_COLUMNS
    assert row["flash_attn"] == "true" and row["n_threads"] == 2 and row["board"] == "pi5"
    assert type(row["rss_mb_peak"]) is float and type(row["load_s"]) is float and row["throttled"] is False
    assert row["decode_tps_mean"] == 21.0 and row["energy_j_per_token"] == 0.5
    assert row["power_w_idle"] is None  # not in the context: missing, never zero
    for name, kind in COLUMN_KINDS.items():
        v = row[name]
        assert v is None or isinstance(v, {"text": str, "int": int, "float": float, "bool": bool}[kind]), name


def test_a_column_that_is_not_declared_is_refused():
    with pytest.raises(ValueError, match="undeclared results column.*speed"):
        typed_row({"config_id": "a", "speed": 3.0})
    with pytest.raises(ValueError, match="n_threads = 2.5 is not a whole number"):
        typed_row({"config_id": "a", "n_threads": 2.5})
    with pytest.raises(ValueError, match="decode_tps_mean = 'fast' is not a number"):
        typed_row({"config_id": "a", "decode_tps_mean": "fast"})


def test_results_csv_keeps_the_digits_results_json_has(tmp_path):
    row = typed_row({"config_id": "a", "status": "done", "decode_tps_mean": 1 / 3, "prompt_tokens": 32.0,
                     "energy_j_per_token": 1.2345678912345e-05, "throttled": True})
    store = RunStore(tmp_path)
    store.write_results([row])
    cells = next(csv.DictReader(store.csv_path.open()))
    assert float(cells["decode_tps_mean"]) == 1 / 3 == json.loads(store.json_path.read_text())["rows"][0][
        "decode_tps_mean"]
    assert float(cells["energy_j_per_token"]) == 1.2345678912345e-05
    assert cells["prompt_tokens"] == "32" and cells["throttled"] == "true" and cells["power_w_mean"] == ""
