"""Summary statistics over repetitions, with missing values kept missing."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def clean(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None]


def mean(values: Iterable[float | None]) -> float | None:
    vs = clean(values)
    return statistics.fmean(vs) if vs else None


def std(values: Iterable[float | None]) -> float | None:
    """Sample standard deviation (n-1); None with fewer than two values."""
    vs = clean(values)
    return statistics.stdev(vs) if len(vs) >= 2 else None


def maximum(values: Iterable[float | None]) -> float | None:
    vs = clean(values)
    return max(vs) if vs else None


def rel_diff(a: float | None, b: float | None) -> float | None:
    """|a - b| / a, or None when either is missing or a is zero."""
    if a is None or b is None or a == 0:
        return None
    return abs(a - b) / abs(a)


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the two nearest ranks (numpy's default method);
    None when there are no values."""
    vs = sorted(clean(values))
    if not vs:
        return None
    pos = (len(vs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(vs) - 1)
    return vs[lo] + (vs[hi] - vs[lo]) * (pos - lo)


def t_quantile_975(df: float) -> float:
    """Student t's 97.5th percentile with df degrees of freedom (two-sided 95%)."""
    from scipy.stats import t  # imported on first use: scipy is slow to import and most commands never need it

    return float(t.ppf(0.975, df))


def ci95_half_width_of(sd: float | None, n: int | None) -> float | None:
    """The 95% half-width of a mean from its sample deviation and count: t(0.975, n-1) * sd / sqrt(n).
    None (never 0) with fewer than two values or no deviation (STATISTICS.md, interval of a mean)."""
    if sd is None or n is None or n < 2:
        return None
    return t_quantile_975(n - 1) * sd / (n ** 0.5)


def ci95_half_width(values: Iterable[float | None]) -> float | None:
    """The 95% half-width of the mean of these values (missing ones left out); None with fewer than two."""
    vs = clean(values)
    return ci95_half_width_of(std(vs), len(vs))
