"""The one record builder: every record (a local or container run, a Kubernetes pod, a log imported with
`bench parse --record`, an MLPerf result) is made here from the same three things, so every record carries the
same fields computed the same way:

- `RecordFacts`: what the run was (implementation, counts, window, command, environment, provenance, data),
  which each entry point knows in its own way;
- the parser and its `Measurement` (bench.measure.assess): what the log says;
- an `Ending`: how the run ended (status, reason, exit code, the log's tail), from the watcher for a live run
  or from the measurement for a finished log.

The quality checks (harness clock against the framework's times, data loading, steadiness) run here for all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.logs.base import LogParser
from bench.vocabulary import RunStatus
from bench.measure.assess import Measurement, split_segments
from bench.measure.checks import clock_check, data_loading_check, steadiness_check
from bench.measure.telemetry import Telemetry
from bench.measure.warnings import Warning_
from bench.measure.window import WindowResult, per_iteration_series, spans_from_records
from bench.recipes.schema import Recipe
from bench.records.schema import Provenance, RunRecord, Throughput
from bench.records.store import utc_now_iso, validate_record

TAIL_LINES = 50


@dataclass(frozen=True)
class Identity:
    """Which implementation a record is about."""

    implementation: str
    family: str
    variant: str
    title: str
    framework: str
    reference: dict[str, Any] | None = None

    @classmethod
    def of(cls, recipe: Recipe) -> Identity:
        return cls(recipe.name, recipe.family, recipe.variant, recipe.title,
                   f"{recipe.framework.name} {recipe.framework.version}",
                   recipe.reference.model_dump() if recipe.reference else None)


@dataclass
class Ending:
    """How the run ended."""

    status: RunStatus
    reason: str
    exit_code: int | None = None
    tail: list[str] = field(default_factory=list)  # the log's last lines (kept in the record when not ok)
    # what the ending adds (GPU monitor, exit after window)
    warnings: list[Warning_] = field(default_factory=list)

    @classmethod
    def of_log(cls, m: Measurement, parser: LogParser) -> Ending:
        """A finished log: its status is what the measurement says."""
        return cls(RunStatus.of(m.status), m.reason, tail=parser.tail[-TAIL_LINES:])


@dataclass
class RecordFacts:
    run_id: str
    identity: Identity
    provenance: Provenance
    gpus: int
    window: tuple[int, int]
    log_format: str
    images_per_iter_source: str | None = None
    nodes: int = 1
    gpu_model: str | None = None
    preset: str | None = None
    comparable: bool = True  # the preset's claim only: the table decides from the facts (bench.report)
    command: list[str] = field(default_factory=list)
    log_files: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] | None = None
    deviations: list[str] = field(default_factory=list)
    repeat_group: str | None = None
    origin: Literal["run", "imported"] = "run"
    created: str | None = None  # default: now
    extra: dict[str, Any] = field(default_factory=dict)
    telemetry: Telemetry | None = None  # a live run's sampler, summarised over the window


def throughput(result: WindowResult | None) -> Throughput:
    # a clock whose times went backwards, or a window of zero seconds, measured nothing
    if result is None or not 0 < result.throughput_img_s < math.inf or not math.isfinite(result.seconds):
        return Throughput(throughput_img_s=None, window=None)
    return Throughput(throughput_img_s=result.throughput_img_s, window=[result.start, result.end],
                      iterations=result.iterations, seconds=result.seconds, images=result.images,
                      method=result.method, exact=result.exact)


def measured_segment(parser: LogParser, m: Measurement) -> list:
    """The run segment the window was measured in (the last one when no window was measured)."""
    segments = split_segments(parser.records)
    if not segments:
        return []
    if m.result is not None:
        covering = [seg for seg in segments if seg[0].span_start <= m.result.start
                    and seg[-1].iteration >= m.result.end]
        if covering:
            return covering[-1]
    return segments[-1]


def quality_warnings(segment: list, m: Measurement) -> tuple[float | None, list[Warning_]]:
    """The harness clock against the framework's times (difference in %), data loading, steadiness."""
    difference, clock_warning = clock_check(m.result, m.clock)
    spans = spans_from_records(segment, m.images_per_iter)
    found = [clock_warning, data_loading_check(segment, m.result),
             steadiness_check(spans, m.result, m.images_per_iter)]
    return difference, [w for w in found if w is not None]


def build_record(facts: RecordFacts, parser: LogParser, m: Measurement, ending: Ending) -> RunRecord:
    segment = measured_segment(parser, m)
    difference, checks = quality_warnings(segment, m)
    spans = spans_from_records(segment, m.images_per_iter)
    return validate_record(dict(
        run_id=facts.run_id, created=facts.created or utc_now_iso(),
        implementation=facts.identity.implementation, family=facts.identity.family,
        variant=facts.identity.variant, title=facts.identity.title, framework=facts.identity.framework,
        preset=facts.preset, comparable=facts.comparable, status=ending.status, reason=ending.reason,
        exit_code=ending.exit_code, command=facts.command, gpus=facts.gpus, gpu_model=facts.gpu_model,
        nodes=facts.nodes, images_per_iter=m.images_per_iter,
        images_per_iter_source=facts.images_per_iter_source or m.images_per_iter_source or None,
        batch_evidence=m.batch_evidence, window_requested=list(facts.window), log_format=facts.log_format,
        framework_timing=throughput(m.result), harness_clock=throughput(m.clock) if m.clock else None,
        clock_difference_pct=difference, last_iteration=m.last_iteration,
        series=[[float(i), s] for i, s in per_iteration_series(spans) if math.isfinite(s)],
        warnings=[*m.warnings, *ending.warnings, *checks], log_files=facts.log_files,
        log_tail=ending.tail[-TAIL_LINES:] if ending.status is not RunStatus.OK else [],
        environment=facts.environment, provenance=facts.provenance, reference=facts.identity.reference,
        deviations=facts.deviations, coco_eval=list(parser.coco.summaries), repeat_group=facts.repeat_group,
        dataset=facts.dataset, origin=facts.origin, extra=facts.extra, telemetry=facts.telemetry),
        f"the record of {facts.run_id}")
