"""Telemetry over the window: the sampler's series (bench.telemetry) summarised between the window's ends on
the harness clock, the same (t0, t1) the harness-clock throughput is measured over, and what the record keeps
of it.

Cumulative quantities (the trainer tree's CPU seconds, the machine's busy CPU seconds, GPU and RAPL energy)
are read at t0 and at t1, each interpolated linearly between the two samples around it, so a window summary
does not depend on where the samples fell; the others are statistics of the samples inside [t0, t1]. A node's
series (Slurm) is laid on bench's clock through the wall clock: t_bench = t_node + (wall - monotonic)_node -
(wall - monotonic)_bench. The record holds these summaries, never the series."""

from __future__ import annotations

import statistics
from bisect import bisect_left

from pydantic import BaseModel, ConfigDict

from bench.telemetry.gpu import reason_names
from bench.telemetry.series import GPU_FIELDS, Series, gpu_column

MIN_WINDOW_SAMPLES = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HostWindow(_Model):
    node: str | None = None  # a Slurm node's name; None for the local host
    cpu_percent_mean: float | None = None  # the trainer's process tree; 100 = one core
    rss_mb_max: float | None = None  # the largest sum of the tree's resident sets
    other_cpu_percent_mean: float | None = None  # every other process of the machine (bench's own included)
    cpus: int | None = None  # logical CPUs of the machine
    rapl_energy_j: float | None = None  # CPU package energy (RAPL), where readable
    scope: str | None = None  # which processes `cpu_percent_mean` counts


class GpuWindow(_Model):
    index: int  # NVML's index on its host
    name: str
    node: str | None = None
    uuid: str | None = None
    energy_j: float | None = None  # the energy counter's delta over the window (see energy_source)
    energy_source: str | None = None  # "counter" (Volta and newer) or "power-integral"
    power_w_mean: float | None = None
    power_w_p95: float | None = None
    power_source: str | None = None  # "instant", "average-1s" or "instant-power-usage" (bench.telemetry.gpu)
    sm_clock_mhz_median: float | None = None
    sm_clock_mhz_min: float | None = None
    temperature_c_max: float | None = None
    utilization_percent_mean: float | None = None
    memory_used_mb_max: float | None = None
    throttle_reasons: list[str] = []  # every clock-event reason set in a sample of the window
    throttled_share: float | None = None  # share of the samples with a slowdown reason (THROTTLING) set
    sm_clock_low_share: float | None = None  # share of the samples more than 5 % below the median SM clock
    foreign_pids: list[int] = []  # processes on this GPU that were not the run's


class TelemetryWindow(_Model):
    t0: float  # the window's ends on the harness clock (time.monotonic() of bench's host)
    t1: float
    seconds: float
    images: int
    host: HostWindow | None = None  # the local host, or the sum over a job's nodes
    hosts: list[HostWindow] = []  # one per node, when there are several
    gpus: list[GpuWindow] = []
    energy_j: float | None = None  # all GPUs; None unless every GPU has its energy
    images_per_joule: float | None = None


class SamplerFacts(_Model):
    rate: float | None = None  # samples per second achieved inside the window
    samples: int = 0  # inside the window (per series, the fewest)
    sources: list[str] = []
    requested_rate: float | None = None
    total_samples: int = 0
    rows: int = 0  # written to the series (all nodes)
    bounds: str = ""  # how the series was kept bounded
    series: list[str] = []  # the files, relative to the record
    # the sampler's own CPU over its life (100 = one core; its start-up included): what sampling cost
    own_cpu_percent: float | None = None


class Telemetry(_Model):
    window: TelemetryWindow | None = None
    window_missing: str | None = None  # why there is no window summary
    gpu_unavailable: str | None = None  # why no GPU number was written
    sampler: SamplerFacts
    # bench's wall clock minus its monotonic one when the record was made: lays a node's series on the
    # harness clock again (a report plotting it)
    harness_wall_offset: float | None = None


THROTTLING = {"sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
              "hw_power_brake_slowdown"}
LOW_CLOCK = 0.95


