"""Statistics over a set of repeated runs (`bench run --repeat K`): the median and how far the runs spread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median, stdev


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
            return f"{self.median:.2f} {unit} (n=1)"
        return (f"median {self.median:.2f} {unit} over n={self.n} (range {self.low:.2f}-{self.high:.2f}, "
                f"spread {self.spread_pct:.1f} %, stdev {self.stdev:.2f})")


def summarize(values: Sequence[float]) -> RepeatSummary | None:
    """None for an empty set: no run of the set measured anything."""
    if not values:
        return None
    mid = median(values)
    low, high = min(values), max(values)
    return RepeatSummary(n=len(values), median=mid, low=low, high=high,
                         spread_pct=100.0 * (high - low) / mid if mid else 0.0,
                         stdev=stdev(values) if len(values) > 1 else None)
