"""What is known of each model file before anything runs: where it is, its size and
quantisation from the GGUF header, and whether it fits in the memory available now."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from edgetui import models
from edgetui.models import gguf
from edgetui.profiles.plan import Configuration

# bytes per KV cache element by cache type; anything quantised below q8_0 is taken as about 0.6
KV_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 1.0625}


@dataclass
class ModelFacts:
    path: str | None
    sha256: str | None = None  # computed when its configuration starts (hashing takes a while)
    size_mb: float | None = None
    quant: str | None = None
    quant_source: str | None = None  # a quantised variant: the file it was made from
    quant_note: str | None = None  # and how, where its source was already quantised


def read_model_facts(configs: Iterable[Configuration],
                     progress: Callable[[str], None]) -> dict[str, ModelFacts]:
    """Resolve every local model file (fetching bundled ones) and read its header; raises
    UserError for a file that is missing, not GGUF or truncated. Server engines have no file here."""
    facts: dict[str, ModelFacts] = {}
    for c in configs:
        if not c.in_process or c.model in facts:
            continue
        path = models.resolve(c.model_name, c.model_path, progress=progress)
        info = gguf.read_info(path)
        facts[c.model] = ModelFacts(path=str(path), size_mb=round(path.stat().st_size / 1e6, 1),
                                    quant=info.quant or gguf.quant_from_name(path))
    return facts


def memory_refusal(c: Configuration, facts: ModelFacts | None) -> str | None:
    """Why a load whose file and KV cache cannot fit in the memory available now is refused, or None."""
    import psutil

    if not facts or not facts.path:
        return None
    info = gguf.read_info(facts.path)
    need = Path(facts.path).stat().st_size + (info.kv_cache_bytes(c.n_ctx, KV_BYTES.get(c.kv_cache_type, 0.6)) or 0)
    avail = psutil.virtual_memory().available
    if need > avail:
        return (f"would not fit: model file and {c.n_ctx}-token KV cache need about "
                f"{need / 2**20:.0f} MB, {avail / 2**20:.0f} MB available")
    return None
