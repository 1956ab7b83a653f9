"""`bench run --suite NAME`: every member of a comparison suite, repeats interleaved (A B C A B C ...), so
that a drift of the machine (heat, another job) spreads over every member instead of favouring the one that
ran first.

Every plan is resolved before anything runs (a member that cannot run here stops the suite before its first
launch, unless `--only` leaves it out). Each record carries `extra.suite` = {name, id, preset, round, members}
and the repeat group `<suite id>-<member>`, which the table's suite section groups by."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench.bundle.install import open_for_suite
from bench.errors import BenchError
from bench.launch.watch import StopRequest
from bench.pipeline.run import execute, load, resolve
from bench.protocol.suite import load_suite
from bench.recipes.loader import recipe_path
from bench.vocabulary import RunStatus


def suite_members(name: str, only: list[str] | None) -> tuple[list[str], str]:
    """The members to run (all, or those `only` names, in the suite's order) and the suite's preset names."""

    suite = load_suite(name)
    unknown = sorted(set(only or []) - set(suite.members))
    if unknown:
        raise BenchError(f"--only {unknown[0]}: not a member of suite {name!r} ({', '.join(suite.members)})")
    return [m for m in suite.members if not only or m in only], ", ".join(suite.presets)


def run_suite(name: str, options, repeat: int, stop: StopRequest, only: list[str] | None = None,
              say: Callable[[str], None] = print, sources: dict[str, str] | None = None,
              bundle: Path | None = None) -> list:
    """Run the suite's members `repeat` rounds, interleaved; returns the records. With `bundle`, every member
    sets up from it (verified and matched first); a member it does not carry is reported and left out."""

    members, presets = suite_members(name, only)
    strays = sorted(set(sources or {}) - set(members))
    if strays:
        raise BenchError(f"--source {strays[0]}=...: not a member run here ({', '.join(members)})")
    preset = options.preset or "smoke"
    if bundle is not None:
        if sources:
            raise BenchError("--source with --bundle: the bundle carries the members' sources")
        suite_preset = load_suite(name).presets.get(preset)
        needs_gpu = suite_preset is not None and suite_preset.gpus > 0
        opened, missing = open_for_suite(bundle, name, members, preset, needs_gpu,
                                         {m: (recipe_path(m), preset) for m in members})
        for member, why in missing.items():
            say(f"{member}: not in the bundle ({why}); skipped")
        members = [m for m in members if m not in missing]
        if not members:
            raise BenchError(f"--bundle {bundle}: it carries none of the members to run")
        options = replace(options, bundle=opened)
    suite_id = f"{name}-{preset}-{uuid.uuid4().hex[:8]}"
    plans = []
    for member in members:
        recipe, path = load(member, None)
        if preset not in recipe.presets:
            raise BenchError(f"{member}: no preset {preset!r}; the suite's presets are {presets}")
        member_options = replace(options, preset=preset, repeat_group=f"{suite_id}-{member}",
                                 source=(sources or {}).get(member, options.source),
                                 suite={"name": name, "id": suite_id, "preset": preset, "members": members})
        plans.append(resolve(recipe, path, member_options))
    records = []
    for round_index in range(repeat):
        for plan in plans:
            say(f"suite {suite_id}: round {round_index + 1} of {repeat}: {plan.recipe.name}")
            plan.options.suite = {**plan.options.suite, "round": round_index + 1}
            records.append(execute_and_say(plan, stop, say))
            if stop.reason is not None:
                return records
    return records


def execute_and_say(plan, stop: StopRequest, say: Callable[[str], None]):
    """One run of a suite or a scale measurement, and its outcome in one line."""
    _, record = execute(plan, stop)
    say(f"  {record.implementation}: {record.status.value} "
        + (f"{record.framework_timing.throughput_img_s:.3f} img/s"
           if record.status is RunStatus.OK and record.framework_timing.throughput_img_s else record.reason))
    return record
