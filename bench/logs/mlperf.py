"""MLPerf Training logs (`result_N.txt` of mlcommons/training_results_v*): the MLPerf logging events plus the
maskrcnn-benchmark trainer lines that the Mask R-CNN reference and its derivatives also print.

Two generations of events, parsed with the `mlperf-logging` package (compliance_checker.mlp_parser):
  * v0.6: `:::MLL 1558576742.329 global_batch_size: {"value": 48, "metadata": {...}}` (time in seconds);
  * v0.7 and later: `:::MLLOG {"time_ms": 1592669083579, "key": "global_batch_size", "value": 64, ...}`.
Lines may carry a prefix (`12: ` from `srun --label`, a progress bar that was not ended by a newline).

Per-iteration timing comes from one of two sources, tracked_stats where the log has them:
  * NVIDIA's `tracked_stats` event, every 50 iterations: `value.time` is the `global_avg` of the trainer's
    `time` meter, the running mean of every iteration time since the run's start (metadata.step is the
    number of iterations completed). Its `value.throughput` is images per batch / that running mean, i.e. a
    mean since the start too: never a window value, and not read here.
  * the maskrcnn-benchmark trainer line (`iter: 100 ... time: 0.2992 (0.3691)`, see
    bench.logs.maskrcnn_benchmark), whose parenthesised time is the same running mean.
The harness-clock equivalent of each progress record is the event's own timestamp (`time_ms`), or the trainer
line's asctime stamp: the arrival time of the line, written by the process that printed it.

The global batch is the `global_batch_size` event, definitive: the submission logs the trainer's own
SOLVER.IMS_PER_BATCH, the global batch of maskrcnn-benchmark (NVIDIA/benchmarks/maskrcnn/implementations/
pytorch/tools/train_mlperf.py train() @ mlcommons/training_results_v0.6 e045ad7, and the same in v0.7 on).
Logs without either source (the TPU submissions print only run, epoch and eval events) yield no progress
record; `no_progress_reason` says why in one sentence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from bench.logs import maskrcnn_benchmark
from bench.logs.base import LogParser
from bench.logs.types import BatchReport, Event, IterationRecord, TimeSemantics
from bench.vocabulary import MAX_IMAGES_PER_ITER, MAX_ITERATION, EventKind

V06_TOKEN = ":::MLL "
V07_TOKEN = ":::MLLOG "  # ruleset_070.TOKEN
TRACKED_STATS = "tracked_stats"  # NVIDIA's own key, not one of mlperf_logging.mllog.constants
TRAINER = "trainer"
TRACKED_PERIOD = 50
DTYPE = re.compile(r"^\s*DTYPE: (\w+)\s*$")  # maskrcnn-benchmark's config dump (`DTYPE: float16`)
GLOBAL_BATCH_RULE = ("the submission's global_batch_size event, the trainer's SOLVER.IMS_PER_BATCH "
                     "(NVIDIA maskrcnn tools/train_mlperf.py train() @ training_results_v0.6 e045ad7)")
RANK_PREFIX = re.compile(r"^\s*\d+: ")  # `srun --label`
NO_TIMING = ("the MLPerf log has no per-iteration timing (no tracked_stats events and no trainer progress "
             "lines, as in the TPU submissions): only its time to train could be read, not a window "
             "throughput")


@dataclass(frozen=True, slots=True)
class MlperfEvent:
    key: str
    value: Any
    metadata: dict
    seconds: float  # the event's own timestamp, epoch seconds
    line_no: int
    text: str


MAX_EVENT_SECONDS = 1e11  # an event's timestamp (epoch seconds) beyond this year ~5000 is not a time


@cache
def mllog_constants():
    """mlperf_logging.mllog.constants, imported on first use: the package's __init__ imports numpy (0.1 s),
    which sniffing a log of another format (`bench parse --format auto`) must not pay."""
    from mlperf_logging.mllog import constants

    return constants


@cache
def rulesets():
    """The compliance checker's line parsers of v0.6 and v0.7+ (imported when a line holds an event)."""
    from mlperf_logging.compliance_checker.mlp_parser import ruleset_060, ruleset_070

    return ruleset_060, ruleset_070


@cache
def submission_keys() -> dict[str, str]:
    """The submission events' keys -> the names bench gives them."""
    c = mllog_constants()
    return {c.SUBMISSION_ORG: "submitter", c.SUBMISSION_DIVISION: "division",
            c.SUBMISSION_STATUS: "status", c.SUBMISSION_PLATFORM: "platform",
            c.SUBMISSION_BENCHMARK: "benchmark", c.SUBMISSION_ENTRY: "entry"}


def parse_event(line: str, line_no: int) -> MlperfEvent | None:
    """One MLPerf logging event, of either generation, wherever it starts in the line; None for other lines
    and for an event that is not one (nested too deeply, a timestamp that is not a plausible time)."""
    start = line.find(":::MLL")
    if start < 0:
        return None
    text = line[start:]
    ruleset_060, ruleset_070 = rulesets()
    try:
        if text.startswith(V07_TOKEN):
            parsed = ruleset_070.string_to_logline(line_no, text)
            return _event(parsed.key, parsed.value["value"], parsed.value.get("metadata"),
                          parsed.timestamp / 1000.0, line_no, text)
        if text.startswith(V06_TOKEN):
            parsed = ruleset_060.string_to_logline(line_no, text)
            value = parsed.value if isinstance(parsed.value, dict) else {"value": parsed.value}
            return _event(parsed.key, value.get("value"), value.get("metadata"), parsed.timestamp, line_no,
                          text)
    # a truncated or interleaved line, JSON nested too deeply, a timestamp too large for a float: not an event
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError):
        return None
    return None


