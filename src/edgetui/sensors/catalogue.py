"""The board catalogue: names, sizes and prices of known boards, matched against the machine's
model string (/proc/device-tree/model or DMI). Volume feeds tokens/s per litre, price tokens/s
per dollar. A profile's [board] values always win over the catalogue's, field by field.

Figures are only what a source gives: the paper's boards carry its dimensions and prices; for
the others the vendor publishes a footprint but no height, and prices vary by memory size and
seller, so those stay empty (n/a) until a profile gives them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgetui.sensors.base import read_text

if TYPE_CHECKING:
    from edgetui.profiles.schema import BoardSpec

PAPER = "Renney et al., arXiv 2604.24785, Table 1"


@dataclass(frozen=True)
class BoardEntry:
    key: str
    name: str
    patterns: tuple[str, ...]  # regexes searched in the lower-cased model string
    dimensions_mm: tuple[float, float, float] | None = None  # length, width, height
    footprint_mm: tuple[float, float] | None = None  # when only length and width are published
    price_usd: float | None = None
    source: str = ""
    memory_gb: int | None = None  # the price is for this memory size: match only a machine that has it
    accelerator: str | None = None  # match only when this accelerator is detected (e.g. HAILO10H)

    @property
    def volume_cm3(self) -> float | None:
        if self.dimensions_mm is None:
            return None
        a, b, c = self.dimensions_mm
        return a * b * c / 1000.0


# Most specific first: the first entry that matches wins.
CATALOGUE: tuple[BoardEntry, ...] = (
    BoardEntry("m5stack-llm", "M5Stack LLM Module (AX630C)", (r"m5stack.*llm", r"\bax630c\b"),
               (54, 54, 13), price_usd=99.90, source=PAPER),
    BoardEntry("rpi5-ai-hat2", "Raspberry Pi 5 8 GB + AI HAT+ 2 (Hailo-10H)", (r"raspberry pi 5\b",),
               (85, 56, 20), price_usd=451.83, source=PAPER, memory_gb=8, accelerator="HAILO10H"),
    BoardEntry("rpi5-8gb", "Raspberry Pi 5 8 GB", (r"raspberry pi 5\b",),
               (85, 56, 17), price_usd=222.75, source=PAPER, memory_gb=8),
    BoardEntry("rpi5", "Raspberry Pi 5", (r"raspberry pi 5\b",), (85, 56, 17),
               source=f"dimensions: {PAPER}; the price depends on the memory size: give [board] price_usd"),
    BoardEntry("jetson-orin-nano-devkit", "Jetson Orin Nano Super Developer Kit (8 GB)",
               (r"jetson orin nano.*developer kit",), (100, 79, 21), price_usd=304.78, source=PAPER, memory_gb=8),
    BoardEntry("jetson-orin-nx", "Jetson Orin NX", (r"orin nx",), footprint_mm=(69.6, 45),
               source="NVIDIA module footprint; height depends on carrier and cooler: give [board] dimensions_mm"),
    BoardEntry("jetson-agx-orin-devkit", "Jetson AGX Orin Developer Kit", (r"agx orin",), (110, 110, 71.65),
               source="NVIDIA developer kit specification (height with feet and thermal solution); "
                      "the price depends on the memory size: give [board] price_usd"),
    BoardEntry("orange-pi-5", "Orange Pi 5", (r"^orange ?pi ?5$",), footprint_mm=(100, 62),
               source="Orange Pi footprint; no published height: give [board] dimensions_mm"),
    BoardEntry("rock-5b", "Radxa ROCK 5B", (r"rock ?5 ?(b|model b)\b(?!\s*(\+|plus))",), footprint_mm=(100, 72),
               source="Radxa footprint (Pico-ITX); no published height: give [board] dimensions_mm"),
)


@dataclass
class BoardFacts:
    """What results record about the board, and where each figure came from."""

    name: str | None = None
    model: str | None = None  # the machine's model string
    entry: str | None = None  # catalogue key matched, if any
    matched_by: str | None = None  # "profile name", "model string", or None
    volume_cm3: float | None = None
    price_usd: float | None = None
    sources: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line for `edgetui sensors`."""
        if self.entry is None:
            return f"{self.model or 'unknown model'} (not in the catalogue: give [board] name, dimensions_mm, price_usd)"
        vol = f"{self.volume_cm3:.1f} cm^3" if self.volume_cm3 is not None else "volume n/a"
        price = f"${self.price_usd:.2f}" if self.price_usd is not None else "price n/a"
        return f"{self.name} [{self.entry}, by {self.matched_by}]: {vol}, {price} ({self.note})"


