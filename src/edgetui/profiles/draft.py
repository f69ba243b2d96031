"""A profile as the console's builder edits it: the fields it offers, turned into TOML (tomli-w)
and checked by the same schema as any profile file before it is written.

The builder writes only files it made (their first line says so). A profile written by hand or
shipped with edgetui is saved as a copy: tomli-w would drop its comments."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from edgetui.errors import UserError
from edgetui.profiles.engines import in_process
from edgetui.profiles.schema import Profile, default_threads, parse_profile
from edgetui.tomlread import tomllib

MARK = "# made with edgetui's profile builder (n on the queue screen); e there edits it again"
PAPER_PROMPT = "Q: Why is the sky blue?\nA:"  # what the paper's benchmark.py sent (profiles/paper/)
PAPER_GEN = 100
LLAMA_BENCH = (512, 128)  # llama-bench's default tests: pp512 and tg128
PRESETS = ("llama-bench", "paper", "custom")


def default_thread_values(cores: int | None = None) -> list[int]:
    """1, 2, 4... up to all physical cores (the last always included): a sweep that shows the
    scaling without a run per core count on a 16-core machine."""
    cores = cores or default_threads()
    out, n = [], 1
    while n < cores:
        out.append(n)
        n *= 2
    return out + [cores]


@dataclass(frozen=True)
class ModelChoice:
    """One model picked: a bundled name, a GGUF path, or a server's model name."""

    name: str | None = None
    path: str | None = None
    label: str | None = None

    def to_toml(self) -> dict[str, str]:
        d = {"name": self.name} if self.name else {}
        if self.path:
            d["path"] = self.path
        if self.label:
            d["label"] = self.label
        return d


def values_of(text: str) -> list[Any]:
    """'1 2, 4' -> [1, 2, 4]: whole numbers as integers, anything else as it was typed (the schema
    then says what it expected)."""
    out: list[Any] = []
    for tok in text.replace(",", " ").split():
        try:
            out.append(int(tok))
        except ValueError:
            out.append(tok)
    return out


def one_value(text: str) -> Any:
    vals = values_of(text)
    return vals[0] if len(vals) == 1 else text.strip()


@dataclass
class Draft:
    name: str = ""
    models: list[ModelChoice] = field(default_factory=list)
    threads: str = ""
    quant: str = "source"
    n_ctx: str = "2048"
    preset: str = "llama-bench"
    prompt_tokens: str = str(LLAMA_BENCH[0])
    gen_tokens: str = str(LLAMA_BENCH[1])
    repetitions: str = "3"
    quality: bool = False
    engine: str = "llama_cpp"  # or "ollama URL", "openai URL", or a URL (Ollama's)
    base: dict[str, Any] = field(default_factory=dict)  # an edited profile's other keys, kept as they were

    @classmethod
    def new(cls) -> Draft:
        return cls(threads=" ".join(str(t) for t in default_thread_values()))

    def engine_kind_url(self) -> tuple[str, str | None]:
        parts = self.engine.split()
        if not parts:
            return "llama_cpp", None
        if parts[0].startswith(("http://", "https://")):
            return "ollama", parts[0]
        return parts[0], (parts[1] if len(parts) > 1 else None)

    def to_toml(self) -> dict[str, Any]:
        """The profile as a TOML table: the base's keys, with the builder's own replaced."""
        d: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.base.items()}
        d["name"] = self.name.strip()
        d["repetitions"] = one_value(self.repetitions)
        kind, url = self.engine_kind_url()
        engine = d.setdefault("engine", {})
        engine["kind"] = kind
        if url:
            engine["url"] = url
        else:
            engine.pop("url", None)
        sweep = d.setdefault("sweep", {})
        for key, text in (("n_threads", self.threads), ("quant", self.quant), ("n_ctx", self.n_ctx)):
            vals = values_of(text)
            if vals:
                sweep[key] = vals if len(vals) > 1 else vals[0]  # one value reads as one
            else:
                sweep.pop(key, None)  # the schema's default (all cores; a server's own choice)
        workload = d.setdefault("workload", {})
        if self.preset == "paper":
            workload.pop("prompt_tokens", None)
            workload["prompt"] = PAPER_PROMPT
        elif values_of(self.prompt_tokens):
            workload.pop("prompt", None)
            workload["prompt_tokens"] = _axis(values_of(self.prompt_tokens))
        # else: an edited profile's own prompt text stays (or the schema's default length)
        workload["gen_tokens"] = _axis(values_of(self.gen_tokens))
        if self.quality:
            d.setdefault("quality", {})
        else:
            d.pop("quality", None)
        d["models"] = [m.to_toml() for m in self.models]
        # tomli-w writes plain keys before tables: put the tables last in a readable order
        order = ["board", "power", "engine", "models", "sweep", "workload", "quality"]
        out = {k: v for k, v in d.items() if k not in order}
        for k in order:  # an empty [quality] is kept: the section present means a quality pass
            if k in d and (d[k] != {} or k == "quality"):
                out[k] = d[k]
        return out

    def toml_text(self) -> str:
        return MARK + "\n" + tomli_w.dumps(self.to_toml())

    def check(self, path: Path) -> Profile:
        """The profile the schema makes of this draft at path; UserError with its message otherwise."""
        if not self.name.strip():
            raise UserError("name: missing; required", where=str(path))
        text = self.toml_text()
        return parse_profile(tomllib.loads(text), path, text)

    def save(self, folder: Path, *, replacing: Path | None = None) -> tuple[Path, Profile]:
        """Write <name>.toml into folder after the schema accepted it; an existing file is replaced
        only when it is `replacing` (the builder's own file being edited)."""
        path = folder / f"{file_stem(self.name)}.toml"
        profile = self.check(path)
        if path.exists() and (replacing is None or path.resolve() != replacing.resolve()):
            raise UserError("a profile file of this name exists already: choose another name", where=str(path))
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.toml_text(), encoding="utf-8")
        os.replace(tmp, path)
        if replacing is not None and replacing.resolve() != path.resolve() and made_here(replacing):
            replacing.unlink()  # the builder's own file, renamed
        return path, profile