def _event(key, value, metadata, seconds, line_no: int, text: str) -> MlperfEvent | None:
    if not isinstance(key, str) or not 0 <= float(seconds) <= MAX_EVENT_SECONDS:
        return None
    return MlperfEvent(key, value, metadata if isinstance(metadata, dict) else {}, float(seconds), line_no,
                       text)


def _loss(value: float) -> float:
    """A loss as printed, NaN and infinity kept (they say the run diverged); an integer too large for a float
    is infinite."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _number(value: Any) -> float | None:
    """A JSON number as a finite float (a bool, a string, a number too large for a float: None)."""
    if type(value) not in (int, float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


class Parser(LogParser):
    format = "mlperf"
    title = "MLPerf Training logging (:::MLL / :::MLLOG) with maskrcnn-benchmark trainer lines"
    semantics = TimeSemantics.RUNNING_MEAN
    time_meaning = ("running mean of every iteration time since the run's start: tracked_stats value.time "
                    "(the global_avg of the trainer's time meter, NVIDIA "
                    "maskrcnn_benchmark/engine/trainer.py) or the parenthesised time of the trainer line")

    def __init__(self) -> None:
        super().__init__()
        self.trainer = maskrcnn_benchmark.Parser()  # its line format, reused as is
        self.source: str | None = None  # TRACKED_STATS or TRAINER
        self.submission: dict[str, Any] = {}  # submitter, division, status, platform, benchmark, entry
        self.precision: str | None = None
        self.precision_line = 0
        self.run_stop: dict | None = None
        self.runs = 0
        self.first_event_seconds: float | None = None
        self.seen_steps: set[int] = set()
        self.tracked_start = 0
        self.trainer_lines: set[int] = set()  # line numbers of the trainer records yielded

    @property
    def no_progress_reason(self) -> str | None:
        return NO_TIMING if not self.records else None

    def parse_line(self, line: str, line_no: int) -> IterationRecord | Event | None:
        if ":::MLL" in line:
            event = parse_event(line, line_no)
            return self._event(event) if event is not None else None
        if "iter: " in line:
            return self._trainer_line(RANK_PREFIX.sub("", line, count=1), line_no)
        if "DTYPE" in line and self.precision is None and (
                m := DTYPE.match(RANK_PREFIX.sub("", line, count=1))):
            self.precision, self.precision_line = m[1], line_no
        return None

    def _trainer_line(self, line: str, line_no: int) -> IterationRecord | None:
        if self.source not in (None, TRAINER):
            return None
        record = self.trainer.parse_line(line, line_no)
        if record is None or record.iteration in self.seen_steps:  # every rank prints it (v1.0 logs)
            return None
        self.seen_steps.add(record.iteration)
        self.trainer_lines.add(line_no)
        self.source = TRAINER
        return record

    def _event(self, event: MlperfEvent) -> IterationRecord | Event | None:
        key, constants = event.key, mllog_constants()
        if self.first_event_seconds is None:
            self.first_event_seconds = event.seconds
        if key == TRACKED_STATS:
            return self._tracked(event)
        if (key == constants.GLOBAL_BATCH_SIZE and self.batch is None
                and (batch := _number(event.value)) is not None and batch.is_integer()
                and 1 <= batch <= MAX_IMAGES_PER_ITER):  # a batch of hundreds of digits is no batch
            self.batch = BatchReport(images_per_iter=int(batch), line_no=event.line_no, text=event.text,
                                     rule=GLOBAL_BATCH_RULE)
        elif key in submission_keys():
            self.submission.setdefault(submission_keys()[key], event.value)
        elif key == constants.RUN_START:
            self.runs += 1
            self.seen_steps.clear()  # a second run in one file numbers its iterations again: a new segment
            return Event(EventKind.START, event.line_no, event.text)
        elif key == constants.RUN_STOP:
            self.run_stop = dict(event.metadata)
            return Event(EventKind.FINISHED, event.line_no, event.text)
        return None

    def _tracked(self, event: MlperfEvent) -> IterationRecord | None:
        step, value = event.metadata.get("step"), event.value
        if not isinstance(value, dict) or type(step) is not int or not 0 < step <= MAX_ITERATION:
            return None
        if self.source == TRAINER:
            self._supersede_trainer_records()
        elif step in self.seen_steps:  # the same report printed by another rank
            return None
        self.seen_steps.add(step)
        # the first report after a fresh start is at step 50; a later one, a resumed run
        if self.source is None:
            self.tracked_start = (0 if step <= TRACKED_PERIOD
                                  else (step - 1) // TRACKED_PERIOD * TRACKED_PERIOD)
        self.source = TRACKED_STATS
        return IterationRecord(
            iteration=step, time=_number(value.get("time")),
            semantics=self.semantics, span_start=self.tracked_start, line_no=event.line_no,
            timestamp=event.seconds, data_time=_number(value.get("data")),
            losses={k: _loss(v) for k, v in value.items() if "loss" in k and type(v) in (int, float)})

    def _supersede_trainer_records(self) -> None:
        """tracked_stats win over trainer lines: one process prints them, with a millisecond timestamp,
        whereas every rank may print trainer lines, some without a time stamp. The trainer line comes a
        moment before the tracked_stats of the same step, so at most the records of one interval are
        dropped."""
        self.records[:] = [r for r in self.records if r.line_no not in self.trainer_lines]
        self.seen_steps.clear()
        self.source = None

    @classmethod
    def sniff(cls, line: str) -> bool:
        return ":::MLL" in line and parse_event(line, 0) is not None
