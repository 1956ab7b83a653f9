"""A run record from an existing log (`bench parse LOG --record DIR`): import the logs of past runs.

The log is copied unchanged into the run directory beside the record; the source file is only read. What the
log itself says is filled in (format, status, the window throughput from the framework's own times, the
per-iteration series, the last iteration, COCOeval summaries); what it cannot say (the command, the
environment, the harness clock) stays empty, and the record's `origin` is "imported". When `--name` names a
recipe, its title, framework, commit, published reference and GPU count are taken from that recipe.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import bench
from bench.errors import BenchError
from bench.files import file_sha256
from bench.logs.base import LogParser
from bench.logs.types import Status
from bench.measure.assess import Measurement, split_segments
from bench.measure.window import per_iteration_series, spans_from_records
from bench.paths import recipes_dir
from bench.recipes import Recipe, find_recipe
from bench.records.schema import Provenance, RunRecord, Throughput
from bench.records.store import RECORD_NAME, load_record, save_record, utc_now_iso

TAIL_LINES = 50


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
    record = RunRecord(
        run_id=directory.resolve().name,
        created=utc_now_iso(),
        implementation=recipe.name if recipe else (name or measurement.format),
        family=recipe.family if recipe else (name or measurement.format),
        variant=recipe.variant if recipe else "imported",
        title=recipe.title if recipe else (name or measurement.format),
        framework=f"{recipe.framework.name} {recipe.framework.version}" if recipe else "",
        preset=preset,
        comparable=_comparable(recipe, preset),
        status=measurement.status,
        reason=measurement.reason,
        gpus=gpus,
        gpu_model=gpu_model,
        images_per_iter=measurement.images_per_iter,
        images_per_iter_source=measurement.images_per_iter_source or None,
        window_requested=list(measurement.window_requested),
        log_format=measurement.format,
        framework_timing=_throughput(measurement),
        last_iteration=measurement.last_iteration,
        series=_series(parser, measurement),
        warnings=measurement.warnings,
        log_files={"log": log_name},
        log_tail=[] if measurement.status is Status.OK else parser.tail[-TAIL_LINES:],
        provenance=_provenance(recipe, name or measurement.format),
        reference=recipe.reference.model_dump() if recipe and recipe.reference else None,
        coco_eval=list(parser.coco.summaries),
        origin="imported",
        extra={"imported": {"log_name": log.name, "log_sha256": file_sha256(log), "segments": measurement.segments}},
    )
    return save_record(record, directory)


def _recipe_named(name: str | None) -> Recipe | None:
    """The recipe called `name`, when there is one; a name without a recipe is just a label."""
    if name is None or not (recipes_dir() / f"{name}.toml").exists():
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
    """Copy the log byte for byte into `directory` (atomically); the source is only read."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / log.name
    if target.exists() and target.resolve() == log.resolve():
        return log.name  # the log already lives in the run directory
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{log.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(log, tmp)  # contents, mode and modification time
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return log.name


def _throughput(m: Measurement) -> Throughput:
    r = m.result
    if r is None:
        return Throughput(throughput_img_s=None, window=None)
    return Throughput(throughput_img_s=m.throughput_img_s, window=[r.start, r.end], iterations=r.iterations,
                      seconds=r.seconds, images=r.images, method=r.method, exact=r.exact)


def _series(parser: LogParser, m: Measurement) -> list[list[float]]:
    """Seconds per iteration of the measured segment (the last one when no window was measured)."""
    segments = split_segments(parser.records)
    if not segments:
        return []
    chosen = segments[-1]
    if m.result is not None:
        covering = [seg for seg in segments if seg[0].span_start <= m.result.start
                    and seg[-1].iteration >= m.result.end]
        chosen = covering[-1] if covering else chosen
    spans = spans_from_records(chosen, m.images_per_iter)
    return [[float(iteration), seconds] for iteration, seconds in per_iteration_series(spans)]


def _provenance(recipe: Recipe | None, label: str) -> Provenance:
    if recipe is None:
        return Provenance(recipe=label, recipe_path="", recipe_sha256="", bench_version=bench.__version__)
    path = recipes_dir() / f"{recipe.name}.toml"
    return Provenance(recipe=recipe.name, recipe_path=f"{path.parent.name}/{path.name}", recipe_sha256=file_sha256(path),
                      repo=recipe.source.repo if recipe.source else None,
                      commit=recipe.source.commit if recipe.source else None, bench_version=bench.__version__)
