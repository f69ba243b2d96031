"""Engines that drive an inference server over the network (Ollama, Hailo-Ollama,
OpenAI-compatible servers over HTTP, M5Stack StackFlow over TCP): what they share, whatever the
wire (engines/httpclient.py speaks HTTP, engines/streams.py bounds every read).

- The workload: an exact prompt length in tokens is found by asking the server how it
  counts candidate prompts (a one-token request each), then verified on every repetition.
- Prefix caches: servers reuse the KV cache of a prompt prefix they saw before, which
  would turn a repeated prompt into no prefill at all. Each repetition's prompt therefore
  starts with its own short tag ("[001] "), recorded with the result.
- A server that misbehaves fails one configuration, never the queue: each request has a deadline
  besides the per-read timeout (request_timeout_s, by default timeout_s plus gen_tokens at a floor
  rate), and a stream is read no further than the tokens asked for plus a few messages for its
  final statistics (StreamBudget)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from edgetui.engines.base import PROGRESS_PERIOD_S, Emit, Engine, EngineError, RepResult
from edgetui.engines.concurrent import run_streams
from edgetui.engines.prompt import PROMPT_TEXT
from edgetui.profiles.plan import Configuration
from edgetui.profiles.schema import REQUEST_FLOOR_TPS

MAX_FIT_TRIES = 10
TAG_RE = re.compile(r"\[\d{3}\] ")  # what next_tag() puts before each prompt
TAG_CHARS = 6
FILLERS = (" a", " and so", " and so on")  # one, two, three words to close a gap
# Messages a stream may send after its last asked-for token: its final chunk, a usage chunk, an
# end marker, a keep-alive or two. Past these, the server is generating tokens nobody asked for.
OVERRUN_MARGIN = 8


def request_timeout_s(config: Configuration) -> float:
    """The longest one whole request may take: the profile's request_timeout_s, else timeout_s (the
    wait for a first answer, prefill included) plus gen_tokens at REQUEST_FLOOR_TPS, slower than any
    board worth measuring, so that only a server that never finishes reaches it."""
    if config.engine_request_timeout_s is not None:
        return config.engine_request_timeout_s
    return config.engine_timeout_s + config.gen_tokens / REQUEST_FLOOR_TPS


class StreamBudget:
    """How far a stream is read: until the tokens asked for have arrived, then OVERRUN_MARGIN more
    messages for the final statistics, then no further.

    A server that goes on past that margin ignored the limit it was sent (num_predict,
    max_tokens, StackFlow's pause), and the configuration fails with that reason rather than
    keeping the counted figures: the server's own statistics (eval_count/eval_duration, usage,
    timings) come only in its final chunk, after the tokens nobody asked for or never, and would
    time a different workload than the configuration's; a chunk count is not a token count
    (servers merge tokens into chunks), so the wall clock cannot cut the stream at exactly
    gen_tokens either. A server that overruns within the margin and then sends its statistics
    is kept: those statistics count and time the same tokens, and the overrun is noted in the
    repetition's record (overrun_note)."""

    def __init__(self, asked: int, limit_name: str) -> None:
        self.asked = asked
        self.limit_name = limit_name
        self.past = -1  # messages since the asked-for tokens arrived (-1: not yet)

    def message(self, chunks: int) -> None:
        """After each message of the stream, with the content chunks counted so far."""
        if chunks < self.asked:
            return
        self.past += 1
        if self.past > OVERRUN_MARGIN:
            raise EngineError(f"server ignored {self.limit_name}: sent {chunks} chunks for {self.asked} tokens "
                              f"and had not finished {OVERRUN_MARGIN} messages later (request closed)")

    def overrun_note(self, chunks: int) -> str | None:
        if chunks <= self.asked:
            return None
        return f"server ignored {self.limit_name}: sent {chunks} chunks for {self.asked} tokens"


