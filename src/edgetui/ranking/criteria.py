"""The ranking's criteria (what can be weighted, its column, unit and direction), the weights
and the policies every Ranking states: the vocabulary that the ranking, its export, the trade-off
plot and the console share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from edgetui.errors import UserError, close_match_hint


@dataclass(frozen=True)
class Criterion:
    key: str
    column: str
    label: str
    unit: str
    higher_is_better: bool

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


CRITERIA: dict[str, Criterion] = {c.key: c for c in (
    Criterion("decode_tps", "decode_tps_mean", "decode", "tok/s", True),
    Criterion("prefill_tps", "prefill_tps_mean", "prefill", "tok/s", True),
    Criterion("ttft_ms", "ttft_ms_mean", "time to first token", "ms", False),
    Criterion("net_energy_j_per_token", "net_energy_j_per_token", "energy per token (net of idle)", "J/tok",
              False),
    Criterion("energy_j_per_token", "energy_j_per_token", "energy per token (gross)", "J/tok", False),
    Criterion("power_w", "power_w_mean", "mean power", "W", False),
    Criterion("tps_per_litre", "tps_per_litre", "decode per litre", "tok/s/L", True),
    Criterion("tps_per_usd", "tps_per_usd", "decode per dollar", "tok/s/USD", True),
    Criterion("rss_mb", "rss_mb_peak", "peak memory (RSS)", "MB", False),
    Criterion("temp_c", "temp_c_max", "peak temperature", "C", False),
    # the quality pass ([quality]): perplexity on the corpus, divergence from the reference
    Criterion("ppl", "quality_ppl", "perplexity", "ppl", False),
    Criterion("kld", "quality_kld_mean", "KL divergence from the reference", "nats", False),
    Criterion("top1", "quality_top1_agree", "top-1 agreement with the reference", "share", True),
    # soak runs ([workload] soak_s): the rate held once warm, and how far it fell from the cold one
    Criterion("sustained", "sustained_tps", "sustained decode (soak)", "tok/s", True),
    Criterion("drop", "tps_drop_pct", "decode drop (soak)", "%", False),
)}

# A results column name is accepted in place of its criterion key (decode_tps_mean=3).
_ALIASES: dict[str, str] = {c.column: c.key for c in CRITERIA.values()}

DEFAULT_WEIGHTS: dict[str, float] = {"decode_tps": 1.0}

NORMALISATION = ("min-max per criterion over the rows shown (after filters; failed rows left out unless "
                 "included), oriented so 1 is the best row and 0 the worst; a criterion with one distinct "
                 "value gives 1 to every row; score = weighted mean of the normalised criteria with weight > 0")

MISSING_POLICY = ("a missing value counts as the worst (0) for that criterion, never as a measured zero; "
                  "the row's `missing` column names it and the row is never marked Pareto-optimal; "
                  "energy per token net of idle falls back to gross energy per token where no idle "
                  "baseline was measured (energy_basis = gross)")


def criterion_key(name: str) -> str:
    """The criterion key for a key or its results column name; UserError otherwise."""
    name = name.strip()
    if name in CRITERIA:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    hint = close_match_hint(name, [*CRITERIA, *_ALIASES])
    raise UserError(f'unknown criterion "{name}"{hint}; valid criteria: {", ".join(CRITERIA)}',
                    where="--weights")


def parse_weights(text: str) -> dict[str, float]:
    """"decode_tps=3,net_energy_j_per_token=2" -> {"decode_tps": 3.0, "net_energy_j_per_token": 2.0}.

    Keys are criterion keys or their results column names; weights are finite numbers >= 0.
    A weight of 0 keeps the criterion listed but out of the score. Empty text -> UserError.
    """
    weights: dict[str, float] = {}
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise UserError("no weights given; expected e.g. decode_tps=3,net_energy_j_per_token=2",
                        where="--weights")
    for part in parts:
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise UserError(f'"{part}" is not CRITERION=WEIGHT (e.g. decode_tps=3)', where="--weights")
        key = criterion_key(name)
        try:
            w = float(value.strip())
        except ValueError:
            raise UserError(f'weight of {key} is not a number: "{value.strip()}"', where="--weights") from None
        _check_weight(key, w)
        if key in weights:
            raise UserError(f"{key} is given twice", where="--weights")
        weights[key] = w
    validate_weights(weights)
    return weights


def _check_weight(key: str, w: float) -> None:
    if math.isnan(w) or math.isinf(w):
        raise UserError(f"weight of {key} must be a finite number, not {w}", where="--weights")
    if w < 0:
        raise UserError(f"weight of {key} must be >= 0 (use a lower-is-better criterion instead of a "
                        f"negative weight), not {w}", where="--weights")


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Keys resolved to criterion keys, weights checked; at least one weight > 0."""
    out: dict[str, float] = {}
    for name, w in weights.items():
        key = criterion_key(name)
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise UserError(f"weight of {key} is not a number: {w!r}", where="--weights") from None
        _check_weight(key, w)
        out[key] = w
    if not any(w > 0 for w in out.values()):
        raise UserError("at least one criterion needs a weight above 0", where="--weights")
    return out


def selected_criteria(weights: Mapping[str, float]) -> list[str]:
    return [k for k in CRITERIA if weights.get(k, 0) > 0]


def format_weights(weights: Mapping[str, float]) -> str:
    """The --weights text that reproduces these weights (criteria order)."""
    return ",".join(f"{k}={weights[k]:g}" for k in CRITERIA if k in weights)
