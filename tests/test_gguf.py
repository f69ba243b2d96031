from __future__ import annotations

import pytest

from edgetui.errors import UserError
from edgetui.models import gguf


def test_real_model_header(smollm2_path):
    info = gguf.read_info(smollm2_path)
    assert info.quant == "Q4_1"
    assert info.architecture == "llama"
    assert info.expected_size == smollm2_path.stat().st_size
    # SmolLM2-135M: 30 layers, 3 KV heads of 64 dims, K and V at f16
    assert info.kv_cache_bytes(512) == 30 * 512 * 3 * (64 + 64) * 2


def test_truncated_file_is_refused(smollm2_path, tmp_path):
    cut = tmp_path / "cut.gguf"
    with smollm2_path.open("rb") as src:
        cut.write_bytes(src.read(smollm2_path.stat().st_size - 4096))
    with pytest.raises(UserError, match="truncated GGUF file"):
        gguf.read_info(cut)
    tiny = tmp_path / "tiny.gguf"
    tiny.write_bytes(smollm2_path.read_bytes()[:100])
    with pytest.raises(UserError, match="truncated GGUF file: its header ends early"):
        gguf.read_info(tiny)


def test_not_gguf_and_missing(tmp_path):
    txt = tmp_path / "model.gguf"
    txt.write_text("hello, I am not a model")
    with pytest.raises(UserError, match="not a GGUF file"):
        gguf.read_info(txt)
    with pytest.raises(UserError, match="model file not found"):
        gguf.read_info(tmp_path / "absent.gguf")


@pytest.mark.parametrize("name,quant", [
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"), ("gemma-3-270m-q4_k_m.gguf", "Q4_K_M"),
    ("x-F16.gguf", "F16"), ("model.gguf", None),
])
def test_quant_from_name(name, quant):
    assert gguf.quant_from_name(name) == quant