def _value_at(times: list[float], values: list[float | None], t: float) -> float | None:
    """A cumulative column at time t, interpolated between the samples around it (None outside them)."""
    points = [(x, v) for x, v in zip(times, values) if v is not None]
    if not points or not points[0][0] <= t <= points[-1][0]:
        return None
    xs = [x for x, _ in points]
    k = bisect_left(xs, t)
    if xs[k] == t:
        return points[k][1]
    (xa, va), (xb, vb) = points[k - 1], points[k]
    return va + (vb - va) * (t - xa) / (xb - xa)


def _delta(times: list[float], values: list[float | None], t0: float, t1: float) -> float | None:
    a, b = _value_at(times, values, t0), _value_at(times, values, t1)
    return None if a is None or b is None else b - a


def _inside(values: list, keep: list[int]) -> list[float]:
    return [values[k] for k in keep if values[k] is not None]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _host_window(series: Series, times: list[float], keep: list[int], t0: float, t1: float) -> HostWindow:
    c, seconds = series.columns, t1 - t0
    cpu = _delta(times, c.get("cpu_s", []), t0, t1)
    busy = _delta(times, c.get("machine_busy_s", []), t0, t1)
    rss = _inside(c.get("rss_mb", []), keep)
    cpu_percent = 100 * cpu / seconds if cpu is not None else None
    other = 100 * busy / seconds - (cpu_percent or 0.0) if busy is not None else None
    return HostWindow(node=series.node, cpu_percent_mean=cpu_percent, rss_mb_max=max(rss) if rss else None,
                      other_cpu_percent_mean=max(0.0, other) if other is not None else None,
                      cpus=series.meta.get("cpus"), rapl_energy_j=_delta(times, c.get("rapl_j", []), t0, t1),
                      scope=series.meta.get("host_scope"))


def _gpu_window(series: Series, gpu: dict, times: list[float], keep: list[int], t0: float,
                t1: float) -> GpuWindow:
    column = {name: series.columns.get(gpu_column(gpu["index"], name), []) for name in GPU_FIELDS
              if name != "foreign_pids"}
    power = _inside(column["power_w"], keep)
    sm = _inside(column["sm_mhz"], keep)
    temperature = _inside(column["temperature_c"], keep)
    memory = _inside(column["memory_used_mb"], keep)
    masks = [int(m) for m in _inside(column["reasons"], keep)]
    reasons = sorted({name for mask in masks for name in reason_names(mask)})
    median_sm = statistics.median(sm) if sm else None
    foreign = series.text_columns.get(gpu_column(gpu["index"], "foreign_pids"), [])
    return GpuWindow(
        index=gpu["index"], name=gpu.get("name", ""), node=series.node, uuid=gpu.get("uuid"),
        energy_j=_delta(times, column["energy_j"], t0, t1), energy_source=gpu.get("energy"),
        power_w_mean=_mean(power), power_w_p95=_p95(power) if power else None, power_source=gpu.get("power"),
        sm_clock_mhz_median=median_sm, sm_clock_mhz_min=min(sm) if sm else None,
        temperature_c_max=max(temperature) if temperature else None,
        utilization_percent_mean=_mean(_inside(column["utilization_percent"], keep)),
        memory_used_mb_max=max(memory) if memory else None, throttle_reasons=reasons,
        throttled_share=(sum(1 for m in masks if THROTTLING & set(reason_names(m))) / len(masks)
                         if masks else None),
        sm_clock_low_share=(sum(1 for v in sm if v < LOW_CLOCK * median_sm) / len(sm) if sm else None),
        foreign_pids=sorted({int(p) for k in keep if k < len(foreign) for p in foreign[k].split()}))


def on_bench_clock(series: Series, bench_wall_minus_monotonic: float | None) -> list[float]:
    """The series' times on bench's harness clock: as written when sampled beside bench, else through the
    wall clock (a node's). (Every row read back has its time.)"""
    times = series.columns.get("t", [])
    if series.node is None or bench_wall_minus_monotonic is None:
        return times
    shift = float(series.meta.get("wall_minus_monotonic", 0.0)) - bench_wall_minus_monotonic
    return [t + shift for t in times]


