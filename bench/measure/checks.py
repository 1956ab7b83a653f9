"""Checks on a measured run, each a `Warning_` with a remedy: data loading, a window that is not steady, the
two clocks disagreeing. (What the hardware did, from the telemetry series: bench.measure.diagnosis.)"""

from __future__ import annotations

from collections.abc import Sequence

from bench.logs.types import IterationRecord
from bench.measure.warnings import Warning_, warning
from bench.measure.window import Span, WindowResult, window_throughput
from bench.numbers import sig3
from bench.vocabulary import WarningCode

DATA_LOADING_LIMIT = 0.20
STEADY_LIMIT = 0.05
CLOCK_LIMIT = 0.03


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / b


def clock_check(framework: WindowResult | None,
                clock: WindowResult | None) -> tuple[float | None, Warning_ | None]:
    """The harness clock against the framework's own times: (difference in %, a warning above 3 %)."""
    if framework is None or clock is None:
        return None, None
    diff = relative_difference(clock.throughput_img_s, framework.throughput_img_s)
    if diff <= CLOCK_LIMIT:
        return 100 * diff, None
    return 100 * diff, warning(
        WarningCode.CLOCK_DISAGREES,
        f"the harness clock gives {sig3(clock.throughput_img_s)} img/s, the framework's own times "
        f"{sig3(framework.throughput_img_s)} img/s ({100 * diff:.1f} % apart)",
        "the framework's timer leaves out part of each iteration (hooks, logging, checkpoints) or its output "
        "is buffered; check PYTHONUNBUFFERED reaches the training processes and compare the per-iteration "
        "series")


def data_loading_share(records: Sequence[IterationRecord], result: WindowResult | None) -> float | None:
    """The printed data time's share of the window's iteration time, where a format prints one."""
    if result is None:
        return None
    data = [r.data_time for r in records
            if result.start < r.iteration <= result.end and r.data_time is not None]
    if not data:
        return None
    return (sum(data) / len(data)) / (result.seconds / result.iterations)


def data_loading_check(records: Sequence[IterationRecord], result: WindowResult | None) -> Warning_ | None:
    """Data loading above 20 % of the iteration time, from the printed data time where a format prints one."""
    share = data_loading_share(records, result)
    if share is None or share <= DATA_LOADING_LIMIT:
        return None
    return warning(WarningCode.DATA_LOADING,
                   f"data loading takes {100 * share:.0f} % of the iteration time in the window",
                   "give the data loader more workers (and CPU cores per GPU), put the dataset on local fast "
                   "storage, or check the disk is not shared with another job")


def steadiness_check(spans: Sequence[Span], result: WindowResult | None,
                     images_per_iter: int) -> Warning_ | None:
    """The window's first and second half, each measured with `window_throughput`, differ by more than 5 %."""
    if result is None:
        return None
    middle = (result.start + result.end) // 2
    first = window_throughput(spans, result.start, middle, images_per_iter)
    second = window_throughput(spans, middle, result.end, images_per_iter)
    if first is None or second is None or first.end != second.start:
        return None  # the printed grid is too coarse to cut the window in two
    diff = abs(first.throughput_img_s - second.throughput_img_s) / result.throughput_img_s
    if diff <= STEADY_LIMIT:
        return None
    return warning(WarningCode.WINDOW_NOT_STEADY,
                   f"the window is not steady: {sig3(first.throughput_img_s)} img/s over iterations "
                   f"{first.start + 1}-{first.end}, {sig3(second.throughput_img_s)} img/s over "
                   f"{second.start + 1}-{second.end} ({100 * diff:.1f} % apart)",
                   "warm-up may not be over, or something else ran on the machine: repeat the run "
                   "(--repeat 3) or move the window later")
