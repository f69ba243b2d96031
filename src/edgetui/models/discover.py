"""GGUF files already on this machine: the bundled models, ./models, ~/models, the folders of
$EDGETUI_MODEL_DIRS and the Hugging Face cache, each described from its own header (gguf.py).

Nothing is downloaded and nothing is loaded: a header is read, and a file that is not GGUF, is
truncated or cannot be read is listed with the reason instead of its facts.

The Hugging Face cache is walked by its documented layout (hub/models--ORG--NAME/snapshots/
REVISION/FILE, each file a link into blobs/) rather than with huggingface_hub's scan_cache_dir:
that package brings ten dependencies (an HTTP client, a native transfer library) to list a
folder."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgetui.errors import UserError
from edgetui.models import BUNDLED, bundled_path, gguf

MAX_DEPTH = 4  # folders below a model folder that are searched (a models/ORG/NAME/ tree fits)
MAX_FILES = 2000  # per folder: a home folder named by mistake is not read to its end


@dataclass(frozen=True)
class FoundModel:
    """One model this machine has: a GGUF file's facts from its header, or why they are missing."""

    source: str  # "bundled", "folder", "hf-cache" or "ollama"
    name: str  # the bundled name, the file's name, ORG/NAME/FILE in the Hugging Face cache, a server's tag
    where: str  # the folder searched, the cache, or the server's URL
    path: str | None = None
    size_bytes: int | None = None
    quant: str | None = None
    architecture: str | None = None
    n_params: int | None = None
    problem: str | None = None  # why the header could not be read
    note: str | None = None  # e.g. a bundled model not fetched yet

    @property
    def usable(self) -> bool:
        return self.problem is None and (self.path is not None or self.source == "ollama")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hf_hub_cache(env: Mapping[str, str], home: Path) -> Path:
    """The Hugging Face hub cache, where huggingface_hub puts it: $HF_HUB_CACHE, else $HF_HOME/hub,
    else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub."""
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else home / ".cache"
    return xdg / "huggingface" / "hub"


def search_folders(env: Mapping[str, str] | None = None, home: Path | None = None,
                   cwd: Path | None = None) -> list[tuple[str, Path]]:
    """(source, folder) in the order searched: ./models, ~/models, $EDGETUI_MODEL_DIRS
    (colon-separated), the Hugging Face cache."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    cwd = Path.cwd() if cwd is None else cwd
    out = [("folder", cwd / "models"), ("folder", home / "models")]
    out += [("folder", Path(d).expanduser()) for d in env.get("EDGETUI_MODEL_DIRS", "").split(":") if d.strip()]
    out.append(("hf-cache", hf_hub_cache(env, home)))
    seen: set[Path] = set()
    unique = []
    for source, folder in out:
        key = folder.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((source, folder))
    return unique


def describe_file(path: Path, *, source: str, where: str, name: str | None = None) -> FoundModel:
    """A file's facts from its GGUF header, or the reason they cannot be read."""
    base = FoundModel(source=source, name=name or path.name, where=where, path=str(path))
    try:
        size = path.stat().st_size
    except OSError as exc:
        return _replace(base, problem=f"cannot read: {exc.strerror or exc}")
    try:
        info = gguf.read_info(path)
    except UserError as exc:
        return _replace(base, size_bytes=size, problem=exc.message)
    except (OSError, ValueError, OverflowError, struct.error, MemoryError) as exc:  # a hostile header
        return _replace(base, size_bytes=size, problem=f"unreadable GGUF header ({type(exc).__name__}: {exc})")
    arch = info.architecture
    return _replace(base, size_bytes=size, quant=info.quant or gguf.quant_from_name(path),
                    architecture=str(arch)[:40] if arch is not None else None, n_params=info.n_params or None)


def _replace(m: FoundModel, **changes: Any) -> FoundModel:
    return FoundModel(**{**asdict(m), **changes})


def _gguf_files(folder: Path, depth: int = 0) -> Iterator[Path]:
    """*.gguf files under folder (any case), sorted, hidden folders and linked folders skipped."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir() and not e.is_symlink():
                if depth < MAX_DEPTH:
                    yield from _gguf_files(e, depth + 1)
            elif e.name.lower().endswith(".gguf") and (e.is_file() or e.is_symlink()):
                yield e  # a link to a missing blob (a download cut short) is listed with its reason
        except OSError:
            continue


def folder_models(folder: Path) -> list[FoundModel]:
    out = []
    for i, path in enumerate(_gguf_files(folder)):
        if i >= MAX_FILES:
            break
        out.append(describe_file(path, source="folder", where=str(folder), name=str(path.relative_to(folder))))
    return out


def hf_cache_models(hub: Path) -> list[FoundModel]:
    """GGUF files of the Hugging Face cache: hub/models--ORG--NAME/snapshots/REVISION/**.gguf, named
    ORG/NAME/FILE (the revision added where one repository holds the same file at several)."""
    out: list[FoundModel] = []
    try:
        repos = sorted(d for d in hub.iterdir() if d.name.startswith("models--") and d.is_dir())
    except OSError:
        return out
    for repo_dir in repos:
        repo = repo_dir.name[len("models--"):].replace("--", "/")
        snapshots = repo_dir / "snapshots"
        try:
            revisions = sorted(d for d in snapshots.iterdir() if d.is_dir())
        except OSError:
            continue
        by_file: dict[str, list[tuple[str, Path]]] = {}
        for rev in revisions:
            for i, path in enumerate(_gguf_files(rev)):
                if i >= MAX_FILES:
                    break
                by_file.setdefault(str(path.relative_to(rev)), []).append((rev.name, path))
        for rel, found in by_file.items():
            for rev_name, path in found:
                name = f"{repo}/{rel}" + (f"@{rev_name[:8]}" if len(found) > 1 else "")
                out.append(describe_file(path, source="hf-cache", where=str(hub), name=name))
    return out


def bundled_models() -> list[FoundModel]:
    out = []
    for name, model in BUNDLED.items():
        path = bundled_path(name)
        if path.is_file():
            out.append(describe_file(path, source="bundled", where=str(path.parent), name=name))
        else:
            out.append(FoundModel(source="bundled", name=name, where=str(path.parent),
                                  note=f"not fetched yet: edgetui models fetch {name} ({model.description})"))
    return out


def discover(folders: list[tuple[str, Path]] | None = None, *, bundled: bool = True) -> list[FoundModel]:
    """The bundled models first, then every GGUF file of the folders (search_folders() by default),
    each file once (a bundled file, or one reached through two folders, is listed where first seen)."""
    found = bundled_models() if bundled else []
    seen = {_key(m.path) for m in found if m.path}
    for source, folder in search_folders() if folders is None else folders:
        for m in hf_cache_models(folder) if source == "hf-cache" else folder_models(folder):
            key = _key(m.path)
            if key not in seen:
                seen.add(key)
                found.append(m)
    return found


def _key(path: str | None) -> str:
    try:
        return str(Path(path or "").resolve())
    except (OSError, RuntimeError):
        return str(path)


def size_text(n: int) -> str:
    """4 KB, 98 MB, 1.9 GB."""
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.0f} MB"
    return f"{max(n, 0) / 1e3:.0f} KB"


def format_params(n: int | None) -> str:
    """135M, 1.5B: as model names say it."""
    if not n:
        return "-"
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            v = n / div
            return f"{v:.0f}{unit}" if v >= 10 else f"{v:.1f}{unit}"
    return str(n)