def _sum(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else sum(values)


def _summed_host(hosts: list[HostWindow]) -> HostWindow:
    return HostWindow(node=None, cpu_percent_mean=_sum([h.cpu_percent_mean for h in hosts]),
                      rss_mb_max=_sum([h.rss_mb_max for h in hosts]),
                      other_cpu_percent_mean=_sum([h.other_cpu_percent_mean for h in hosts]),
                      cpus=int(_sum([h.cpus for h in hosts]) or 0) or None,
                      rapl_energy_j=_sum([h.rapl_energy_j for h in hosts]),
                      scope=f"the job's processes on {len(hosts)} nodes")


def bounds_text(series: list[Series]) -> str:
    notes = []
    for s in series:
        where = f"{s.node}: " if s.node else ""
        levels = s.meta.get("levels") or [[0.0, 1]]
        if s.meta.get("capped_at") is not None:
            notes.append(f"{where}capped at {s.meta.get('max_rows')} rows")
        elif len(levels) > 1:
            notes.append(f"{where}every sample for {s.meta.get('full_rows')} rows, then thinned to every "
                         f"{levels[-1][1]}th")
    return "; ".join(notes) or "every sample kept"


def _own_cpu_percent(metas: list[dict]) -> float | None:
    """The samplers' own CPU over their lives, per sampler (the mean of several nodes')."""
    lives = [(m["own_cpu_s"], m["lifetime_s"]) for m in metas if m.get("lifetime_s")]
    return 100 * sum(c / t for c, t in lives) / len(lives) if lives else None


def summarise(series: list[Series], window: tuple[float, float] | None, images: int | None,
              bench_wall_minus_monotonic: float | None = None) -> Telemetry:
    """The record's telemetry: the window's summaries from every series (the local one, or one per node)."""
    metas = [s.meta for s in series]
    unavailable = [m.get("gpu_unavailable") for m in metas if m.get("gpu_unavailable")]
    facts = SamplerFacts(sources=sorted({src for m in metas for src in m.get("sources", [])}),
                         requested_rate=metas[0].get("rate_hz") if metas else None,
                         total_samples=sum(int(m.get("samples") or len(s)) for m, s in zip(metas, series)),
                         rows=sum(len(s) for s in series), bounds=bounds_text(series),
                         series=[s.path.name for s in series], own_cpu_percent=_own_cpu_percent(metas))
    telemetry = Telemetry(sampler=facts, gpu_unavailable="; ".join(unavailable) or None,
                          harness_wall_offset=bench_wall_minus_monotonic)
    if not series:
        telemetry.window_missing = "no telemetry series was written"
        return telemetry
    if window is None or images is None:
        telemetry.window_missing = "no window was measured on the harness clock"
        return telemetry
    t0, t1 = window
    hosts, gpus, counts = [], [], []
    for s in series:
        times = on_bench_clock(s, bench_wall_minus_monotonic)
        keep = [k for k, t in enumerate(times) if t0 <= t <= t1]
        counts.append(keep)
        hosts.append(_host_window(s, times, keep, t0, t1))
        gpus += [_gpu_window(s, gpu, times, keep, t0, t1) for gpu in s.meta.get("gpus", [])]
    fewest = min(counts, key=len)
    if len(fewest) < MIN_WINDOW_SAMPLES:
        telemetry.window_missing = (f"the series holds {len(fewest)} sample(s) inside the window "
                                    f"({t1 - t0:.3g} s)")
        return telemetry
    times = on_bench_clock(series[counts.index(fewest)], bench_wall_minus_monotonic)
    span = times[fewest[-1]] - times[fewest[0]]
    facts.samples, facts.rate = len(fewest), (len(fewest) - 1) / span if span > 0 else None
    energy = _sum([g.energy_j for g in gpus]) if gpus else None
    telemetry.window = TelemetryWindow(
        t0=t0, t1=t1, seconds=t1 - t0, images=images,
        host=hosts[0] if len(hosts) == 1 else _summed_host(hosts), hosts=hosts if len(hosts) > 1 else [],
        gpus=gpus, energy_j=energy,
        images_per_joule=images / energy if energy else None)
    return telemetry
