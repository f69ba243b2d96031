"""A configuration's model file when `[sweep] quant` asks for a variant: made from the source
once (models.quantize) and cached, then known like any other file (header, size, sha256),
with where it came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgetui import models
from edgetui.models import gguf, quantize
from edgetui.profiles.plan import Configuration
from edgetui.run.modelfacts import ModelFacts


def facts_key(c: Configuration) -> str:
    """The key of a configuration's model file among the run's model facts."""
    return c.model if c.quant == quantize.SOURCE else f"{c.model} {c.quant}"


def variant_cached(source: ModelFacts, qtype: str) -> bool:
    """A variant in the cache (whole or not: make_variant checks it, and makes a torn one again)."""
    return source.sha256 is not None and quantize.variant_path(source.sha256, qtype).is_file()


def variant_facts(c: Configuration, source: ModelFacts, *,
                  progress: Callable[[int, int], None] | None = None,
                  on_made: Callable[[str], None] | None = None,
                  control: Callable[[], bool] | None = None) -> ModelFacts:
    """The facts of c's variant of its source, made first when the cache lacks it or holds a torn
    one (made again, and said through on_made). QuantizeError (the quantizer's reason) when
    llama.cpp refuses the type for this model, or hangs; control as quantize.make_variant takes it
    (pause holds the quantizer, an exception from it stops it)."""
    assert source.path is not None
    src = Path(source.path)
    if source.sha256 is None:
        source.sha256 = models.file_sha256(src)
    requantize = (source.quant or "").upper() not in quantize.FULL_PRECISION
    path, made = quantize.make_variant(src, source.sha256, c.quant, requantize=requantize, progress=progress,
                                       control=control, say=on_made)
    if made and on_made is not None:
        on_made(f"{c.quant} made from {src.name} ({path.stat().st_size / 1e6:.0f} MB): {path}")
    info = gguf.read_info(path)
    size = path.stat().st_size
    note = None
    if requantize:
        note = f"requantised from {source.quant} (the source was already quantised)"
        if size > src.stat().st_size:  # the same tensors in more bytes: more bits per weight
            note = (f"requantised from {source.quant} to more bits: this row measures {c.quant}'s speed, "
                    "not recovered precision")
    return ModelFacts(path=str(path), sha256=models.file_sha256(path), size_mb=round(size / 1e6, 1),
                      quant=info.quant or c.quant, quant_source=str(src), quant_note=note)
