"""Checks on a measured run, each a `Warning_` with a remedy: data loading, a window that is not steady, the
two clocks disagreeing, another process on the GPUs, throttled GPU clocks (the last two from NVML samples)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.logs.types import IterationRecord
from bench.measure.warnings import Warning_, warning
from bench.measure.window import Span, WindowResult, window_throughput
from bench.numbers import sig3
from bench.vocabulary import WarningCode

DATA_LOADING_LIMIT = 0.20
STEADY_LIMIT = 0.05
CLOCK_LIMIT = 0.03
# NVML throttle reasons worth a warning: SW power cap, HW slowdown, SW thermal, HW thermal, HW power brake.
THROTTLE_REASONS = {0x4: "software power cap", 0x8: "hardware slowdown", 0x20: "software thermal slowdown",
                    0x40: "hardware thermal slowdown", 0x80: "hardware power brake"}


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


def data_loading_check(records: Sequence[IterationRecord], result: WindowResult | None) -> Warning_ | None:
    """Data loading above 20 % of the iteration time, from the printed data time where a format prints one."""
    if result is None:
        return None
    data = [r.data_time for r in records
            if result.start < r.iteration <= result.end and r.data_time is not None]
    if not data:
        return None
    share = (sum(data) / len(data)) / (result.seconds / result.iterations)
    if share <= DATA_LOADING_LIMIT:
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


@dataclass
class GpuSample:
    t: float  # time.monotonic(), the harness clock
    foreign: dict[int, list[int]] = field(default_factory=dict)  # GPU index -> pids not belonging to the run
    throttle: dict[int, int] = field(default_factory=dict)  # GPU index -> NVML throttle-reason bitmask


class GpuMonitor:
    """Samples NVML once a second while a run is going (a daemon thread); does nothing without NVML."""

    def __init__(self, indices: Sequence[int], own_pids: Callable[[], set[int]],
                 interval: float = 1.0) -> None:
        self.indices, self.own_pids, self.interval = list(indices), own_pids, interval
        self.samples: list[GpuSample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.nvml = None

    def start(self) -> GpuMonitor:
        if not self.indices:
            return self
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
        except Exception:
            return self
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bench-gpu-monitor")
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append(self.sample())
            except Exception:  # a failed sample must not end the run
                continue

    def sample(self) -> GpuSample:
        nvml, own = self.nvml, self.own_pids()
        sample = GpuSample(t=time.monotonic())
        for index in self.indices:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            pids = {p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)}
            try:
                pids |= {p.pid for p in nvml.nvmlDeviceGetGraphicsRunningProcesses(handle)}
            except Exception:
                pass
            if pids - own:
                sample.foreign[index] = sorted(pids - own)
            reasons = nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)
            if reasons & sum(THROTTLE_REASONS):
                sample.throttle[index] = reasons
        return sample

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass

    def warnings(self, t0: float, t1: float) -> list[Warning_]:
        """Warnings from the samples taken during the window [t0, t1] (harness clock)."""
        inside = [s for s in self.samples if t0 <= s.t <= t1]
        found: list[Warning_] = []
        foreign = sorted({(gpu, pid) for s in inside for gpu, pids in s.foreign.items() for pid in pids})
        if foreign:
            listed = ", ".join(f"pid {pid} on GPU {gpu}" for gpu, pid in foreign[:6])
            found.append(warning(WarningCode.GPU_SHARED,
                                 f"another process used the run's GPUs during the window ({listed})",
                                 "stop the other job or choose free GPUs with CUDA_VISIBLE_DEVICES, "
                                 "then rerun"))
        throttled = [s for s in inside if s.throttle]
        if throttled:
            names = sorted({name for s in throttled for mask in s.throttle.values()
                            for bit, name in THROTTLE_REASONS.items() if mask & bit})
            found.append(warning(WarningCode.GPU_THROTTLED,
                                 f"GPU clocks were throttled in {len(throttled)} of {len(inside)} samples "
                                 f"during the window ({', '.join(names)})",
                                 "check cooling and power limits (nvidia-smi -q -d PERFORMANCE); "
                                 "a throttled GPU is not comparable with the published numbers"))
        return found