def _axis(vals: list[Any]) -> Any:
    return vals[0] if len(vals) == 1 else vals


def file_stem(name: str) -> str:
    """A profile name as a file name: letters, digits, '-', '_' and '.', the rest '-'."""
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name.strip()).strip(".-")
    return stem or "profile"


def made_here(path: Path) -> bool:
    """The file's first line is the builder's mark (it may be rewritten without losing anything)."""
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline().rstrip("\n") == MARK
    except (OSError, UnicodeDecodeError):
        return False


def _joined(values: Sequence[Any] | None) -> str:
    return " ".join(str(v) for v in values or ())


def draft_of(profile: Profile, *, copy: bool) -> Draft:
    """A draft of an existing profile; copy: under a new name (saved beside it, never over it)."""
    try:
        base = tomllib.loads(profile.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        base = {}
    # paths in the file are relative to its folder: the copy may be written elsewhere
    if isinstance(base.get("power"), dict) and profile.power.meter_csv:
        base["power"]["meter_csv"] = profile.power.meter_csv
    if isinstance(base.get("quality"), dict) and profile.quality is not None:
        for key in ("corpus", "reference"):
            if key in base["quality"]:
                base["quality"][key] = getattr(profile.quality, key)
    base.pop("models", None)
    if profile.prompt is not None and profile.prompt != PAPER_PROMPT:
        preset, ptok = "custom", ""
    else:
        preset = "paper" if profile.prompt == PAPER_PROMPT else (
            "llama-bench" if (profile.prompt_tokens, profile.gen_tokens) == ((LLAMA_BENCH[0],), (LLAMA_BENCH[1],))
            else "custom")
        ptok = _joined(profile.prompt_tokens)
    given = base.get("sweep") if isinstance(base.get("sweep"), dict) else {}
    kind = profile.engine.kind
    d = Draft(
        name=f"{profile.name}-copy" if copy else profile.name,
        models=[ModelChoice(name=m.name, path=m.path, label=m.label if m.label != (m.name or Path(m.path or "").stem)
                            else None) for m in profile.models],
        threads=_joined(profile.sweep.get("n_threads")) if "n_threads" in given or in_process(kind) else "",
        quant=_joined(profile.sweep.get("quant", ["source"])),
        n_ctx=_joined(profile.sweep.get("n_ctx")),
        preset=preset, prompt_tokens=ptok, gen_tokens=_joined(profile.gen_tokens),
        repetitions=str(profile.repetitions), quality=profile.quality is not None,
        engine=kind if in_process(kind) else f"{kind} {profile.engine.url}", base=base,
    )
    if profile.prompt is not None and preset == "custom":  # a prompt text the presets do not have: kept
        d.base.setdefault("workload", {})["prompt"] = profile.prompt
    return d


def with_preset(d: Draft, preset: str) -> Draft:
    if preset == "llama-bench":
        return replace(d, preset=preset, prompt_tokens=str(LLAMA_BENCH[0]), gen_tokens=str(LLAMA_BENCH[1]))
    if preset == "paper":
        return replace(d, preset=preset, prompt_tokens="", gen_tokens=str(PAPER_GEN))
    return replace(d, preset=preset)
