"""What does the quality pass cost beyond llama.cpp's own evaluation of the same tokens? Seconds
per 1,000 corpus tokens of edgetui's quality pass (quality.passes.QualityPass, what run_pass
drives: tokenizing, the reference read, the context, then per window perplexity and the
divergence from the cached reference) against a plain llama.cpp loop over the same windows that
asks for the same logits (the second half of each window, as llama-perplexity does) and does
nothing with them. Both in one process on one loaded model, each with its own context; their
windows alternate one by one (which goes first alternating too), so that on a shared machine
both see the same load: a pass-by-pass comparison drifts by 2x when other work comes and goes.

    .venv/bin/python benchmarks/quality.py [--model smollm2-135m-q4_1] [--tokens 2048] [--n-ctx 512]
                                           [--threads 2] [--rounds 3]

Prints each round, the totals and the ratio quality pass / plain evaluation (target <= 1.1);
the reference's own pass (which also keeps its top tokens and draws its tail) is shown apart,
since it is made once per corpus and reference, not once per configuration.
"""

from __future__ import annotations

import argparse
import ctypes
import tempfile
import time
from pathlib import Path

import numpy as np

PLAIN = "plain llama.cpp evaluation"
PASS = "quality pass (vs the cached reference)"
REFERENCE = "reference's own pass (keeps its tokens)"


class PlainEvaluation:
    """The windows through llama_decode with the same outputs requested, written here against the
    bare API (not edgetui's evaluator), the logits left untouched."""

    def __init__(self, L, model, tokens: np.ndarray, n_ctx: int, threads: int) -> None:
        self.L, self.tokens, self.n_ctx = L, tokens, n_ctx
        p = L.llama_context_default_params()
        p.n_ctx = p.n_batch = n_ctx
        p.n_ubatch = min(n_ctx, 512)
        p.n_seq_max = 1
        p.n_threads = p.n_threads_batch = threads
        self.ctx = L.llama_init_from_model(model, p)
        self.batch = L.llama_batch_init(n_ctx, 0, 1)
        self.batch.n_tokens = n_ctx
        self.bos = L.llama_vocab_bos(L.llama_model_get_vocab(model))
        for i in range(n_ctx):
            self.batch.pos[i], self.batch.n_seq_id[i], self.batch.logits[i] = i, 1, int(i >= n_ctx // 2)
            self.batch.seq_id[i][0] = 0

    def window(self, w: int) -> None:
        L, n_ctx = self.L, self.n_ctx
        window = self.tokens[w * n_ctx:(w + 1) * n_ctx]
        for i in range(n_ctx):
            self.batch.token[i] = int(window[i])
        self.batch.token[0] = self.bos
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)
        if L.llama_decode(self.ctx, self.batch) != 0:
            raise SystemExit("llama_decode failed")
        L.llama_get_logits(self.ctx)
        L.llama_synchronize(self.ctx)

    def close(self) -> None:
        self.L.llama_batch_free(self.batch)
        self.L.llama_free(self.ctx)


def interleaved(L, model, spec, tokens, args, *, make_reference: bool) -> tuple[float, float, dict]:
    """One round: (plain seconds, quality pass seconds, the pass's result), windows alternated."""
    from edgetui.quality.passes import QualityPass

    t0 = time.perf_counter()
    plain = PlainEvaluation(L, model, tokens, args.n_ctx, args.threads)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    qp = QualityPass(model, spec, args.threads, make_reference=make_reference)
    t_pass = time.perf_counter() - t0
    for w in range(spec.n_windows):
        steps = [("plain", plain.window), ("pass", qp.window)]
        for name, step in steps if w % 2 == 0 else reversed(steps):
            t0 = time.perf_counter()
            step(w)
            dt = time.perf_counter() - t0
            if name == "plain":
                t_plain += dt
            else:
                t_pass += dt
    t0 = time.perf_counter()
    plain.close()
    t_plain += time.perf_counter() - t0
    t0 = time.perf_counter()
    result = qp.finish()
    t_pass += time.perf_counter() - t0
    return t_plain, t_pass, result


def scoring_seconds(model, spec, tokens, args) -> float:
    """The scoring of every window against the cached reference, on copies of their logits (the
    evaluation itself left out), fastest of three."""
    from edgetui.quality import reference as refcache
    from edgetui.quality.llama_eval import WindowEvaluator
    from edgetui.quality.scoring import first_scored, score_window

    ev = WindowEvaluator(model, args.n_ctx, args.threads)
    windows = [tokens[w * args.n_ctx:(w + 1) * args.n_ctx] for w in range(spec.n_windows)]
    logits = [ev.logits(w).copy() for w in windows]
    ev.close()
    ref = refcache.load(spec.reference_cache)
    first = first_scored(args.n_ctx)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for w, (window, lg) in enumerate(zip(windows, logits)):
            score_window(lg, window[first + 1:], reference=ref.window(w))
        best = min(best, time.perf_counter() - t0)
    return best


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
    from edgetui.quality.passes import QualitySpec, corpus_tokens

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
        interleaved(L, model, spec, tokens, args, make_reference=True)  # the cache, and a warm-up
        plain_s: dict[str, list[float]] = {PASS: [], REFERENCE: []}
        pass_s: dict[str, list[float]] = {PASS: [], REFERENCE: []}
        for r in range(args.rounds):
            for name, make_reference in ((PASS, False), (REFERENCE, True)):
                t_plain, t_pass, result = interleaved(L, model, spec, tokens, args, make_reference=make_reference)
                assert result["tokens"] == n and result["kld_mean"] < 1e-6  # itself, against its own reference
                plain_s[name].append(t_plain)
                pass_s[name].append(t_pass)
                print(f"round {r + 1} {name:42s} {1000 * t_pass / n:7.3f} s per 1,000 tokens, "
                      f"{PLAIN} {1000 * t_plain / n:7.3f}: ratio {t_pass / t_plain:.3f}", flush=True)
        # the pass's own arithmetic, apart from llama.cpp: steadier than the ratio where other work shares the cores
        scoring = scoring_seconds(model, spec, tokens, args)
    print(f"\n{args.model}: {n} tokens in {n // args.n_ctx} windows of {args.n_ctx}, {args.threads} threads, "
          f"{args.rounds} rounds")
    for name in (PASS, REFERENCE):
        p, q = sum(plain_s[name]), sum(pass_s[name])
        print(f"  {name:42s} {1000 * q / (n * args.rounds):7.3f} s per 1,000 tokens; beside it, "
              f"{PLAIN} {1000 * p / (n * args.rounds):7.3f}")
    print(f"  scoring alone (perplexity, divergence, top-1 on the logits of every window): "
          f"{1000 * scoring / n:7.3f} s per 1,000 tokens = {100 * scoring * args.rounds / sum(plain_s[PASS]):.1f}% "
          "of the plain evaluation")
    print(f"ratio quality pass / plain evaluation: {sum(pass_s[PASS]) / sum(plain_s[PASS]):.3f} (target <= 1.1)")
    print(f"ratio reference's pass / plain evaluation: {sum(pass_s[REFERENCE]) / sum(plain_s[REFERENCE]):.3f} "
          "(once per corpus and reference)")


if __name__ == "__main__":
    main()
