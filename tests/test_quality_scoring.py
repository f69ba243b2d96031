"""The arithmetic of the quality pass on synthetic logits, checked against direct full-vocabulary
computations: perplexity, KL divergence from what is kept of the reference, top-1 agreement,
the top-k search and the tail draws, and the reference cache."""

from __future__ import annotations

import numpy as np
import pytest

from edgetui.quality import reference as refcache
from edgetui.quality.scoring import (
    TAIL_SAMPLES,
    TOP_K,
    QualityTotals,
    _draw_tail,
    _top_ids,
    first_scored,
    percentile,
    score_window,
    scored_per_window,
)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def synthetic(rng, rows=40, vocab=3000, scale=2.5):
    return (rng.standard_normal((rows, vocab)) * scale).astype(np.float32)


def test_windows_score_their_second_half_as_llama_perplexity_does():
    assert first_scored(512) == 256 and scored_per_window(512) == 255
    assert first_scored(257) == 128 and scored_per_window(257) == 128


def test_perplexity_is_exp_of_the_mean_negative_log_likelihood():
    rng = np.random.default_rng(1)
    logits = synthetic(rng)
    targets = rng.integers(0, logits.shape[1], len(logits) - 1)
    s = score_window(logits, targets)
    want = -log_softmax(logits)[np.arange(len(targets)), targets]
    np.testing.assert_allclose(s.nll, want, rtol=1e-6)
    totals = QualityTotals()
    totals.add(s)
    assert totals.perplexity() == pytest.approx(float(np.exp(want.mean())), rel=1e-6)
    assert totals.summary()["kld_mean"] is None  # no reference: no divergence, not a zero


def test_a_model_against_itself_has_divergence_0_and_agreement_1():
    rng = np.random.default_rng(2)
    logits = synthetic(rng)
    targets = rng.integers(0, logits.shape[1], len(logits) - 1)
    s = score_window(logits, targets, keep_top=True, compare_self=True, rng=np.random.default_rng(0))
    assert (s.kld == 0).all() and s.same_top.all()
    again = score_window(logits, targets, reference=s.reference)
    assert (again.kld == 0).all() and again.same_top.all()


def test_divergence_from_what_is_kept_matches_the_full_vocabulary_kl():
    rng = np.random.default_rng(3)
    p_logits = synthetic(rng, rows=300, vocab=4000, scale=3.0)
    noise = rng.standard_normal(p_logits.shape).astype(np.float32)
    targets = rng.integers(0, p_logits.shape[1], len(p_logits) - 1)
    ref = score_window(p_logits, targets, keep_top=True, rng=np.random.default_rng(7)).reference
    lp = log_softmax(p_logits)[:-1]
    for amount in (0.05, 0.5):  # a near copy and a coarse one
        q_logits = p_logits + amount * noise
        lq = log_softmax(q_logits)[:-1]
        exact = (np.exp(lp) * (lp - lq)).sum(axis=1)
        s = score_window(q_logits, targets, reference=ref)
        assert (s.kld >= 0).all()
        # the tail is estimated from draws: the mean over positions is what must hold
        assert s.kld.mean() == pytest.approx(exact.mean(), rel=0.05)
        assert np.corrcoef(s.kld, exact)[0, 1] > 0.95
        np.testing.assert_array_equal(s.same_top, lq.argmax(axis=1) == lp.argmax(axis=1))
    near = score_window(p_logits + 0.05 * noise, targets, reference=ref).kld.mean()
    coarse = score_window(p_logits + 0.5 * noise, targets, reference=ref).kld.mean()
    assert near < coarse


def test_the_top_k_search_is_a_full_sort_with_ties_to_the_lower_id():
    rng = np.random.default_rng(4)
    for vocab in (49152, 49157, 1000, 40):  # whole groups, a partial last group, few groups, below k
        x = synthetic(rng, rows=12, vocab=vocab)
        x[0, 5] = x[0, 9] = x[0].max() + 1.0  # a tie at the top: argmax picks 5
        k = min(TOP_K, vocab)
        got = _top_ids(x, k)
        np.testing.assert_array_equal(got, np.argsort(-x, axis=1, kind="stable")[:, :k])
        assert got[0, 0] == 5 == x[0].argmax()


def test_tail_draws_follow_the_weights_and_never_pick_a_weightless_token():
    rng = np.random.default_rng(5)
    weights = rng.random((3, 1003)).astype(np.float32) ** 6
    weights[:, :64] = 0.0  # the top tokens, taken out of the tail
    counts = np.zeros_like(weights, dtype=np.float64)
    for _ in range(300):
        drawn = _draw_tail(weights, rng)
        assert drawn.shape == (3, TAIL_SAMPLES)
        for j in range(3):
            np.add.at(counts[j], drawn[j], 1)
    assert counts[:, :64].sum() == 0
    freq = counts / counts.sum(axis=1, keepdims=True)
    p = weights / weights.sum(axis=1, keepdims=True)
    assert np.abs(freq - p).sum(axis=1).max() < 0.2  # 19,200 draws per row over 1,003 tokens


def test_percentile_interpolates_as_llama_perplexity():
    v = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    assert percentile(v, 0.99) == pytest.approx(4.96)
    assert percentile(v, 0.5) == 3.0 and percentile(v, 1.0) == 5.0 and percentile(v, 0.0) == 1.0


def test_the_reference_cache_round_trips_and_its_key_names_what_it_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGETUI_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(6)
    logits = synthetic(rng)
    kept = score_window(logits, rng.integers(0, 3000, 39), keep_top=True, rng=np.random.default_rng(0)).reference
    path = refcache.cache_path("c" * 64, "r" * 64, 512, 4)
    assert path.parent == tmp_path / "quality"
    assert refcache.cache_path("c" * 64, "r" * 64, 512, 5) != path  # another window count, another file
    assert refcache.cache_path("d" * 64, "r" * 64, 512, 4) != path  # another corpus
    assert refcache.load(path) is None
    ref = refcache.Reference(tokens=np.arange(8, dtype=np.int32), ids=kept.ids[None], logp=kept.logp[None],
                             tail_ids=kept.tail_ids[None], tail_logp=kept.tail_logp[None], n_vocab=3000)
    refcache.save(path, ref)
    back = refcache.load(path)
    assert back is not None and back.n_vocab == 3000
    np.testing.assert_array_equal(back.window(0).ids, kept.ids)
    np.testing.assert_array_equal(back.window(0).tail_logp, kept.tail_logp)
    path.write_bytes(b"not a reference")
    assert refcache.load(path) is None  # unreadable: made again, never a crash
