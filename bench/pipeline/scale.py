"""`bench run NAME --scale 1,2,4,8`: one implementation measured at several device counts through the same
pipeline and launcher; only the count changes (GPUs per node, or on a CPU run the processes per node,
`--procs`).

Every count is resolved before anything runs (a count the recipe cannot honour, or more GPUs than the machine
has, stops the command before its first launch). With `--repeat K` the counts run in K interleaved rounds
(1 2 4 1 2 4 ...), so that a drift of the machine spreads over every count. Each record carries
`extra.scale.group` (the scale group) and the repeat group `<scale group>-x<count>`, from which the results'
scaling view is made (bench/report/scaling_section.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench.errors import BenchError
from bench.launch.watch import StopRequest
from bench.pipeline.run import Plan, RunOptions, resolve
from bench.pipeline.suite import execute_and_say
from bench.recipes.schema import Recipe


def parse_counts(text: str) -> list[int]:
    """'1,2,4,8' -> [1, 2, 4, 8]: distinct positive integers, in the order given."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"--scale {text!r}: expected device counts such as 1,2,4,8") from None
    if not counts or any(count < 1 for count in counts) or len(set(counts)) != len(counts):
        raise BenchError(f"--scale {text!r}: give distinct device counts of 1 or more, e.g. 1,2,4,8")
    return counts


def at_count(options: RunOptions, gpu_run: bool, count: int) -> RunOptions:
    """The options with the device count set: GPUs per node (on Slurm, --gpus-per-node too) or CPU
    processes per node."""
    if not gpu_run:
        return replace(options, gpus=0, procs=count)
    slurm = options.slurm
    if slurm is not None and slurm.gpus_per_node is not None:
        slurm = replace(slurm, gpus_per_node=count)
    return replace(options, gpus=count, slurm=slurm)


def scale_plans(recipe: Recipe, path: Path, options: RunOptions, counts: list[int],
                check: bool = True) -> list[Plan]:
    """One resolved plan per count. Whether the counts are GPUs or CPU processes is what the run would use
    at its default count (the preset's, or `--gpus 0`); the count itself comes from --scale only."""
    if (options.gpus or 0) > 0 or options.procs is not None:
        raise BenchError("--scale sets the device count of each run: leave out --gpus N and --procs "
                         "(--gpus 0 runs the counts as CPU processes)")
    first = resolve(recipe, path, replace(options), check_gpus=check)  # it may pick the CPU preset
    options = replace(options, preset=first.preset)
    group = f"{recipe.name}-scale-{uuid.uuid4().hex[:8]}"
    plans = []
    for count in counts:
        counted = replace(at_count(options, first.gpus > 0, count), scale_group=group,
                          repeat_group=f"{group}-x{count}")
        plans.append(resolve(recipe, path, counted, check_gpus=check))
    return plans


def run_scale(plans: list[Plan], repeat: int, stop: StopRequest, say: Callable[[str], None] = print) -> list:
    """Run every count `repeat` rounds, interleaved; returns the records."""
    records = []
    for round_index in range(repeat):
        for plan in plans:
            say(f"{plan.recipe.name}: scale {plan.world_size} device(s), round {round_index + 1} of {repeat}")
            records.append(execute_and_say(plan, stop, say))
            if stop.reason is not None:
                return records
    return records
