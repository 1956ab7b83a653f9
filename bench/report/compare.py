"""`bench compare BASELINE NEW`: is NEW slower than BASELINE, beyond a threshold, and significantly so?

With repeats (two or more ok runs on a side) the samples are the runs' window throughputs; with one run each,
the per-interval throughputs inside the two windows (record.series: images per iteration / seconds per
iteration), which are not independent (one machine, one run): the output says which. The test is Mann-Whitney
U, one-sided (NEW lower), exact when the samples are small and untied, else the normal approximation with the
tie correction (as scipy.stats.mannwhitneyu does; scipy is not a dependency: the distribution is counted here,
the normal comes from the standard library). The change is median(NEW) / median(BASELINE) - 1 (with one run
each, the ratio of the two exact window throughputs); its 95 % interval is a seeded bootstrap of the ratio of
medians (numpy).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

import numpy as np

from bench.errors import BenchError
from bench.measure.stats import mann_whitney_less
from bench.numbers import sig3
from bench.records.schema import RunRecord
from bench.records.store import RECORD_NAME, load_record
from bench.report.rows import hardware_label, hardware_of

ALPHA = 0.05
BASELINE_FORMAT = "bench-baseline"


def load_group(path: Path) -> list[RunRecord]:
    """The ok records at `path`: a record (file or run directory), a directory of run directories, or a
    baseline file written by `bench baseline save`."""
    if path.is_dir():
        records = [load_record(path)] if (path / RECORD_NAME).is_file() else \
            [load_record(p) for p in sorted(path.glob(f"*/{RECORD_NAME}"))]
    elif path.is_file():
        records = _records_in_file(path)
    else:
        raise BenchError(f"{path}: no such record, run directory or baseline file")
    ok = [r for r in records if r.throughput_img_s is not None]
    if not ok:
        raise BenchError(f"{path}: no ok record with a throughput")
    kinds = {(r.implementation, hardware_label(*hardware_of(r))) for r in ok}
    if len(kinds) > 1:
        raise BenchError(f"{path}: records of more than one implementation or hardware: "
                         + ", ".join(f"{n} on {h}" for n, h in sorted(kinds)) + "; name one run or group")
    return ok


def _records_in_file(path: Path) -> list[RunRecord]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: not a JSON record or baseline: {' '.join(str(exc).split())}") from None
    if isinstance(data, dict) and data.get("format") == BASELINE_FORMAT:
        try:
            return [RunRecord.model_validate(r) for r in data["records"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"{path}: field 'records': {' '.join(str(exc).split())[:200]}") from None
    return [load_record(path)]


def interval_samples(record: RunRecord) -> list[float]:
    """img/s of each interval the series holds inside the measured window."""
    window = record.framework_timing.window or record.window_requested
    return [record.images_per_iter / seconds for iteration, seconds in record.series
            if window[0] < iteration <= window[1] and seconds > 0]


def bootstrap_interval(new: list[float], base: list[float], resamples: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(0)  # seeded: the same records give the same interval
    new_medians = np.median(rng.choice(np.asarray(new), size=(resamples, len(new))), axis=1)
    base_medians = np.median(rng.choice(np.asarray(base), size=(resamples, len(base))), axis=1)
    low, high = np.percentile(new_medians / base_medians - 1, [2.5, 97.5])
    return float(low), float(high)


@dataclass
class Comparison:
    baseline: str
    new: str
    method: str
    baseline_img_s: float
    new_img_s: float
    change: float  # NEW / BASELINE - 1
    interval: tuple[float, float] | None
    p_value: float | None
    threshold: float
    regression: bool  # significantly slower, by more than the threshold
    note: str

    def describe(self) -> str:
        interval = (f" (95 % interval {self.interval[0]:+.1%} to {self.interval[1]:+.1%})"
                    if self.interval else "")
        p = f"p = {self.p_value:.3g}" if self.p_value is not None else "no test"
        verdict = "REGRESSION" if self.regression else "ok"
        return (f"{self.baseline}: {sig3(self.baseline_img_s)} img/s -> "
                f"{self.new}: {sig3(self.new_img_s)} img/s, "
                f"{self.change:+.1%}{interval}; {self.method}, {p}; "
                f"threshold -{self.threshold:.1%}: {verdict}"
                + (f"\n  note: {self.note}" if self.note else ""))

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def compare(base: list[RunRecord], new: list[RunRecord], threshold: float, base_name: str = "baseline",
            new_name: str = "new") -> Comparison:
    base_values = [r.throughput_img_s for r in base]
    new_values = [r.throughput_img_s for r in new]
    base_img_s, new_img_s = median(base_values), median(new_values)
    note = ""
    if len(base) > 1 or len(new) > 1:
        base_samples, new_samples = base_values, new_values
        method = f"Mann-Whitney U (one-sided) over {len(base)} vs {len(new)} runs"
        if min(len(base), len(new)) < 4:
            note = "fewer than 4 runs on a side: the test cannot reach p < 0.05 with so few; repeat more"
    else:
        base_samples, new_samples = interval_samples(base[0]), interval_samples(new[0])
        method = (f"Mann-Whitney U (one-sided) over per-interval samples inside the windows "
                  f"({len(base_samples)} vs {len(new_samples)}; one run each)")
        note = ("one run each: the samples are intervals of one run, not independent runs; "
                "repeat the runs (bench run --repeat 5) for a test across runs")
    change = new_img_s / base_img_s - 1
    if len(base_samples) < 2 or len(new_samples) < 2:
        p, interval = None, None
        method = "no significance test (too few samples)"
        note = "too few samples to test: the gate uses the change alone"
    else:
        p = mann_whitney_less(new_samples, base_samples)
        interval = bootstrap_interval(new_samples, base_samples)
    beyond = change < -threshold
    regression = beyond and (p is None or p < ALPHA)
    return Comparison(base_name, new_name, method, base_img_s, new_img_s, change, interval, p, threshold,
                      regression, note)


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    try:
        value = float(text.rstrip().removesuffix("%")) / (100 if text.rstrip().endswith("%") else 1)
    except ValueError:
        raise BenchError(f"--threshold {text!r}: not a number or a percentage (e.g. 5%)") from None
    if not 0 <= value < 1:
        raise BenchError(f"--threshold {text!r}: must be between 0% and 100%")
    return value
