"""The latency distribution of a configuration, from the token times each repetition recorded:
inter-token latency (ITL) percentiles and the mean time per output token (TPOT).

A repetition's row holds its token times (`token_ms`, ms after the request, one entry per token
or per streamed chunk, with `token_counts` when an entry carried several tokens). A repetition
with several streams in flight (concurrency) holds one such record per stream in `streams`."""

from __future__ import annotations

from typing import Any

from edgetui.stats import mean, percentile


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
