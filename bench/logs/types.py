"""Typed records every log parser yields and the time semantics they declare."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from bench.vocabulary import BatchStrength, EventKind


class TimeSemantics(str, Enum):
    """What the time a log prints at iteration k means. The window arithmetic turns each into seconds."""

    RUNNING_MEAN = "running_mean"  # mean seconds/iteration over (span_start, k]: a cumulative average
    INTERVAL_MEAN = "interval_mean"  # mean seconds/iteration over the last (k - span_start) iterations
    INTERVAL_RATE = "interval_rate"  # images/second over (span_start, k]
    INTERVAL_TOTAL = "interval_total"  # total seconds over (span_start, k]
    # median seconds/iteration over (span_start, k]: an approximation only
    INTERVAL_MEDIAN = "interval_median"

    @property
    def exact(self) -> bool:
        return self is not TimeSemantics.INTERVAL_MEDIAN

    def seconds(self, value: float, iterations: int, images_per_iter: int) -> float:
        """Wall seconds spent on `iterations` iterations, from the printed `value`."""
        if self is TimeSemantics.INTERVAL_RATE:
            return iterations * images_per_iter / value
        if self is TimeSemantics.INTERVAL_TOTAL:
            return value
        return iterations * value  # a mean (or median) time per iteration


@dataclass(frozen=True, slots=True)
class IterationRecord:
    """One progress line. `iteration` counts the iterations completed when the line was printed (1-based),
    whatever the framework's own numbering; the printed time covers iterations (span_start, iteration]."""

    iteration: int
    time: float | None  # as printed, in the unit its semantics says
    semantics: TimeSemantics
    span_start: int
    line_no: int  # 1-based line in the log: links the record to the raw log and the harness clock
    epoch: int | None = None
    timestamp: float | None = None  # printed wall-clock time (epoch seconds, local time), where printed
    data_time: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    lr: float | None = None


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What the trainer printed about its own batch (never assumed): the global images per iteration and the
    world size it actually used, with how far each can be trusted. A field the trainer did not print is None.
    `line_no` and `text` point at the raw log line the number came from, so a record can cite it; `rule` says
    which printed facts give the number, their source (file:line @ commit) and the versions the rule holds
    for, or why the printed number is not the batch (strength UNKNOWN: then `images_per_iter` is None and
    `printed` is the number the log's facts would give)."""

    images_per_iter: int | None  # global: all devices of all nodes
    world_size: int | None = None  # processes/devices training
    nodes: int | None = None
    line_no: int = 0
    text: str = ""
    strength: BatchStrength = BatchStrength.DEFINITIVE
    rule: str = ""
    printed: int | None = None  # strength UNKNOWN: what the unusable facts would have given

    @property
    def evidence(self) -> int | None:
        """The images per iteration this report is evidence of (None where the batch is unknown)."""
        return None if self.strength is BatchStrength.UNKNOWN else self.images_per_iter


@dataclass(frozen=True, slots=True)
class Event:
    """Something other than progress that a parser noticed."""

    kind: EventKind
    line_no: int
    text: str
