"""Several requests in flight at once ([sweep] concurrency, ollama and openai): one stream per
thread, released together, each timed on its own; the repetition is their union, and every
stream's record (TTFT, token times, the server's own counters) is kept in it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from edgetui.engines.base import EngineError, RepResult
from edgetui.profiles.plan import Configuration

if TYPE_CHECKING:
    from edgetui.engines.server import ServerEngine


def run_streams(engine: ServerEngine, config: Configuration, rep: int, warmup: bool) -> RepResult:
    n = config.concurrency
    # Prompts made here, one after the other: each gets its own tag, so no stream is served from
    # another's prefix cache, and an exact-length prompt is fitted once, before any stream starts.
    prompts = [engine.prompt_for(config) for _ in range(n)]
    report_total = engine.progress_reporter(config, rep, warmup)
    tokens = [0] * n
    lock = threading.Lock()
    release = threading.Barrier(n)
    results: list[RepResult | None] = [None] * n
    errors: list[BaseException | None] = [None] * n

    def stream(i: int) -> None:
        def report(count: int) -> None:
            with lock:
                tokens[i] = count
                report_total(sum(tokens))

        try:
            release.wait()
            results[i] = engine.run_stream(config, rep, warmup, prompt=prompts[i], report=report)
        except BaseException as exc:  # reported below, from the runner's thread
            errors[i] = exc

    threads = [threading.Thread(target=stream, args=(i,), name=f"stream-{i + 1}", daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:  # each request has its own deadline (request_timeout_s): every join returns
        t.join()
    for i, exc in enumerate(errors):
        if isinstance(exc, EngineError):
            raise EngineError(f"stream {i + 1} of {n}: {exc}") from None
        if exc is not None:
            raise exc
    return union([r for r in results if r is not None])


def union(streams: list[RepResult]) -> RepResult:
    """One repetition of several streams: first start, first token and last end of any, every
    token produced; each stream's own record under `streams`."""
    first = streams[0]
    prompts = {s.prompt_tokens for s in streams}
    extra: dict[str, Any] = {"streams": len(streams)}
    if len(prompts) > 1:
        extra["prompt_tokens_per_stream"] = [s.prompt_tokens for s in streams]
    return RepResult(
        prompt_tokens=first.prompt_tokens if len(prompts) == 1 else None,
        gen_tokens=sum(s.gen_tokens for s in streams),
        t_start=min(s.t_start for s in streams),
        t_first_token=min(s.t_first_token for s in streams),
        t_end=max(s.t_end for s in streams),
        timing_source=", ".join(sorted({s.timing_source for s in streams})),
        text=first.text, extra=extra,
        first_token_count=sum(s.first_token_count for s in streams),
        streams=[s.to_dict() for s in streams],
    )
