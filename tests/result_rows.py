"""Synthetic results rows with the real column names (store.RESULT_COLUMNS), for ranking tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgetui.rundir.store import RESULT_COLUMNS, RunStore


def make_row(config_id: str, **values: Any) -> dict[str, Any]:
    """A results row: every column present, None (missing) unless given; status done."""
    row: dict[str, Any] = {c: None for c in RESULT_COLUMNS}
    row.update(config_id=config_id, status="done", profile="synthetic", board="pi5", engine="llama_cpp",
               model="smollm2-135m-q4_1", quant="Q4_1", n_threads=4, n_gpu_layers=0, n_ctx=512, n_batch=512,
               flash_attn="auto", prompt_tokens=32, gen_tokens=32, repetitions=3)
    unknown = set(values) - set(RESULT_COLUMNS)
    assert not unknown, f"not results columns: {unknown}"
    row.update(values)
    return row


def write_run(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """A run folder as the runner leaves it (results.csv and results.json)."""
    store = RunStore(folder)
    store.prepare()
    store.write_results(rows)
    return folder
