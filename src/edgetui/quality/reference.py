"""What is kept of the reference: per scored position, the log-probabilities of its top tokens
and of tokens drawn from the rest (quality.scoring), cached per corpus, reference file and
window layout: about a megabyte per 2,048 tokens, where its full logits would be n_vocab / 128
times larger (400 times for SmolLM2, 2,000 for Gemma 3), gigabytes for a real corpus."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgetui.models import cache_subdir
from edgetui.quality.scoring import TAIL_SAMPLES, TOP_K, ReferenceWindow

FORMAT = 2  # bump when what is stored or how it is computed changes


def cache_path(corpus_sha256: str, reference_sha256: str, n_ctx: int, n_windows: int) -> Path:
    key = json.dumps({"format": FORMAT, "corpus": corpus_sha256, "reference": reference_sha256, "n_ctx": n_ctx,
                      "windows": n_windows, "top_k": TOP_K,
                      "tail": TAIL_SAMPLES}, sort_keys=True)
    return cache_subdir("quality") / f"ref-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


@dataclass
class Reference:
    tokens: np.ndarray  # int32 (n_windows * n_ctx,): the corpus tokens evaluated
    ids: np.ndarray  # int32 (n_windows, scored, k)
    logp: np.ndarray  # float32 (n_windows, scored, k)
    tail_ids: np.ndarray  # int32 (n_windows, scored, TAIL_SAMPLES)
    tail_logp: np.ndarray  # float32 (n_windows, scored, TAIL_SAMPLES)
    n_vocab: int

    def window(self, w: int) -> ReferenceWindow:
        return ReferenceWindow(ids=self.ids[w], logp=self.logp[w], tail_ids=self.tail_ids[w],
                               tail_logp=self.tail_logp[w])


def load(path: str | Path) -> Reference | None:
    """The cached reference, or None when it is not there (or unreadable: made again)."""
    try:
        with np.load(path) as z:
            return Reference(tokens=z["tokens"], ids=z["ids"], logp=z["logp"], tail_ids=z["tail_ids"],
                             tail_logp=z["tail_logp"], n_vocab=int(z["n_vocab"]))
    except (OSError, KeyError, ValueError):
        return None


def save(path: str | Path, ref: Reference) -> None:
    """Written to a temporary file and renamed: a reader never sees half a reference."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, tokens=ref.tokens, ids=ref.ids, logp=ref.logp, tail_ids=ref.tail_ids,
                     tail_logp=ref.tail_logp, n_vocab=np.int64(ref.n_vocab))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
