"""Evaluation windows on llama.cpp (llama-cpp-python's low-level API), for the quality pass.

A context of its own, sized for the windows (n_ctx tokens, one llama_decode per window),
made from a model already loaded by the engine, so the weights are not loaded twice; only
the second half of each window asks for logits, as llama-perplexity does."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from edgetui.quality.scoring import first_scored


class EvalError(Exception):
    """llama.cpp refused a context or a window (out of memory, bad parameters)."""


def tokenize(model: Any, text: str) -> list[int]:
    """The corpus as llama-perplexity tokenizes it: with the model's own BOS, no special-token
    parsing (common_tokenize(ctx, text, add_special=true))."""
    import llama_cpp as L

    vocab = L.llama_model_get_vocab(model)
    raw = text.encode("utf-8")
    cap = len(raw) + 16
    buf = (L.llama_token * cap)()
    n = L.llama_tokenize(vocab, raw, len(raw), buf, cap, True, False)
    if n < 0:  # the buffer was too small: llama.cpp says how large it must be
        cap = -n
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(vocab, raw, len(raw), buf, cap, True, False)
    if n < 0:
        raise EvalError("the corpus did not tokenize")
    return list(buf[:n])


class WindowEvaluator:
    """One context of n_ctx tokens; logits(window) evaluates a window from a clean cache and
    returns the logits of its second half as a numpy view (valid until the next call)."""

    def __init__(self, model: Any, n_ctx: int, n_threads: int) -> None:
        import llama_cpp as L

        self.L = L
        self.n_ctx = n_ctx
        self.first = first_scored(n_ctx)
        self.vocab = L.llama_model_get_vocab(model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.add_bos = bool(L.llama_vocab_get_add_bos(self.vocab))
        self.bos = L.llama_vocab_bos(self.vocab)
        p = L.llama_context_default_params()
        p.n_ctx = n_ctx
        p.n_batch = n_ctx  # one decode call per window
        p.n_ubatch = min(n_ctx, 512)
        p.n_seq_max = 1
        p.n_threads = p.n_threads_batch = n_threads
        self.ctx = L.llama_init_from_model(model, p)
        if not self.ctx:
            raise EvalError(f"llama.cpp could not create a {n_ctx}-token context for the quality pass")
        self.batch = L.llama_batch_init(n_ctx, 0, 1)
        b = self.batch
        b.n_tokens = n_ctx
        for i in range(n_ctx):  # positions, sequence and output flags are the same for every window
            b.pos[i] = i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1 if i >= self.first else 0
        self.tokens = np.ctypeslib.as_array(ctypes.cast(b.token, ctypes.POINTER(ctypes.c_int32)), shape=(n_ctx,))
        self.n_out = n_ctx - self.first

    def logits(self, window: np.ndarray) -> np.ndarray:
        L = self.L
        if len(window) != self.n_ctx:
            raise ValueError(f"a window is {self.n_ctx} tokens, got {len(window)}")
        self.tokens[:] = window
        if self.add_bos:  # every window starts afresh with BOS, as llama-perplexity's chunks do
            self.tokens[0] = self.bos
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)
        rc = L.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise EvalError(f"llama_decode returned {rc} on a quality window")
        ptr = L.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(ptr, shape=(self.n_out, self.n_vocab))

    def close(self) -> None:
        L = self.L
        if getattr(self, "batch", None) is not None:
            L.llama_batch_free(self.batch)
            self.batch = None
        if getattr(self, "ctx", None):
            L.llama_free(self.ctx)
            self.ctx = None