def memory_gib(root: Path = Path("/")) -> float | None:
    for line in (read_text(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            try:
                return int(line.split()[1]) / 2**20  # kB -> GiB
            except (IndexError, ValueError):
                return None
    return None


def _memory_fits(entry: BoardEntry, gib: float | None) -> bool:
    # MemTotal is below the nominal size (firmware, carve-outs): an 8 GB board shows 7.4-7.9 GiB.
    return entry.memory_gb is None or (gib is not None and entry.memory_gb * 0.85 < gib <= entry.memory_gb)


def by_name(name: str) -> BoardEntry | None:
    """The entry a profile names: its key or name exactly, else a pattern among the entries that
    need nothing detected (a named board may be remote, so this machine's memory says nothing)."""
    wanted = " ".join(name.split()).lower()
    exact = next((e for e in CATALOGUE if wanted in (e.key, e.name.lower())), None)
    if exact:
        return exact
    return next((e for e in CATALOGUE if e.memory_gb is None and e.accelerator is None
                 and any(re.search(p, wanted) for p in e.patterns)), None)


def engine_is_local(kind: str, url: str | None) -> bool:
    """Whether the benchmarked device is this machine (so its model string describes it)."""
    from edgetui.profiles.engines import capabilities

    if capabilities(kind).in_process or not url:
        return True
    import socket
    from urllib.parse import urlparse

    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", socket.gethostname().lower())


def match_model(model: str | None, *, memory: float | None = None, accelerators: Iterable[str] = ()) -> BoardEntry | None:
    """The first catalogue entry whose pattern, memory size and accelerator fit this machine."""
    if not model:
        return None
    text = " ".join(model.replace("\x00", " ").split()).lower()
    found = {a.upper() for a in accelerators}
    for e in CATALOGUE:
        if not any(re.search(p, text) for p in e.patterns):
            continue
        if e.accelerator and e.accelerator not in found:
            continue
        if _memory_fits(e, memory):
            return e
    return None


def resolve(spec: BoardSpec | None = None, model: str | None = None, *, root: Path = Path("/"),
            accelerators: Iterable[str] = ()) -> BoardFacts:
    """The board's name, volume and price: the profile's [board] (a BoardSpec) first, then the
    catalogue entry named by the profile or matched on the model string."""
    name = getattr(spec, "name", None)
    entry, how = (by_name(name), "profile name") if name else (None, None)
    if entry is None:
        entry, how = match_model(model, memory=memory_gib(root), accelerators=accelerators), "model string"
    facts = BoardFacts(name=name, model=model, entry=entry.key if entry else None,
                       matched_by=how if entry else None)
    for key, own in (("volume_cm3", getattr(spec, "volume_cm3", None)), ("price_usd", getattr(spec, "price_usd", None))):
        from_entry = getattr(entry, key, None) if entry else None
        value = own if own is not None else from_entry
        setattr(facts, key, value)
        if own is not None:
            facts.sources[key] = "profile"
        elif entry is not None and from_entry is not None:
            facts.sources[key] = f"catalogue:{entry.key}"
    if entry:
        facts.name = name or entry.name
        facts.note = entry.source
        if entry.footprint_mm and facts.volume_cm3 is None:
            facts.note += f"; footprint {entry.footprint_mm[0]:g} x {entry.footprint_mm[1]:g} mm"
    return facts
