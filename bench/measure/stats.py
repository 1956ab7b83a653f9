"""Statistics over a set of repeated runs (`bench run --repeat K`, the repeats of a suite, a baseline): the
median and how far the runs spread, and the Mann-Whitney U test that says whether two groups of runs differ
(no SciPy: the exact null distribution for small untied samples, the normal approximation with tie correction
otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from math import comb
from statistics import NormalDist, median, stdev

from bench.numbers import sig3


@dataclass(frozen=True)
class RepeatSummary:
    n: int
    median: float
    low: float
    high: float
    spread_pct: float  # (high - low) / median, in percent: the range of the repeats around their median
    stdev: float | None  # sample standard deviation (None for a single run)

    def describe(self, unit: str = "img/s") -> str:
        if self.n == 1:
            return f"{sig3(self.median)} {unit} (n=1)"
        return (f"median {sig3(self.median)} {unit} over n={self.n} "
                f"(range {sig3(self.low)}-{sig3(self.high)}, spread {self.spread_pct:.1f} %, "
                f"stdev {sig3(self.stdev)})")


def summarize(values: Sequence[float]) -> RepeatSummary | None:
    """None for an empty set: no run of the set measured anything."""
    if not values:
        return None
    mid = median(values)
    low, high = min(values), max(values)
    return RepeatSummary(n=len(values), median=mid, low=low, high=high,
                         spread_pct=100.0 * (high - low) / mid if mid else 0.0,
                         stdev=stdev(values) if len(values) > 1 else None)


EXACT_LIMIT = 20  # per side: above this the normal approximation is as good and the count grows large
EXACT_SPLITS = 20_000  # tied samples: enumerate the splits of the pooled values up to this many


@cache
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """How many orderings of n1 + n2 untied values give each U (0..n1*n2): the exact null distribution."""
    if n1 == 0 or n2 == 0:
        return (1,)
    counts = [0] * (n1 * n2 + 1)
    for u, c in enumerate(_u_counts(n1 - 1, n2)):  # the largest value is in sample 1: it beats all n2
        counts[u + n2] += c
    for u, c in enumerate(_u_counts(n1, n2 - 1)):  # the largest value is in sample 2
        counts[u] += c
    return tuple(counts)


def mann_whitney_less(new: list[float], base: list[float]) -> float:
    """One-sided p-value of H1: NEW tends to be smaller than BASELINE."""
    pooled = sorted(new + base)
    ranks: dict[float, float] = {}
    for value in set(pooled):
        first = pooled.index(value) + 1
        ranks[value] = first + (pooled.count(value) - 1) / 2
    n1, n2 = len(new), len(base)
    u = sum(ranks[v] for v in new) - n1 * (n1 + 1) / 2  # small U: NEW ranks low
    tied = len(set(pooled)) < len(pooled)
    if not tied and max(n1, n2) <= EXACT_LIMIT:
        counts = _u_counts(n1, n2)
        return sum(counts[: int(u) + 1]) / sum(counts)
    # few runs with equal values: count every split, ties included
    if tied and comb(n1 + n2, n1) <= EXACT_SPLITS:
        values = new + base
        splits = [sum(ranks[values[i]] for i in chosen) - n1 * (n1 + 1) / 2
                  for chosen in combinations(range(n1 + n2), n1)]
        return sum(other <= u + 1e-9 for other in splits) / len(splits)
    ties = sum(pooled.count(v) ** 3 - pooled.count(v) for v in set(pooled))
    n = n1 + n2
    sigma = (n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))) ** 0.5
    if sigma == 0:
        return 1.0
    return NormalDist().cdf((u - n1 * n2 / 2 + 0.5) / sigma)  # continuity correction toward the null


def mann_whitney_two_sided(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of H1: the two groups differ (either way)."""
    return min(1.0, 2 * min(mann_whitney_less(a, b), mann_whitney_less(b, a)))
