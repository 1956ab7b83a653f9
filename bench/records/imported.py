"""A run record from an existing log (`bench parse LOG --record DIR`): import the logs of past runs.

The log is copied unchanged into the run directory beside the record; the source file is only read. What the
log itself says is filled in (format, status, the window throughput from the framework's own times, the
per-iteration series, the last iteration, COCOeval summaries); what it cannot say (the command, the
environment, the harness clock) stays empty, and the record's `origin` is "imported". When `--name` names a
recipe, its title, framework, commit, published reference and GPU count are taken from that recipe.
"""

from __future__ import annotations

from pathlib import Path

import bench
from bench.errors import BenchError
from bench.files import file_sha256, staged_writes
from bench.logs.base import LogParser
from bench.measure.assess import Measurement
from bench.recipes import Recipe, find_recipe, recipe_path
from bench.records.builder import Ending, Identity, RecordFacts, build_record
from bench.records.schema import Provenance
from bench.records.store import RECORD_NAME, load_record, save_record


def record_from_log(log: Path, parser: LogParser, measurement: Measurement, directory: Path, *,
                    name: str | None = None, gpus: int | None = None, gpu_model: str | None = None,
                    preset: str | None = None) -> Path:
    """Write `directory`/record.json (and a copy of `log`) from a parsed log; returns the record's path."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise BenchError(f"--record {directory}: is a file, not a run directory")
    recipe = _recipe_named(name)
    gpus = gpus if gpus is not None else (recipe.gpus if recipe else None)
    if gpus is None:
        raise BenchError("--record: the log does not say how many GPUs ran it; give --gpus N "
                         "(or --name RECIPE to take the recipe's GPU count)")
    if gpus < 1:
        raise BenchError(f"--gpus {gpus}: need at least 1")
    _refuse_to_replace_a_run(directory)
    log_name = _copy_log(log, directory)
    identity = Identity.of(recipe) if recipe else Identity(name or measurement.format,
                                                           name or measurement.format, "imported",
                                                           name or measurement.format, "")
    facts = RecordFacts(
        run_id=directory.resolve().name, identity=identity,
        provenance=_provenance(recipe, name or measurement.format),
        gpus=gpus, gpu_model=gpu_model, window=measurement.window_requested, log_format=measurement.format,
        preset=preset, comparable=_comparable(recipe, preset), log_files={"log": log_name}, origin="imported",
        extra={"imported": {"log_name": log.name, "log_sha256": file_sha256(log),
                            "segments": measurement.segments}})
    record = build_record(facts, parser, measurement, Ending.of_log(measurement, parser))
    return save_record(record, directory)


def _recipe_named(name: str | None) -> Recipe | None:
    """The recipe called `name`, when there is one; a name without a recipe is just a label."""
    if name is None or not recipe_path(name).exists():
        return None
    return find_recipe(name)


def _comparable(recipe: Recipe | None, preset: str | None) -> bool:
    if preset is None:
        return True
    if recipe is not None and preset in recipe.presets:
        return recipe.presets[preset].comparable
    return False  # an unknown preset is not the protocol setting


def _refuse_to_replace_a_run(directory: Path) -> None:
    """Re-importing into the same directory replaces an imported record, never one that `bench run` wrote."""
    path = directory / RECORD_NAME
    if path.exists() and load_record(path).origin != "imported":
        raise BenchError(f"{path}: holds the record of a measured run; import into another directory")


def _copy_log(log: Path, directory: Path) -> str:
    """Copy the log byte for byte into `directory` (atomically, with its mode and times); the source is only
    read."""
    target = directory / log.name
    if target.exists() and target.resolve() == log.resolve():
        return log.name  # the log already lives in the run directory
    with staged_writes() as staging:
        staging.copy(target, log)
    return log.name


def _provenance(recipe: Recipe | None, label: str) -> Provenance:
    if recipe is None:
        return Provenance(recipe=label, recipe_path="", recipe_sha256="", bench_version=bench.__version__)
    path = recipe_path(recipe.name)
    return Provenance(recipe=recipe.name, recipe_path=f"{path.parent.name}/{path.name}",
                      recipe_sha256=file_sha256(path),
                      repo=recipe.source.repo if recipe.source else None,
                      commit=recipe.source.commit if recipe.source else None, bench_version=bench.__version__)
