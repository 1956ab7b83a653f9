"""How `bench compare` grows with the number of samples: the Mann-Whitney U test and the bootstrap interval.

    PYTHONPATH=$PWD python benchmarks/compare_scale.py [--sizes 1000,5000,25000,100000] [--repeats 3]

For each N, two samples of N throughputs (normal, 100 and 99 img/s, sd 5, rounded to 0.01 img/s so that ties
occur as in printed logs) are compared: the one-sided test alone, then the whole comparison (median change,
test, 2,000-resample bootstrap interval of the ratio of medians) as `bench compare` computes it. Prints the
best of --repeats wall times for each. The rank sum comes from one sort (O(n log n)); a quadratic rank
computation (one list.count and list.index per distinct value) took minutes at N = 25,000.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.measure.stats import mann_whitney_less
from bench.report.compare import bootstrap_interval


def best_of(repeats: int, call, *args) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def both(new: list[float], base: list[float]) -> None:
    mann_whitney_less(new, base)
    bootstrap_interval(new, base)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000,25000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    print(f"{'N per side':>10}  {'test (s)':>9}  {'test + interval (s)':>19}  p")
    for n in (int(x) for x in args.sizes.split(",")):
        base = [float(v) for v in np.round(rng.normal(100.0, 5.0, n), 2)]  # Python floats, as records hold
        new = [float(v) for v in np.round(rng.normal(99.0, 5.0, n), 2)]
        test = best_of(args.repeats, mann_whitney_less, new, base)
        whole = best_of(args.repeats, both, new, base)
        print(f"{n:>10}  {test:>9.3f}  {whole:>19.3f}  {mann_whitney_less(new, base):.3g}")


if __name__ == "__main__":
    main()
