"""The latency distribution of a configuration, from the token times each repetition recorded:
inter-token latency (ITL) percentiles and the mean time per output token (TPOT).

A repetition's row holds its token times (`token_ms`, ms after the request, one entry per token
or per streamed chunk, with `token_counts` when an entry carried several tokens). A repetition
with several streams in flight (concurrency) holds one such record per stream in `streams`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgetui.stats import mean, percentile

# The ITL percentiles' interval: a percentile bootstrap over repetitions (STATISTICS.md: the
# tokens of one repetition are not independent observations, its repetitions are). Below this
# many repetitions there are too few distinct resamples (3 repetitions: 10) for its 2.5th and
# 97.5th percentiles to mean anything, and the interval is left empty.
BOOTSTRAP_MIN_REPETITIONS = 5
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 19  # fixed: the same repetitions give the same interval on every machine
ITL_PERCENTILES = (50, 90, 99)


def streams_of(rep: dict[str, Any]) -> list[dict[str, Any]]:
    """The streams of one repetition row, each with t_start, t_first_token, t_end, gen_tokens,
    first_token_count, token_ms and token_counts; a repetition of one stream is its own."""
    if rep.get("streams"):
        return list(rep["streams"])
    return [{"t_start": rep.get("t_start"), "t_first_token": rep.get("t_first_token"), "t_end": rep.get("t_end"),
             "gen_tokens": rep.get("gen_tokens_actual"), "first_token_count": rep.get("first_token_count", 1),
             "token_ms": rep.get("token_ms"), "token_counts": rep.get("token_counts")}]


def inter_token_ms(stream: dict[str, Any]) -> list[float]:
    """The gap before each token after the first, ms. A chunk that carried k tokens arrived k
    tokens after the one before it: its gap is shared evenly among its k tokens."""
    times = stream.get("token_ms") or []
    counts = stream.get("token_counts") or [1] * len(times)
    gaps: list[float] = []
    for i in range(1, len(times)):
        k = max(int(counts[i]), 1)
        gaps.extend([(times[i] - times[i - 1]) / k] * k)
    return gaps


def tpot_ms(stream: dict[str, Any]) -> float | None:
    """Time per output token: the decode time (first token to last) over the tokens after the first."""
    t_first, t_end, n = stream.get("t_first_token"), stream.get("t_end"), stream.get("gen_tokens")
    if t_first is None or t_end is None or n is None:
        return None
    after_first = n - (stream.get("first_token_count") or 1)
    return (t_end - t_first) * 1000.0 / after_first if after_first > 0 and t_end > t_first else None


def ttft_ms(stream: dict[str, Any]) -> float | None:
    t_start, t_first = stream.get("t_start"), stream.get("t_first_token")
    return (t_first - t_start) * 1000.0 if t_start is not None and t_first is not None else None


def bootstrap_percentiles(groups: Sequence[Sequence[float]], qs: Sequence[float], *,
                          resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                          min_groups: int = BOOTSTRAP_MIN_REPETITIONS) -> dict[float, tuple[float, float]] | None:
    """95% percentile-bootstrap intervals of the q-th percentiles of the pooled values of these
    groups (repetitions), resampling whole groups with replacement: {q: (lo, hi)}; None with fewer
    than min_groups non-empty groups.

    Vectorised over resamples: drawing n groups with replacement is drawing how many times each is
    taken (multinomial counts); the values are sorted once, and a resample's k-th smallest value is
    the first sorted value below which (itself included) the resample holds more than k values,
    found by bisection (each group's count there read off the sorted positions of its values):
    numpy's linear percentile, as `percentile`, without building any resample; memory grows with
    the values, not with values x resamples."""
    import numpy as np  # imported here: most commands never aggregate

    kept = [np.asarray(g, dtype=float) for g in groups if len(g)]
    n = len(kept)
    if n < max(min_groups, 2):
        return None
    values = np.concatenate(kept)
    labels = np.repeat(np.arange(n), [len(g) for g in kept])
    order = np.argsort(values, kind="stable")
    values, labels = values[order], labels[order]
    places = [np.flatnonzero(labels == g) for g in range(n)]  # where each group's values sit, sorted
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples)  # (B, n)
    total = counts @ np.array([len(p) for p in places])  # each resample's size

    def kth(k: np.ndarray) -> np.ndarray:
        """Each resample's k-th smallest value (0-based), by bisection on the sorted values."""
        lo, hi = np.zeros(resamples, dtype=np.int64), np.full(resamples, len(values) - 1, dtype=np.int64)
        while (lo < hi).any():
            mid = (lo + hi) // 2
            held = sum(counts[:, g] * np.searchsorted(p, mid, side="right") for g, p in enumerate(places))
            more = held > k
            hi, lo = np.where(more, mid, hi), np.where(more, lo, mid + 1)
        return values[lo]

    out = {}
    for q in qs:
        pos = (total - 1) * (q / 100.0)
        k = np.floor(pos).astype(np.int64)
        a, b = kth(k), kth(np.minimum(k + 1, total - 1))
        est = a + (b - a) * (pos - k)
        out[q] = (float(np.percentile(est, 2.5)), float(np.percentile(est, 97.5)))
    return out


def itl_interval_columns(reps: list[dict[str, Any]]) -> dict[str, float | None]:
    """itl_ms_pXX_ci95_lo/hi: each repetition's gaps (all its streams) are one group."""
    groups = [[g for s in streams_of(r) for g in inter_token_ms(s)] for r in reps]
    found = bootstrap_percentiles(groups, ITL_PERCENTILES)
    out: dict[str, float | None] = {}
    for q in ITL_PERCENTILES:
        lo, hi = found[q] if found else (None, None)
        out[f"itl_ms_p{q}_ci95_lo"], out[f"itl_ms_p{q}_ci95_hi"] = lo, hi
    return out


def latency_columns(reps: list[dict[str, Any]]) -> dict[str, float | None]:
    """itl_ms_p50/p90/p99 over every token of every counted repetition (and stream), the mean
    TPOT over them, and each stream's TTFT (mean, p50, p99) over every stream."""
    streams = [s for r in reps for s in streams_of(r)]
    gaps = [g for s in streams for g in inter_token_ms(s)]
    ttfts = [ttft_ms(s) for s in streams]
    return {
        "itl_ms_p50": percentile(gaps, 50),
        "itl_ms_p90": percentile(gaps, 90),
        "itl_ms_p99": percentile(gaps, 99),
        "tpot_ms_mean": mean(tpot_ms(s) for s in streams),
        "stream_ttft_ms_mean": mean(ttfts),
        "stream_ttft_ms_p50": percentile(ttfts, 50),
        "stream_ttft_ms_p99": percentile(ttfts, 99),
    }