class ServerEngine(Engine):
    """An engine whose model runs in a server: the worker process only sends and times requests."""

    def __init__(self, config: Configuration, model_path: str | None, emit: Emit) -> None:
        super().__init__(config, model_path, emit)
        if not config.engine_url:
            raise EngineError(f'the "{config.engine}" engine needs [engine] url')
        if not config.model_name:
            raise EngineError(f'the "{config.engine}" engine needs the server\'s model name ([[models]] name)')
        self.url: str = config.engine_url
        self.model_name = config.model_name
        self.emit = locked(emit)  # streams in flight at once report from threads of their own
        self.timeout_s = config.engine_timeout_s
        self.request_timeout_s = request_timeout_s(config)
        self._tag_counter = 0
        self._fitted: dict[int, tuple[str, int]] = {}  # prompt_tokens -> (body text, tokens counted)

    # ------------------------------------------------------------ the workload
    def next_tag(self) -> str:
        """A fixed-width tag that differs between requests, so no server can reuse a cached prefix."""
        self._tag_counter = self._tag_counter % 999 + 1
        return f"[{self._tag_counter:03d}] "

    def system_text(self, config: Configuration, text: str) -> str | None:
        """The system prompt of a request whose prompt is `text`, under the same tag: the tag must
        lead the whole sequence, or the server would reuse the system part from its prefix cache."""
        if config.system_prompt is None:
            return None
        tag = text[:TAG_CHARS] if TAG_RE.match(text) else ""
        return tag + config.system_prompt

    def count_prompt_tokens(self, text: str) -> int | None:
        """How many tokens the server prefills for this prompt text (None when it cannot tell)."""
        return None

    def prompt_for(self, config: Configuration) -> tuple[str, dict[str, Any]]:
        """This repetition's prompt text, and what to record about it."""
        tag = self.next_tag()
        if config.prompt is not None:
            return tag + config.prompt, {"prompt_prefix": tag}
        want = config.prompt_tokens or 1
        if want not in self._fitted:
            self._fitted[want] = self.fit_prompt(want)
        body, counted = self._fitted[want]
        note = {"prompt_prefix": tag, "prompt_tokens_asked": want}
        if counted != want:
            note["prompt_fit"] = f"the closest prompt found has {counted} tokens, not {want}"
        return tag + body, note

    def fit_prompt(self, want: int) -> tuple[str, int]:
        """A body text that, after a tag, the server counts as `want` prompt tokens (its template
        and special tokens included): words of a fixed text are added or removed until it does."""
        words = PROMPT_TEXT.split()
        tag = "[000] "

        def text_of(n: int) -> str:
            reps = n // len(words) + 1
            return " ".join((words * reps)[:n])

        n = max(want // 2, 1)
        best: tuple[int, str, int] | None = None  # (distance, text, count)
        seen: dict[int, int] = {}
        for _ in range(MAX_FIT_TRIES):
            text = text_of(n)
            got = self.count_prompt_tokens(tag + text)
            if got is None:
                raise EngineError(f"the server does not report prompt token counts, so a prompt of exactly "
                                  f"{want} tokens cannot be built: give [workload] prompt instead")
            seen[n] = got
            if best is None or abs(got - want) < best[0]:
                best = (abs(got - want), text, got)
            if got == want:
                break
            step = want - got
            nxt = max(n + (step if abs(step) > 1 else (1 if step > 0 else -1)), 0)
            if nxt in seen:  # one word more overshoots, one fewer undershoots
                break
            n = nxt
        assert best is not None
        under = [k for k, c in seen.items() if c < want]
        if best[0] and under:
            # Between two word counts: fill up with short words, most tokenizers' single tokens.
            base = text_of(max(under, key=lambda k: seen[k]))
            for filler in FILLERS:
                got = self.count_prompt_tokens(tag + base + filler)
                if got is not None and abs(got - want) < best[0]:
                    best = (abs(got - want), base + filler, got)
                if got == want:
                    break
        return best[1], best[2]

    # ------------------------------------------------------------ one repetition
    def run_once(self, config: Configuration, rep: int, warmup: bool) -> RepResult:
        if config.concurrency > 1:
            return run_streams(self, config, rep, warmup)
        return self.run_stream(config, rep, warmup)

    def run_stream(self, config: Configuration, rep: int, warmup: bool, *,
                   prompt: tuple[str, dict[str, Any]] | None = None,
                   report: Callable[[int], None] | None = None) -> RepResult:
        """One request and its stream; prompt (from prompt_for) and report (progress) are given
        when it is one of several in flight."""
        raise NotImplementedError(f"the {self.kind} engine runs one stream per repetition")

    # ------------------------------------------------------------ progress
    def progress_reporter(self, config: Configuration, rep: int, warmup: bool) -> Callable[[int], None]:
        """Report decode progress at most every PROGRESS_PERIOD_S (for the live tokens/s pane)."""
        next_at = [0.0]

        def report(tokens: int) -> None:
            now = time.monotonic()
            if now >= next_at[0]:
                self.progress(config, rep, warmup, "decode", tokens)
                next_at[0] = now + PROGRESS_PERIOD_S

        return report


def locked(emit: Emit) -> Emit:
    lock = threading.Lock()

    def emit_one(ev: dict[str, Any]) -> None:
        with lock:
            emit(ev)

    return emit_one


def offsets_ms(times: list[float], t_start: float) -> list[float]:
    """Monotonic arrival times as ms after the request (the token times of a repetition)."""
    return [round((t - t_start) * 1000.0, 4) for t in times]


def ns_to_ms(value: Any) -> float | None:
    return value / 1e6 if isinstance(value, (int, float)) and not isinstance(value, bool) else None

