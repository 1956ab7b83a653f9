"""`bench compare BASELINE NEW`: is NEW slower than BASELINE, beyond a threshold, and significantly so?

With repeats (two or more ok runs on a side) the samples are the runs' window throughputs; with one run each,
the per-interval throughputs inside the two windows (record.series: images per iteration / seconds per
iteration), which are not independent (one machine, one run): the output says which. The test is Mann-Whitney
U, one-sided (NEW lower), exact when the samples are small and untied, else the normal approximation with the
tie correction (as scipy.stats.mannwhitneyu does; scipy is not a dependency: the distribution is counted here,
the normal comes from the standard library). The ranks come from one sort (O(n log n): 25,000
against 25,000 samples in milliseconds). The change is median(NEW) / median(BASELINE) - 1 (with one run each,
the ratio of the two exact window throughputs); its 95 % interval is a seeded bootstrap of the ratio of
medians (numpy; each resample's median drawn from its order statistic, bench.measure.stats.bootstrap_medians).
Both sides must be the same implementation, preset and hardware (`--allow-mismatch` to compare anyway).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median

import numpy as np

from bench.errors import BenchError
from bench.files import json_text, read_bounded_text
from bench.measure.stats import bootstrap_medians, mann_whitney_less, smallest_p
from bench.numbers import sig3
from bench.records.schema import RunRecord
from bench.records.store import (MAX_RECORD_BYTES, RECORD_NAME, Records, load_record, load_records,
                                 validate_record)
from bench.report.diagnostics import differences
from bench.report.rows import hardware_label, hardware_of

ALPHA = 0.05
BASELINE_FORMAT = "bench-baseline"
MAX_BASELINE_BYTES = 4 * MAX_RECORD_BYTES  # a repeat group's records, whole


def kind_of(record: RunRecord) -> tuple[str, str, str]:
    """What two records must share to be compared: implementation, preset, hardware."""
    return record.implementation, record.preset or "no preset", hardware_label(*hardware_of(record))


def load_group(path: Path) -> Records:
    """The ok records at `path`: a record (file or run directory), a directory of run directories, or a
    baseline file written by `bench baseline save`. A record that fails validation is left out and named in
    `skipped`."""
    if path.is_dir():
        records = (Records([(path, load_record(path))]) if (path / RECORD_NAME).is_file()
                   else load_records(path))
    elif path.exists():
        records = _records_in_file(path)
    else:
        raise BenchError(f"{path}: no such record, run directory or baseline file")
    ok = Records([r for _, r in records if r.throughput_img_s is not None], records.skipped)
    if not ok:
        raise BenchError(f"{path}: no ok record with a throughput")
    kinds = {kind_of(r) for r in ok}
    if len(kinds) > 1:
        raise BenchError(f"{path}: records of more than one implementation, preset or hardware: "
                         + ", ".join(f"{n} ({p}) on {h}" for n, p, h in sorted(kinds))
                         + "; name one run or group")
    return ok


def _records_in_file(path: Path) -> Records:
    text = read_bounded_text(path, MAX_BASELINE_BYTES, "record or baseline", BenchError)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BenchError(f"{path}: not a JSON record or baseline: "
                         f"{' '.join(str(exc).split())[:200]}") from None
    if not (isinstance(data, dict) and data.get("format") == BASELINE_FORMAT):
        return Records([(path, validate_record(text, path))])
    if not isinstance(data.get("records"), list):
        raise BenchError(f"{path}: field 'records': not a list of records")
    records = Records()
    for index, item in enumerate(data["records"]):
        try:
            records.append((path, validate_record(item, f"{path}: records.{index}")))
        except BenchError as exc:
            records.skipped.append(str(exc))
    return records


def interval_samples(record: RunRecord) -> list[float]:
    """img/s of each interval the series holds inside the measured window."""
    window = record.framework_timing.window or record.window_requested
    samples = (record.images_per_iter / seconds for iteration, seconds in record.series
               if window[0] < iteration <= window[1] and seconds > 0)
    return [value for value in samples if value < float("inf")]


def bootstrap_interval(new: list[float], base: list[float], resamples: int = 2000) -> tuple[float, float]:
    """The 95 % interval of median(NEW) / median(BASELINE) - 1 over `resamples` bootstrap resamples of each
    side (seeded: the same records give the same interval)."""
    rng = np.random.default_rng(0)
    ratios = bootstrap_medians(new, resamples, rng) / bootstrap_medians(base, resamples, rng) - 1
    low, high = np.percentile(ratios, [2.5, 97.5])
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
    regression: bool  # significantly slower (p < ALPHA), by more than the threshold
    note: str
    # "ok", "REGRESSION", or why a slow-down beyond the threshold is not one: "not significant", "untestable"
    verdict: str = "ok"
    # diagnoses (input-bound, throttled, host busy...) on one side only; img/J (bench.report.diagnostics)
    diagnostics: list[str] = field(default_factory=list)

    def describe(self) -> str:
        interval = (f" (95 % interval {self.interval[0]:+.1%} to {self.interval[1]:+.1%})"
                    if self.interval else "")
        p = f"p = {self.p_value:.3g}" if self.p_value is not None else "no test"
        return (f"{self.baseline}: {sig3(self.baseline_img_s)} img/s -> "
                f"{self.new}: {sig3(self.new_img_s)} img/s, "
                f"{self.change:+.1%}{interval}; {self.method}, {p}; "
                f"threshold -{self.threshold:.1%}: {self.verdict}"
                + "".join(f"\n  note: {line}" for line in self.note.split("\n") if line)
                + "".join(f"\n  hardware: {line}" for line in self.diagnostics))

    def as_json(self) -> str:
        return json_text(asdict(self), sort_keys=True)


def _mismatch(base: list[RunRecord], new: list[RunRecord], allow: bool, base_name: str, new_name: str) -> str:
    """'' when both sides are the same implementation, preset and hardware; else a BenchError, or with
    `allow` the note that says what differs."""
    differs = [f"{what} {a!r} against {b!r}" for what, a, b in
               zip(("implementation", "preset", "hardware"), kind_of(base[0]), kind_of(new[0])) if a != b]
    if not differs:
        return ""
    if not allow:
        raise BenchError(f"{new_name} is not comparable with {base_name}: {'; '.join(differs)}; compare "
                         "like with like, or give --allow-mismatch")
    return "compared across a mismatch (--allow-mismatch): " + "; ".join(differs)


def compare(base: list[RunRecord], new: list[RunRecord], threshold: float, base_name: str = "baseline",
            new_name: str = "new", allow_mismatch: bool = False) -> Comparison:
    """The rule, the same for every input: REGRESSION when NEW is slower than BASELINE by more than the
    threshold and the one-sided test gives p < ALPHA; a slow-down the test cannot confirm (p >= ALPHA, or too
    few samples for any p below ALPHA) is reported as such and is not a regression."""
    notes = [_mismatch(base, new, allow_mismatch, base_name, new_name)]
    base_values = [r.throughput_img_s for r in base]
    new_values = [r.throughput_img_s for r in new]
    base_img_s, new_img_s = median(base_values), median(new_values)
    if len(base) > 1 or len(new) > 1:
        base_samples, new_samples = base_values, new_values
        method = f"Mann-Whitney U (one-sided) over {len(base)} vs {len(new)} runs"
    else:
        base_samples, new_samples = interval_samples(base[0]), interval_samples(new[0])
        method = (f"Mann-Whitney U (one-sided) over per-interval samples inside the windows "
                  f"({len(base_samples)} vs {len(new_samples)}; one run each)")
        notes.append("one run each: the samples are intervals of one run, not independent runs; "
                     "repeat the runs (bench run --repeat 5) for a test across runs")
    change = new_img_s / base_img_s - 1
    p, interval = None, None
    floor = smallest_p(len(new_samples), len(base_samples))
    if floor >= ALPHA:
        notes.append(f"{len(base_samples)} vs {len(new_samples)} samples: the test cannot reach p < {ALPHA} "
                     f"(the smallest p it can give is {floor:.3g}), so no slow-down can be a regression; "
                     "repeat more (bench run --repeat 5)")
    if min(len(base_samples), len(new_samples)) >= 2:
        p = mann_whitney_less(new_samples, base_samples)
        interval = bootstrap_interval(new_samples, base_samples)
    beyond = change < -threshold
    regression = beyond and p is not None and p < ALPHA
    verdict = ("REGRESSION" if regression else "ok" if not beyond
               else "slower, untestable (too few samples)" if floor >= ALPHA else "slower, not significant")
    return Comparison(base_name, new_name, method, base_img_s, new_img_s, change, interval, p, threshold,
                      regression, "\n".join(n for n in notes if n), verdict,
                      differences(base, new, base_name, new_name))


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    try:
        value = float(text.rstrip().removesuffix("%")) / (100 if text.rstrip().endswith("%") else 1)
    except ValueError:
        raise BenchError(f"--threshold {text!r}: not a number or a percentage (e.g. 5%)") from None
    if not 0 <= value < 1:
        raise BenchError(f"--threshold {text!r}: must be between 0% and 100%")
    return value
