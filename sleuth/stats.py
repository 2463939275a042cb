"""Shared statistics: binomial tails for bit-matching tests, thresholds at a target FPR."""
from __future__ import annotations

import math

from scipy.stats import binom


def binom_pvalue(matched: int, n: int, p: float = 0.5) -> float:
    """P(X >= matched) for X ~ Binomial(n, p): chance of this many matching bits by luck."""
    if n <= 0:
        return 1.0
    return float(binom.sf(matched - 1, n, p))


def min_matches_for_fpr(n: int, fpr: float, p: float = 0.5) -> int:
    """Smallest k such that P(X >= k) <= fpr under the null (bits independent, fair)."""
    for k in range(n + 1):
        if binom_pvalue(k, n, p) <= fpr:
            return k
    return n + 1


def log10_or_floor(p: float, floor: float = 1e-300) -> float:
    return math.log10(max(p, floor))
