"""Why a run may be slower, from what the hardware did during the window (bench.measure.telemetry): each
diagnosis a `Warning_` with a remedy, carried in the record beside the other checks.

- input-bound: the printed data time takes more than DATA_LOADING_LIMIT of the iteration and the GPUs were
  busy less than BUSY_GPU_PERCENT of the time on average: the GPUs wait for the data loader;
- gpu-throttled: a thermal or hardware slowdown (or the power brake) was set during the window, or the
  software power cap was set while the SM clock fell more than 5 % below its median in at least
  LOW_CLOCK_SHARE of the samples (a GPU that holds its power limit at a steady clock is at work, not
  throttled); the message gives the share of samples each was set in and how far the clock fell;
- host-busy: other processes took at least OTHERS_SHARE of the machine's CPU, or the machine was at least
  SATURATED busy with other processes taking a core or more: the trainer's workers competed for the CPU;
- gpu-shared: another process used the run's GPUs."""

from __future__ import annotations

from bench.measure.checks import DATA_LOADING_LIMIT
from bench.measure.telemetry import THROTTLING, GpuWindow, HostWindow, Telemetry
from bench.measure.warnings import Warning_, warning
from bench.vocabulary import WarningCode

BUSY_GPU_PERCENT = 80.0
LOW_CLOCK_SHARE = 0.05
HARD_SLOWDOWNS = THROTTLING - {"sw_power_cap"}
OTHERS_SHARE = 0.25
SATURATED = 0.90

# the warnings that say what the hardware did: `bench compare` and the suite section say which differ
DIAGNOSES = (WarningCode.INPUT_BOUND, WarningCode.GPU_THROTTLED, WarningCode.HOST_BUSY,
             WarningCode.GPU_SHARED, WarningCode.DATA_LOADING)


def _gpu(g: GpuWindow) -> str:
    return f"GPU {g.index}" + (f" on {g.node}" if g.node else "")


def input_bound(gpus: list[GpuWindow], data_share: float | None) -> Warning_ | None:
    utilisation = [g.utilization_percent_mean for g in gpus if g.utilization_percent_mean is not None]
    if data_share is None or data_share <= DATA_LOADING_LIMIT or not utilisation:
        return None
    mean = sum(utilisation) / len(utilisation)
    if mean >= BUSY_GPU_PERCENT:
        return None
    return warning(WarningCode.INPUT_BOUND,
                   f"input-bound: data loading takes {100 * data_share:.0f} % of the iteration time and the "
                   f"GPUs were busy {mean:.0f} % of the window on average",
                   "give the data loader more workers (and the job more CPU cores per GPU), put the dataset "
                   "on local fast storage, or decode on the GPU; compare host.cpu_percent_mean with the "
                   "cores the job has")


def _held_back(g: GpuWindow) -> bool:
    reasons = set(g.throttle_reasons)
    return bool(HARD_SLOWDOWNS & reasons) or ("sw_power_cap" in reasons
                                               and (g.sm_clock_low_share or 0.0) >= LOW_CLOCK_SHARE)


def throttled(gpus: list[GpuWindow]) -> Warning_ | None:
    hit = [g for g in gpus if _held_back(g)]
    if not hit:
        return None
    parts = []
    for g in hit:
        reasons = ", ".join(r for r in g.throttle_reasons if r in THROTTLING)
        clocks = (f"; SM clock median {g.sm_clock_mhz_median:.0f} MHz, min {g.sm_clock_mhz_min:.0f} MHz, "
                  f"{100 * g.sm_clock_low_share:.0f} % of samples more than 5 % below the median"
                  if g.sm_clock_mhz_median is not None and g.sm_clock_low_share is not None else "")
        share = f" in {100 * g.throttled_share:.0f} % of samples" if g.throttled_share is not None else ""
        parts.append(f"{_gpu(g)}: {reasons}{share}{clocks}")
    return warning(WarningCode.GPU_THROTTLED,
                   "GPU clocks were held back during the window (" + "; ".join(parts) + ")",
                   "check cooling, power limits and clocks (nvidia-smi -q -d PERFORMANCE,POWER,TEMPERATURE); "
                   "a throttled GPU is not comparable with an unthrottled one")


def host_busy(host: HostWindow | None) -> Warning_ | None:
    if host is None or host.other_cpu_percent_mean is None or not host.cpus:
        return None
    capacity = 100.0 * host.cpus
    others = host.other_cpu_percent_mean
    machine = others + (host.cpu_percent_mean or 0.0)
    if others < OTHERS_SHARE * capacity and not (machine >= SATURATED * capacity and others >= 100.0):
        return None
    where = f" on {host.node}" if host.node else ""
    return warning(WarningCode.HOST_BUSY,
                   f"host busy{where}: other processes used {others:.0f} % CPU (100 = one core) of the "
                   f"machine's {capacity:.0f} % during the window, the trainer "
                   f"{host.cpu_percent_mean or 0:.0f} %",
                   "run on an otherwise idle machine (Slurm: --exclusive), or stop the other jobs; repeat "
                   "the run to see how much they cost")


def gpu_shared(gpus: list[GpuWindow]) -> Warning_ | None:
    shared = [(g, pid) for g in gpus for pid in g.foreign_pids]
    if not shared:
        return None
    listed = ", ".join(f"pid {pid} on {_gpu(g)}" for g, pid in shared[:6])
    return warning(WarningCode.GPU_SHARED,
                   f"another process used the run's GPUs during the window ({listed})",
                   "stop the other job or choose free GPUs with CUDA_VISIBLE_DEVICES, then rerun")


def diagnose(telemetry: Telemetry | None, data_share: float | None) -> list[Warning_]:
    """The diagnoses the window's telemetry supports (none without a window summary)."""
    if telemetry is None or telemetry.window is None:
        return []
    w = telemetry.window
    hosts = w.hosts or [w.host]
    found = [input_bound(w.gpus, data_share), throttled(w.gpus), *(host_busy(h) for h in hosts),
             gpu_shared(w.gpus)]
    return [f for f in found if f is not None]
