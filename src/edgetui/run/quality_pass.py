"""The runner's side of the quality pass: what a configuration's pass is asked (corpus,
windows, reference and its cache), and the results columns its outcome fills."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgetui import models
from edgetui.errors import UserError
from edgetui.profiles.schema import QualitySettings
from edgetui.quality import reference as refcache
from edgetui.quality.corpus import corpus_path, read_corpus, text_sha256
from edgetui.quality.passes import QualitySpec
from edgetui.run.modelfacts import ModelFacts

SOURCE = "source"


def quality_spec(q: QualitySettings, source: ModelFacts) -> QualitySpec:
    """The pass of a variant of `source` (the model file as given): the reference is that
    file, or the GGUF the profile names."""
    text = read_corpus(q.corpus)
    if q.reference == SOURCE:
        assert source.path is not None
        ref_file = source.path
        if source.sha256 is None:
            source.sha256 = models.file_sha256(ref_file)
        ref_sha = source.sha256
    else:
        ref_file = q.reference
        try:
            ref_sha = models.file_sha256(ref_file)
        except OSError as exc:
            raise UserError(f"quality reference: cannot read it: {exc.strerror or exc}", where=ref_file) from None
    corpus_sha = text_sha256(text)
    n_windows = q.tokens // q.n_ctx
    return QualitySpec(corpus=q.corpus, corpus_file=str(corpus_path(q.corpus)), corpus_sha256=corpus_sha,
                       tokens=q.tokens, n_ctx=q.n_ctx, reference=q.reference, reference_file=ref_file,
                       reference_sha256=ref_sha,
                       reference_cache=str(refcache.cache_path(corpus_sha, ref_sha, q.n_ctx, n_windows)))


def pass_key(variant: ModelFacts, spec: QualitySpec) -> tuple[Any, ...]:
    """A pass is made once per model variant and what it is asked (not per configuration)."""
    return (variant.sha256, spec.corpus_sha256, spec.reference_sha256, spec.n_ctx, spec.n_windows)


def is_reference(variant: ModelFacts, spec: QualitySpec) -> bool:
    return variant.sha256 == spec.reference_sha256


def reference_cached(spec: QualitySpec) -> bool:
    return Path(spec.reference_cache).is_file()


def quality_columns(result: dict[str, Any], spec: QualitySpec, energy_j: float | None) -> dict[str, Any]:
    """The results columns of one pass (rundir.columns: quality_*)."""
    return {
        "quality_ppl": result["ppl"], "quality_kld_mean": result["kld_mean"], "quality_kld_p99": result["kld_p99"],
        "quality_top1_agree": result["top1_agree"], "quality_reference": spec.reference,
        "quality_corpus": spec.corpus, "quality_tokens": result["tokens"],
        "quality_s": result["t_end"] - result["t_start"], "quality_energy_j": energy_j,
    }

