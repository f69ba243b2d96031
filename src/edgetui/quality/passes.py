"""One quality pass of a loaded model: perplexity over the corpus windows and, against the
reference's kept log-probabilities, mean KL divergence, its 99th percentile and top-1
agreement. The reference's own pass keeps its top tokens (the cache the others read) and is
compared with them like any other: KLD 0 and agreement 1, computed, not assumed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from edgetui.quality import reference as refcache
from edgetui.quality.corpus import check_corpus
from edgetui.quality.llama_eval import WindowEvaluator, tokenize
from edgetui.quality.scoring import QualityTotals, first_scored, score_window, scored_per_window


TAIL_SEED = 20260  # the reference's tail draws: fixed, so a reference made twice is the same


class QualityError(Exception):
    """This model cannot be scored on this corpus (too few tokens, another tokenizer): the
    configuration fails with the reason; the queue goes on."""


@dataclass(frozen=True)
class QualitySpec:
    """What a pass needs, as plain values (it travels to the inference child as JSON)."""

    corpus: str  # as the profile says: "bundled" or a path
    corpus_file: str
    corpus_sha256: str
    tokens: int  # corpus tokens asked for
    n_ctx: int  # window length
    reference: str  # as the profile says: "source" or a path
    reference_file: str
    reference_sha256: str
    reference_cache: str  # the cached top-k log-probabilities of the reference

    @property
    def n_windows(self) -> int:
        return self.tokens // self.n_ctx

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualitySpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


Progress = Callable[[int, int], None]  # (tokens evaluated, tokens in all)


def corpus_tokens(model: Any, spec: QualitySpec) -> np.ndarray:
    """The first n_windows * n_ctx tokens of the corpus, as this model tokenizes it."""
    ids = tokenize(model, check_corpus(spec.corpus_file))
    need = spec.n_windows * spec.n_ctx
    if len(ids) < need:
        raise QualityError(f"the corpus ({spec.corpus}) is {len(ids)} tokens for this model's tokenizer; "
                           f"[quality] tokens = {spec.tokens} needs {need} ({spec.n_windows} windows of "
                           f"{spec.n_ctx}): lower tokens or give a longer corpus")
    return np.asarray(ids[:need], dtype=np.int32)


def run_pass(model: Any, spec: QualitySpec, n_threads: int, *, make_reference: bool,
             progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate the windows; with make_reference, also keep and cache this model's top tokens."""
    tokens = corpus_tokens(model, spec)
    ref = None
    if not make_reference:
        ref = refcache.load(spec.reference_cache)
        if ref is None:
            raise QualityError(f"the reference's log-probabilities are not in the cache ({spec.reference_cache})")
        if ref.tokens.shape != tokens.shape or not np.array_equal(ref.tokens, tokens):
            raise QualityError(f"the reference ({spec.reference}) tokenizes the corpus differently: "
                               "it is not the same model, so its logits cannot be compared")
    n_ctx = spec.n_ctx
    first = first_scored(n_ctx)
    t_start = time.monotonic()
    ev = WindowEvaluator(model, n_ctx, n_threads)
    try:
        if ref is not None and ref.n_vocab != ev.n_vocab:
            raise QualityError(f"the reference has {ref.n_vocab} tokens in its vocabulary, this model "
                               f"{ev.n_vocab}: not the same model")
        totals = QualityTotals()
        kept: list = []
        scratch = None
        for w in range(spec.n_windows):
            window = tokens[w * n_ctx:(w + 1) * n_ctx]
            logits = ev.logits(window)
            scores = score_window(logits, window[first + 1:], reference=ref.window(w) if ref else None,
                                  keep_top=make_reference, compare_self=make_reference,
                                  rng=np.random.default_rng([TAIL_SEED, w]), scratch=scratch)
            scratch = scores.scratch
            totals.add(scores)
            if scores.reference is not None:
                kept.append(scores.reference)
            if progress is not None:
                progress((w + 1) * n_ctx, spec.n_windows * n_ctx)
        n_vocab = ev.n_vocab
    finally:
        ev.close()
    t_end = time.monotonic()
    if make_reference:
        refcache.save(spec.reference_cache, refcache.Reference(
            tokens=tokens, ids=np.stack([k.ids for k in kept]), logp=np.stack([k.logp for k in kept]),
            tail_ids=np.stack([k.tail_ids for k in kept]), tail_logp=np.stack([k.tail_logp for k in kept]),
            n_vocab=n_vocab))
    return {**totals.summary(), "tokens": int(tokens.size), "scored": totals.scored,
            "windows": spec.n_windows, "scored_per_window": scored_per_window(n_ctx),
            "t_start": t_start, "t_end": t_end}
