"""Bootstrap intervals of the method comparison's report (`mmzppo.tools.results`): a method's mean
accuracy over seeds and items, and the paired difference of two methods."""

from __future__ import annotations

import math

import numpy as np


def bootstrap(runs: list[dict[str, float]], n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean accuracy over runs (seeds) and items, with a 95% interval: each draw resamples
    the seeds, then the items (the same items for every seed)."""
    items = sorted(set().union(*runs)) if runs else []
    if not items:
        return math.nan, math.nan, math.nan
    m = np.array([[r.get(i, np.nan) for i in items] for r in runs])
    rng = np.random.default_rng(seed)
    draws = np.empty(n)
    for b in range(n):
        s = rng.integers(0, m.shape[0], m.shape[0])
        j = rng.integers(0, m.shape[1], m.shape[1])
        draws[b] = np.nanmean(m[np.ix_(s, j)])
    return float(np.nanmean(m)), *np.percentile(draws, [2.5, 97.5]).tolist()


def bootstrap_difference(a: list[dict[str, float]], b: list[dict[str, float]], n: int = 2000, seed: int = 0):
    """Mean(a) - mean(b) with a 95% interval: items resampled jointly (paired). Seeds: when both
    lists hold the same number of runs, run i of each is taken to share seed i (the same data
    order and start) and the seeds are resampled jointly (paired); otherwise each method's seeds
    are resampled on their own."""
    items = sorted(set().union(*a, *b)) if a and b else []
    if not items:
        return math.nan, math.nan, math.nan
    ma = np.array([[r.get(i, np.nan) for i in items] for r in a])
    mb = np.array([[r.get(i, np.nan) for i in items] for r in b])
    rng = np.random.default_rng(seed)
    draws = np.empty(n)
    for k in range(n):
        j = rng.integers(0, len(items), len(items))
        sa = rng.integers(0, len(a), len(a))
        sb = sa if len(a) == len(b) else rng.integers(0, len(b), len(b))
        draws[k] = np.nanmean(ma[np.ix_(sa, j)]) - np.nanmean(mb[np.ix_(sb, j)])
    return float(np.nanmean(ma) - np.nanmean(mb)), *np.percentile(draws, [2.5, 97.5]).tolist()
