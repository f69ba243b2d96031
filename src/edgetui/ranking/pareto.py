"""Pareto-optimal rows: a row is on the front when no other row is at least as good on every
selected criterion and better on one. An exact O(n log n) sweep for two criteria, a blocked
sort-filter skyline for more, and a small cache so that a weight change (same rows, same
criteria) reuses the front instead of computing it again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

_PARETO_CACHE_SIZE = 4
_pareto_cache: OrderedDict[tuple[str, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
_pareto_lock = threading.Lock()


def clear_pareto_cache() -> None:
    with _pareto_lock:
        _pareto_cache.clear()


def cached_pareto(keys: Sequence[str], higher_is_better: Sequence[bool], rows: np.ndarray,
                  values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The Pareto mask of these rows (increasing row numbers) on these criteria, as a function
    from row numbers (in any order) to the mask in that order.

    A weight change leaves the rows and the selected criteria as they were, so the front is
    reused: only when both the row numbers and every value are equal (an exact comparison,
    missing values included), never on a hash or on the frame's identity alone.
    """
    key = tuple(keys)
    with _pareto_lock:
        hit = _pareto_cache.get(key)
    mask = None
    if hit is not None:
        c_rows, c_values, c_mask = hit
        if np.array_equal(c_rows, rows) and np.array_equal(c_values, values, equal_nan=True):
            mask = c_mask
    if mask is None:
        mask = pareto_mask(values, higher_is_better)
        with _pareto_lock:
            _pareto_cache[key] = (rows, values, mask)
            _pareto_cache.move_to_end(key)
            while len(_pareto_cache) > _PARETO_CACHE_SIZE:
                _pareto_cache.popitem(last=False)

    def in_order(row_numbers: np.ndarray) -> np.ndarray:
        position = np.empty(int(rows[-1]) + 1 if rows.size else 0, dtype=np.int64)
        position[rows] = np.arange(rows.size)
        return mask[position[row_numbers]]

    return in_order


