"""Which engine class serves a profile's [engine] kind: the one place that knows every engine,
so the base class never imports its subclasses. Each is imported only when asked for (a
board without llama-cpp-python can still drive a server)."""

from __future__ import annotations

import importlib

from edgetui.engines.base import Engine, EngineError

ENGINES = {
    "llama_cpp": ("edgetui.engines.llama_cpp", "LlamaCppEngine"),
    "ollama": ("edgetui.engines.ollama", "OllamaEngine"),
    "openai": ("edgetui.engines.openai_compat", "OpenAIEngine"),
    "stackflow": ("edgetui.engines.stackflow", "StackFlowEngine"),
}


def engine_class(kind: str) -> type[Engine]:
    """The engine for a profile's [engine] kind."""
    try:
        module, name = ENGINES[kind]
    except KeyError:
        raise EngineError(f'unknown engine "{kind}" (known: {", ".join(ENGINES)})') from None
    try:
        cls: type[Engine] = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise EngineError(f'engine "{kind}" is not available in this build: {exc}') from None
    return cls
