"""What does the quality pass cost beyond llama.cpp's own evaluation of the same tokens? Seconds
per 1,000 corpus tokens of edgetui's quality pass (quality.passes.run_pass: tokenizing, the
windows, perplexity, and the divergence from the cached reference) against a plain llama.cpp
loop over the same windows that asks for the same logits (the second half of each window, as
llama-perplexity does) and does nothing with them. Both in one process on one loaded model,
each making its own context, alternated round by round so that both see the same machine.

    .venv/bin/python benchmarks/quality.py [--model smollm2-135m-q4_1] [--tokens 2048] [--n-ctx 512]
                                           [--threads 2] [--rounds 3]

Prints each round, the medians and the ratio quality pass / plain evaluation (target <= 1.1);
the reference's own pass (which also keeps its top tokens and draws its tail) is shown apart,
since it is made once per corpus and reference, not once per configuration.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

PLAIN = "plain llama.cpp evaluation"
PASS = "quality pass (vs the cached reference)"
REFERENCE = "reference's own pass (keeps its tokens)"


def plain_evaluation(L, model, tokens: np.ndarray, n_ctx: int, threads: int) -> float:
    """The windows through llama_decode with the same outputs requested, written here against the
    bare API (not edgetui's evaluator), logits left untouched; returns seconds."""
    t0 = time.perf_counter()
    p = L.llama_context_default_params()
    p.n_ctx = p.n_batch = n_ctx
    p.n_ubatch = min(n_ctx, 512)
    p.n_seq_max = 1
    p.n_threads = p.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, p)
    batch = L.llama_batch_init(n_ctx, 0, 1)
    batch.n_tokens = n_ctx
    bos = L.llama_vocab_bos(L.llama_model_get_vocab(model))
    for i in range(n_ctx):
        batch.pos[i], batch.n_seq_id[i], batch.logits[i] = i, 1, int(i >= n_ctx // 2)
        batch.seq_id[i][0] = 0
    for w in range(len(tokens) // n_ctx):
        window = tokens[w * n_ctx:(w + 1) * n_ctx]
        for i in range(n_ctx):
            batch.token[i] = int(window[i])
        batch.token[0] = bos
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        if L.llama_decode(ctx, batch) != 0:
            raise SystemExit("llama_decode failed")
        L.llama_get_logits(ctx)
    L.llama_synchronize(ctx)
    seconds = time.perf_counter() - t0
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-q4_1")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--n-ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import llama_cpp as L

    from edgetui import models
    from edgetui.quality.corpus import BUNDLED, BUNDLED_FILE, read_corpus, text_sha256
    from edgetui.quality.llama_eval import tokenize
    from edgetui.quality.passes import QualitySpec, corpus_tokens, run_pass

    quiet = L.llama_log_callback(lambda *a: None)  # kept referenced: C holds the pointer
    L.llama_log_set(quiet, ctypes.c_void_p(0))
    path = models.fetch(args.model, progress=lambda s: None)
    L.llama_backend_init()
    model = L.llama_model_load_from_file(str(path).encode(), L.llama_model_default_params())
    text = read_corpus(BUNDLED)
    with tempfile.TemporaryDirectory() as tmp:
        spec = QualitySpec(corpus=BUNDLED, corpus_file=str(BUNDLED_FILE), corpus_sha256=text_sha256(text),
                           tokens=args.tokens, n_ctx=args.n_ctx, reference="source", reference_file=str(path),
                           reference_sha256="benchmark", reference_cache=str(Path(tmp) / "ref.npz"))
        tokens = corpus_tokens(model, spec)
        assert len(tokenize(model, text)) >= len(tokens)
        n = len(tokens)
        times: dict[str, list[float]] = {PLAIN: [], PASS: [], REFERENCE: []}

        def reference() -> float:
            t0 = time.perf_counter()
            run_pass(model, spec, args.threads, make_reference=True)
            return time.perf_counter() - t0

        def quality() -> float:
            t0 = time.perf_counter()
            result = run_pass(model, spec, args.threads, make_reference=False)
            assert result["tokens"] == n and result["kld_mean"] < 1e-6  # itself, against its own reference
            return time.perf_counter() - t0

        reference()  # the cache the quality passes read, and a warm-up of the weights
        order = [(PLAIN, lambda: plain_evaluation(L, model, tokens, args.n_ctx, args.threads)),
                 (PASS, quality), (REFERENCE, reference)]
        for r in range(args.rounds):
            # alternate the order, so that a drift in the machine's speed favours neither side
            for name, fn in order if r % 2 == 0 else reversed(order):
                s = fn()
                times[name].append(s)
                print(f"round {r + 1} {name:42s} {1000 * s / n:7.3f} s per 1,000 tokens", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.model}: {n} tokens in {n // args.n_ctx} windows of {args.n_ctx}, {args.threads} threads")
    for k in times:
        print(f"  {k:42s} {1000 * med[k] / n:7.3f} s per 1,000 tokens (median of {args.rounds})")
    print(f"ratio quality pass / plain evaluation: {med[PASS] / med[PLAIN]:.3f} (target <= 1.1)")
    print(f"ratio reference's pass / plain evaluation: {med[REFERENCE] / med[PLAIN]:.3f} (once per corpus "
          "and reference)")


if __name__ == "__main__":
    main()
