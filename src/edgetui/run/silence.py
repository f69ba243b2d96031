"""How long the inference child may say nothing before it is taken for hung.

The child reports progress while it works (every few decoded tokens, every quality window) and
answers each command; only a prefill and a model load are silent for long. A child that stays
silent far past the slowest real pace (REQUEST_FLOOR_TPS, a 7B model on a Raspberry Pi 4 being
about twice as fast) is stopped and its configuration fails, so the queue on an unattended board
never waits forever. Server engines bound their own requests (engines.server); this is the
runner's guard around every engine."""

from __future__ import annotations

from edgetui.engines.server import request_timeout_s
from edgetui.profiles.plan import Configuration
from edgetui.profiles.schema import REQUEST_FLOOR_TPS

LOAD_SILENCE_S = 1800.0  # a large model read from a slow SD card and mapped: minutes, never half an hour
MARGIN_S = 60.0  # past the engine's own deadline, so the engine's clearer reason comes first


def repetition_limit_s(c: Configuration) -> float:
    """A repetition: the context fill and the prompt at the floor pace (prefill reports nothing
    until its end), the wait for a first answer, and the generation; never less than a server
    engine's whole-request deadline."""
    prompt = c.prompt_tokens if c.prompt_tokens is not None else len(c.prompt or "")  # text: more chars than tokens
    tokens = c.n_depth + prompt + c.gen_tokens
    return max(c.engine_timeout_s + tokens / REQUEST_FLOOR_TPS, request_timeout_s(c)) + MARGIN_S


def quality_limit_s(n_ctx: int, *, loads: bool = False) -> float:
    """A quality pass reports each evaluation window of n_ctx tokens; a reference pass loads its
    model first."""
    return (LOAD_SILENCE_S if loads else 0.0) + n_ctx / REQUEST_FLOOR_TPS + MARGIN_S
