"""The pipeline's two telemetry steps: which sampler runs beside a launch (bench.telemetry), and the record's
telemetry and diagnoses from the series it wrote, over the harness-clock window (bench.measure)."""

from __future__ import annotations

from pathlib import Path

from bench.measure.assess import Measurement
from bench.measure.checks import data_loading_share
from bench.measure.diagnosis import diagnose
from bench.measure.telemetry import Telemetry, summarise
from bench.measure.warnings import Warning_
from bench.measure.window import clock_window_ends
from bench.telemetry.control import SamplerProcess, gpus_for, wall_minus_monotonic
from bench.telemetry.sampler import DEFAULT_RATE_HZ
from bench.telemetry.series import find_series


def sampler_for(plan, run_dir: Path, env: dict[str, str]) -> SamplerProcess | None:
    """The sampler beside a local or container run; none with --no-telemetry, and none here for a Slurm job,
    whose batch script starts one on each of its nodes (bench.slurm.render). A container gets the host's GPUs
    0..N-1 (bench.launch.container.gpu_flags), whatever CUDA_VISIBLE_DEVICES says on the host."""
    if not plan.options.telemetry or plan.slurm is not None:
        return None
    return SamplerProcess(run_dir, gpus_for(plan.gpus, env if plan.container is None else {}))


def sampler_step(plan) -> str:
    """What a dry run says of the sampler."""
    gpus = f"the run's {plan.gpus} GPU(s) (NVML) and " if plan.gpus else ""
    where = "one sampler per node, telemetry.<node>.csv" if plan.slurm else "telemetry.csv"
    return (f"{gpus}the trainer's process tree (psutil), {DEFAULT_RATE_HZ:g} times a second beside the run "
            f"({where}); --no-telemetry: none")


def telemetry_of(run_dir: Path | None, segment: list, m: Measurement,
                 arrival: dict[int, float]) -> tuple[Telemetry | None, list[Warning_]]:
    """(the record's telemetry, its diagnoses); (None, []) where no sampler wrote a series."""
    series = find_series(run_dir) if run_dir is not None else []
    if not series:
        return None, []
    window = clock_window_ends(segment, arrival, m.clock)
    telemetry = summarise(series, window, m.clock.images if m.clock else None, wall_minus_monotonic())
    return telemetry, diagnose(telemetry, data_loading_share(segment, m.result))
