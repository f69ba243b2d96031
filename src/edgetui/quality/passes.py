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


class QualityPass:
    """One pass, a window at a time (run_pass drives it; the benchmark interleaves its windows
    with a plain evaluation's): tokens and the reference read and the context made on creation,
    window(w) scores one window, finish() frees the context, keeps the reference's tokens where
    asked, and gives the figures."""

    def __init__(self, model: Any, spec: QualitySpec, n_threads: int, *, make_reference: bool) -> None:
        self.t_start = time.monotonic()
        self.spec, self.make_reference = spec, make_reference
        self.tokens = corpus_tokens(model, spec)
        self.ref = None
        if not make_reference:
            self.ref = refcache.load(spec.reference_cache)
            if self.ref is None:
                raise QualityError(f"the reference's log-probabilities are not in the cache ({spec.reference_cache})")
            if self.ref.tokens.shape != self.tokens.shape or not np.array_equal(self.ref.tokens, self.tokens):
                raise QualityError(f"the reference ({spec.reference}) tokenizes the corpus differently: "
                                   "it is not the same model, so its logits cannot be compared")
        self.ev = WindowEvaluator(model, spec.n_ctx, n_threads)
        if self.ref is not None and self.ref.n_vocab != self.ev.n_vocab:
            n_vocab = self.ev.n_vocab
            self.ev.close()
            raise QualityError(f"the reference has {self.ref.n_vocab} tokens in its vocabulary, this model "
                               f"{n_vocab}: not the same model")
        self.n_vocab = self.ev.n_vocab
        self.first = first_scored(spec.n_ctx)
        self.totals = QualityTotals()
        self.kept: list = []
        self.scratch: np.ndarray | None = None

    def window(self, w: int) -> None:
        n_ctx = self.spec.n_ctx
        window = self.tokens[w * n_ctx:(w + 1) * n_ctx]
        logits = self.ev.logits(window)
        scores = score_window(logits, window[self.first + 1:], reference=self.ref.window(w) if self.ref else None,
                              keep_top=self.make_reference, compare_self=self.make_reference,
                              rng=np.random.default_rng([TAIL_SEED, w]), scratch=self.scratch)
        self.scratch = scores.scratch
        self.totals.add(scores)
        if scores.reference is not None:
            self.kept.append(scores.reference)

    def close(self) -> None:
        self.ev.close()

    def finish(self) -> dict[str, Any]:
        self.close()
        if self.make_reference:
            k = self.kept
            refcache.save(self.spec.reference_cache, refcache.Reference(
                tokens=self.tokens, ids=np.stack([x.ids for x in k]), logp=np.stack([x.logp for x in k]),
                tail_ids=np.stack([x.tail_ids for x in k]), tail_logp=np.stack([x.tail_logp for x in k]),
                n_vocab=self.n_vocab))
        return {**self.totals.summary(), "tokens": int(self.tokens.size), "scored": self.totals.scored,
                "windows": self.spec.n_windows, "scored_per_window": scored_per_window(self.spec.n_ctx),
                "t_start": self.t_start, "t_end": time.monotonic()}


def run_pass(model: Any, spec: QualitySpec, n_threads: int, *, make_reference: bool,
             progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate the windows; with make_reference, also keep and cache this model's top tokens."""
    qp = QualityPass(model, spec, n_threads, make_reference=make_reference)
    try:
        for w in range(spec.n_windows):
            qp.window(w)
            if progress is not None:
                progress((w + 1) * spec.n_ctx, spec.n_windows * spec.n_ctx)
    except BaseException:
        qp.close()
        raise
    return qp.finish()
