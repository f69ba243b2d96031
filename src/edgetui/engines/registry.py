"""Which engine class serves a profile's [engine] kind. The kinds, their modules and what each can
measure are declared in edgetui.profiles.engines (a layer below, so the schema can check profiles
against them); each class is imported only when asked for (a board without llama-cpp-python can
still drive a server)."""

from __future__ import annotations

import importlib

from edgetui.engines.base import Engine, EngineError
from edgetui.profiles.engines import KINDS


def engine_class(kind: str) -> type[Engine]:
    """The engine for a profile's [engine] kind."""
    try:
        declared = KINDS[kind]
    except KeyError:
        raise EngineError(f'unknown engine "{kind}" (known: {", ".join(KINDS)})') from None
    try:
        cls: type[Engine] = getattr(importlib.import_module(declared.module), declared.class_name)
    except ImportError as exc:
        raise EngineError(f'engine "{kind}" is not available in this build: {exc}') from None
    return cls