def pareto_mask(values: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """True for rows not dominated by any other row.

    values: n x k floats (NaN = missing). A row dominates another when it is at least as good
    on every criterion and strictly better on one. Rows with a missing value are never
    Pareto-optimal and dominate nothing (they cannot be compared). Identical rows do not
    dominate each other, so both stay on the front.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0 or values.ndim != 2 or values.shape[1] == 0:
        return mask
    complete = ~np.isnan(values).any(axis=1)
    # orient every criterion so that higher is better
    signs = np.array([1.0 if h else -1.0 for h in higher_is_better])
    if complete.all():
        complete_ids = None
        pts = values * signs
    else:
        complete_ids = np.flatnonzero(complete)
        if complete_ids.size == 0:
            return mask
        pts = values[complete_ids] * signs
    k = pts.shape[1]
    if k == 1:
        front = pts[:, 0] == pts[:, 0].max()
    elif k == 2:
        front = _pareto_2d(pts)
    else:
        front = _pareto_nd(pts)
    if complete_ids is None:
        return front
    mask[complete_ids[front]] = True
    return mask


def _pareto_2d(pts: np.ndarray) -> np.ndarray:
    """O(n log n): one sort by x (descending), then a sweep over groups of equal x.

    A row is on the front when its y is the best of its group (same x) and strictly better than
    every y seen at a larger x; anything else has a row at least as good on both and better on one.
    """
    x, y = pts[:, 0], pts[:, 1]
    order = np.argsort(-x)  # equal x are grouped below, so their order does not matter
    xs, ys = x[order], y[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group_best = np.maximum.reduceat(ys, starts)
    # the best y among all groups with a larger x (minus infinity for the first group)
    before = np.r_[-np.inf, np.maximum.accumulate(group_best)[:-1]]
    group_of = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, xs.size]))
    on_front = (ys == group_best[group_of]) & (group_best[group_of] > before[group_of])
    out = np.zeros(xs.size, dtype=bool)
    out[order] = on_front
    return out


def _pareto_nd(pts: np.ndarray, block: int = 32) -> np.ndarray:
    """Sort-filter skyline, in blocks, with column-wise numpy sweeps.

    Rows are visited best first by the sum of the logs of their approximate percentiles (a
    row's dominator never has a lower sum, so most dominated rows are removed by an earlier
    survivor before they are ever compared with each other). Each block is checked against itself; each of
    its survivors then removes every later row it dominates, so the remaining set shrinks fast.
    Removal only ever happens on an exact dominance test, so the candidates are a superset
    of the front; candidates with exactly equal sums are then checked against each other.
    """
    n, k = pts.shape
    total = np.zeros(n)
    step = max(1, n // 128)
    for c in range(k):
        # log of the approximate percentile (from a sorted sample of 128): a row with percentiles
        # p_1..p_k dominates about prod(p_j) of independent rows, so the largest sum of logs
        # removes the most rows first; any non-decreasing transform keeps dominators first
        sample = np.sort(pts[::step, c])
        total += np.log1p(np.searchsorted(sample, pts[:, c], side="right"))
    order = np.argsort(-total)  # equal sums are settled at the end
    rem = np.ascontiguousarray(pts[order].T)  # k x n: one contiguous array per criterion
    rem_ids = order
    cand: list[np.ndarray] = []
    while rem_ids.size:
        head, head_ids = rem[:, :block], rem_ids[:block]
        survivors = ~_dominated_within(head)
        cand.append(head_ids[survivors])
        rest, rest_ids = rem[:, block:], rem_ids[block:]
        if rest_ids.size:
            rest, rest_ids = _remove_dominated(rest, rest_ids, head[:, survivors])
        rem, rem_ids = rest, rest_ids
    ids = np.concatenate(cand)
    # A kept row's dominator can only have come after it when their sums are exactly equal
    # (a dominator's float sum is never lower): check candidates within groups of equal sum.
    sums = total[ids]
    by_sum = np.argsort(sums, kind="stable")
    ids, sums = ids[by_sum], sums[by_sum]
    starts = np.flatnonzero(np.r_[True, sums[1:] != sums[:-1]])
    ends = np.r_[starts[1:], sums.size]
    drop = np.zeros(ids.size, dtype=bool)
    for a, b in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
        group = np.ascontiguousarray(pts[ids[a:b]].T)
        drop[a:b] = _dominated_within(group)
    out = np.zeros(n, dtype=bool)
    out[ids[~drop]] = True
    return out


def _dominates(cols: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cols: k x n; b: k values. True where b is >= on every criterion and > on one."""
    at_least = cols[0] <= b[0]
    for c in range(1, cols.shape[0]):
        at_least &= cols[c] <= b[c]
    idx = np.flatnonzero(at_least)
    if idx.size:
        # usually few rows: only they need the test for "not equal on every criterion"
        at_least[idx[(cols[:, idx] == b[:, None]).all(axis=0)]] = False
    return at_least


def _dominated_within(cols: np.ndarray) -> np.ndarray:
    """cols: k x m; True where another of these rows dominates."""
    if cols.shape[1] > 256:  # keep the m x m x k comparison small
        dominated = np.zeros(cols.shape[1], dtype=bool)
        for j in range(cols.shape[1]):
            dominated |= _dominates(cols, cols[:, j])
        return dominated
    a = cols.T
    ge = (a[None, :, :] >= a[:, None, :]).all(axis=2)  # ge[i, j]: row j >= row i everywhere
    gt = (a[None, :, :] > a[:, None, :]).any(axis=2)
    return (ge & gt).any(axis=1)


def _remove_dominated(cols: np.ndarray, ids: np.ndarray, by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the rows of cols (k x n) dominated by a row of `by` (k x m), shrinking the arrays
    as soon as a sweep has removed a good share, so later sweeps compare fewer rows."""
    dominated = np.zeros(ids.size, dtype=bool)
    for j in range(by.shape[1]):
        dominated |= _dominates(cols, by[:, j])
        if int(dominated.sum()) * 8 > ids.size:
            keep = ~dominated
            cols, ids = cols[:, keep], ids[keep]
            dominated = np.zeros(ids.size, dtype=bool)
    if dominated.any():
        keep = ~dominated
        cols, ids = cols[:, keep], ids[keep]
    return cols, ids
