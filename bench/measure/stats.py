"""Statistics over a set of repeated runs (`bench run --repeat K`, the repeats of a suite, a baseline): the
median and how far the runs spread, and the Mann-Whitney U test that says whether two groups of runs differ
(no SciPy: the exact null distribution for small samples, the normal approximation with tie correction
otherwise; ranks by one sort, so 25,000 against 25,000 samples take milliseconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from math import comb
from statistics import NormalDist, median, stdev

import numpy as np

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


def midranks(values: Sequence[float]) -> tuple[np.ndarray, float]:
    """The rank of each value among `values` (1-based, tied values sharing the mean of their ranks) and the
    tie term sum(t^3 - t) over the groups of t equal values: one sort, O(n log n)."""
    unique, inverse, counts = np.unique(np.asarray(values, dtype=float), return_inverse=True,
                                        return_counts=True)
    counts = counts.astype(float)
    last = np.cumsum(counts)  # the rank of the last value of each group of equal values
    return (last - (counts - 1) / 2)[inverse.ravel()], float(np.sum(counts ** 3 - counts))


def mann_whitney_less(new: Sequence[float], base: Sequence[float]) -> float:
    """One-sided p-value of H1: NEW tends to be smaller than BASELINE."""
    n1, n2 = len(new), len(base)
    ranks, ties = midranks([*new, *base])
    u = float(np.sum(ranks[:n1])) - n1 * (n1 + 1) / 2  # small U: NEW ranks low
    if not ties and max(n1, n2) <= EXACT_LIMIT:
        counts = _u_counts(n1, n2)
        return sum(counts[: int(round(u)) + 1]) / sum(counts)
    # few runs with equal values: count every split, ties included
    if ties and n1 + n2 <= 2 * EXACT_LIMIT and comb(n1 + n2, n1) <= EXACT_SPLITS:  # (comb of 10^5 is slow)
        splits = [sum(ranks[i] for i in chosen) - n1 * (n1 + 1) / 2
                  for chosen in combinations(range(n1 + n2), n1)]
        return sum(other <= u + 1e-9 for other in splits) / len(splits)
    n = n1 + n2
    sigma = (n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))) ** 0.5
    if sigma == 0:
        return 1.0
    return NormalDist().cdf((u - n1 * n2 / 2 + 0.5) / sigma)  # continuity correction toward the null


def smallest_p(n1: int, n2: int) -> float:
    """The smallest one-sided p-value the test can give with n1 against n2 untied samples (every NEW value
    below every BASELINE value): at or above the level, no outcome can be significant."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return mann_whitney_less(range(n1), range(n1, n1 + n2))


def bootstrap_medians(sample: Sequence[float], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The medians of `resamples` bootstrap resamples of `sample`, drawn without drawing the resamples: the
    k-th smallest of n resampled indices floor(n U_i) is floor(n U_(k)), and U_(k), the k-th smallest of n
    uniforms, is Beta(k, n - k + 1); for an even n the next one is U_(k) + (1 - U_(k)) Beta(1, n - k). The
    same distribution as numpy's median over `rng.choice(sample, (resamples, n))`, in O(n log n + resamples)
    instead of O(n * resamples) time and memory."""
    x = np.sort(np.asarray(sample, dtype=float))
    n = len(x)
    k = (n + 1) // 2

    def at(u: np.ndarray) -> np.ndarray:
        return x[np.minimum((u * n).astype(np.int64), n - 1)]

    low = rng.beta(k, n - k + 1, resamples)
    if n % 2:
        return at(low)
    high = low + (1 - low) * rng.beta(1, n - k, resamples)
    return (at(low) + at(high)) / 2


def mann_whitney_two_sided(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of H1: the two groups differ (either way)."""
    return min(1.0, 2 * min(mann_whitney_less(a, b), mann_whitney_less(b, a)))
