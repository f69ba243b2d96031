"""Every model this machine can benchmark: the bundled models and GGUF files found on disk
(models.discover) and, where an Ollama server answers, the server's own models (/api/tags).
One catalogue for `edgetui models` and the console's profile builder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui.engines.base import EngineError
from edgetui.engines.httpclient import HttpServer
from edgetui.models.discover import FoundModel, discover

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_TIMEOUT_S = 1.0  # a local server answers /api/tags in milliseconds; nobody waits on one that is not there
MAX_SERVER_MODELS = 10_000
_PARAM_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\s*$", re.I)
_UNITS = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


@dataclass
class Catalogue:
    models: list[FoundModel] = field(default_factory=list)
    server: str | None = None  # the Ollama server asked
    server_problem: str | None = None  # why it gave no list (none there, refused, not Ollama)

    def to_dict(self) -> dict[str, Any]:
        return {"models": [m.to_dict() for m in self.models],
                "ollama": {"url": self.server, "problem": self.server_problem}}


def parameter_count(text: Any) -> int | None:
    """Ollama's details.parameter_size ("494.03M", "3.2B") as a count."""
    if not isinstance(text, str):
        return None
    m = _PARAM_SIZE.match(text)
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()]) if m else None


def _short(v: Any, n: int = 200) -> str | None:
    return v[:n] if isinstance(v, str) and v else None


def ollama_models(url: str = DEFAULT_OLLAMA_URL, timeout_s: float = OLLAMA_TIMEOUT_S) -> list[FoundModel]:
    """The server's models from GET /api/tags; EngineError when it does not answer as Ollama does."""
    server = HttpServer(url, timeout_s, request_timeout_s=max(timeout_s * 3, 2.0))
    tags = server.json("GET", "/api/tags")
    listed = tags.get("models") if isinstance(tags, dict) else None
    if not isinstance(listed, list):
        raise EngineError(f"{server.url}/api/tags answered without a models list")
    out = []
    for m in listed[:MAX_SERVER_MODELS]:
        if not isinstance(m, dict):
            continue
        name = _short(m.get("name")) or _short(m.get("model"))
        if name is None:
            continue
        raw_details = m.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        size = m.get("size")
        out.append(FoundModel(
            source="ollama", name=name, where=server.url,
            size_bytes=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
            quant=_short(details.get("quantization_level"), 20), architecture=_short(details.get("family"), 40),
            n_params=parameter_count(details.get("parameter_size"))))
    return out


def catalogue(folders: list[tuple[str, Path]] | None = None, *, ollama_url: str | None = DEFAULT_OLLAMA_URL,
              timeout_s: float = OLLAMA_TIMEOUT_S) -> Catalogue:
    """Bundled models, the GGUF files found (models.discover), then the Ollama server's models
    (ollama_url None: none asked). A server that is absent or answers wrongly is a note, not a failure."""
    cat = Catalogue(models=discover(folders), server=ollama_url)
    if ollama_url:
        try:
            cat.models += ollama_models(ollama_url, timeout_s)
        except EngineError as exc:
            cat.server_problem = str(exc)
    return cat
