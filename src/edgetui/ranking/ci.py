"""The 95% half-width of each row's mean figure: `mean ± ci95` on the results screen and in
`edgetui rank`.

A results column `<x>_ci95` is read where the results have it; else it is computed from the
row's `<x>_std` and `repetitions` (edgetui.stats.ci95_half_width_of: t(0.975, n-1) sd / sqrt(n)).
None (never 0) where neither is known or the row has one repetition.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from edgetui.ranking.criteria import CRITERIA
from edgetui.stats import ci95_half_width_of


def base_name(column: str) -> str:
    """decode_tps_mean -> decode_tps; energy_j_per_token stays as it is."""
    return column[: -len("_mean")] if column.endswith("_mean") else column


def ci95_sources(key: str) -> tuple[str, str]:
    """The (half-width column, standard-deviation column) a criterion's interval is read from."""
    base = base_name(CRITERIA[key].column)
    return f"{base}_ci95", f"{base}_std"


def ci95_columns(key: str) -> tuple[str, ...]:
    """The results columns a criterion's interval needs (to load them)."""
    return (*ci95_sources(key), "repetitions")


def ci95_of(df: pl.DataFrame, key: str) -> pl.Series:
    """Per row of df, the half-width of criterion `key`'s mean (null where none is known)."""
    ci_col, std_col = ci95_sources(key)
    name = f"ci95_{key}"
    computed = _from_std(df, std_col, name)
    if ci_col not in df.columns:
        return computed
    # the recorded half-width where a row has one; older rows (no such column then) from their spread
    return df[ci_col].cast(pl.Float64).fill_nan(None).fill_null(computed).alias(name)


def _from_std(df: pl.DataFrame, std_col: str, name: str) -> pl.Series:
    if std_col not in df.columns or "repetitions" not in df.columns:
        return pl.repeat(None, df.height, dtype=pl.Float64, eager=True).alias(name)
    sd = df[std_col].cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64)
    n = df["repetitions"].cast(pl.Float64).fill_null(0).to_numpy()
    out = np.full(df.height, np.nan)
    for count in np.unique(n[n >= 2]):  # one t quantile per repetition count, not per row
        at = n == count
        factor = ci95_half_width_of(1.0, int(count))
        if factor is not None:
            out[at] = factor * sd[at]
    return pl.Series(name, out).fill_nan(None)


def has_spread(key: str) -> bool:
    """Whether a criterion is a mean over repetitions (its interval can be known)."""
    return CRITERIA[key].column.endswith("_mean") and key != "power_w"
