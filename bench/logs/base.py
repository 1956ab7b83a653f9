"""The parser base class: incremental, fed one raw line at a time, for a finished file or a live run.

A subclass knows its format (regexes, numbering, what its printed time means) and nothing about arithmetic:
it turns one logical line into an `IterationRecord`, an `Event` or nothing. Format-independent signals
(tracebacks, NaN losses, COCOeval summaries) are recognised here once for every format.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from typing import ClassVar

from bench.logs.batch import BatchFacts
from bench.logs.lines import MAX_LINE, logical_lines
from bench.logs.types import BatchReport, Event, IterationRecord, TimeSemantics
from bench.vocabulary import EventKind

MALFORMED_KEPT = 100
TRACEBACK = re.compile(r"^(?:.*\] )?Traceback \(most recent call last\):")


class LogParser(ABC):
    format: ClassVar[str]  # the name recipes and `--format` use
    title: ClassVar[str]
    semantics: ClassVar[TimeSemantics]
    time_meaning: ClassVar[str]  # one sentence: what the printed time is, with its source
    # Lines that say the framework itself gave up on a NaN/inf loss.
    divergence: ClassVar[re.Pattern[str] | None] = None
    # A line that marks the start of training (a second one in the same file is a second run).
    start_marker: ClassVar[re.Pattern[str] | None] = None
    # Lines that say an evaluation or a checkpoint save began, where the format prints one: inside the
    # measured window either one spends time that is not training (the compliance check refuses it).
    evaluation: ClassVar[re.Pattern[str] | None] = None
    checkpoint: ClassVar[re.Pattern[str] | None] = None
    # Why a log of this format can hold no progress line at all, where the format says so (e.g. TPU MLPerf
    # logs).
    no_progress_reason: str | None = None

    def __init__(self) -> None:
        self.line_no = 0
        self.records: list[IterationRecord] = []
        self.events: list[Event] = []
        self.tail: list[str] = []  # last logical lines, for a failed run's record
        # What the trainer says about its own batch, once it has said it (a config dump, printed arguments).
        # The runner compares it with the recipe's formula the moment it appears; `bench parse` uses it.
        self.batch: BatchReport | None = None
        self.facts = BatchFacts()  # what `read_batch` has gathered so far
        # (line, why) of progress lines skipped, the first MALFORMED_KEPT
        self.malformed: list[tuple[int, str]] = []
        self.malformed_count = 0
        self.truncated_lines = 0  # raw lines cut at MAX_LINE characters
        from bench.logs.cocoeval import CocoEvalCollector  # late: keeps the import graph one-way

        self.coco = CocoEvalCollector()

    # -- what a subclass writes -------------------------------------------------------------------
    @abstractmethod
    def parse_line(self, line: str, line_no: int) -> IterationRecord | Event | None:
        """One logical line (ANSI stripped, `\\r` renders split) into a record, an event or nothing."""

    def read_batch(self, line: str, line_no: int) -> None:
        """Note in `self.facts` what this logical line says about the batch (a config dump, printed
        arguments). Called for every line: a subclass guards each regex with a substring test."""

    @classmethod
    def sniff(cls, line: str) -> bool:
        """True when this logical line is unmistakably this format (for `--format auto`)."""
        return False

    def evaluation_untimed(self, event: Event, before: IterationRecord | None,
                           after: IterationRecord | None) -> str | None:
        """Why the printed times exclude this evaluation, from the framework's timer code (cited in the
        parser), given the progress records just before and after it; None where they include it, the
        default: an evaluation inside the window is then not training time (bench.measure.compliance)."""
        return None

    # -- shared machinery -------------------------------------------------------------------------
    def feed(self, raw: str) -> list[IterationRecord]:
        """Feed one raw line (as read, with or without its newline); returns the new iteration records."""
        self.line_no += 1
        if len(raw) > MAX_LINE + 2:  # the live runner's lines are not capped by the reader (+2: its newline)
            raw = raw[:MAX_LINE]
            self.truncated_lines += 1
        new: list[IterationRecord] = []
        for line in logical_lines(raw):
            if not line:
                continue
            self.tail.append(line)
            if len(self.tail) > 200:
                del self.tail[:100]
            self._generic(line)
            before = self.facts.revision
            self.read_batch(line, self.line_no)
            if self.facts.revision != before:
                self.batch = self.facts.report()
            try:
                result = self.parse_line(line, self.line_no)
            except (ValueError, ArithmeticError) as exc:  # `time: 1.2.3`, an iteration of 1e999
                self._malformed(f"unreadable progress line ({exc})")
                continue
            if isinstance(result, IterationRecord):
                if result.time is not None and not _usable_time(result):
                    self._malformed(f"printed time {result.time!r} is not a finite positive number "
                                    "of seconds")
                    continue
                self._check_losses(result)
                self.records.append(result)
                new.append(result)
            elif isinstance(result, Event):
                self.events.append(result)
        return new

    def _malformed(self, why: str) -> None:
        """Count a progress line that cannot be used and keep where it was: skipped, never fatal."""
        self.malformed_count += 1
        if len(self.malformed) < MALFORMED_KEPT:
            self.malformed.append((self.line_no, why))

    def _generic(self, line: str) -> None:
        if TRACEBACK.match(line):
            self.events.append(Event(EventKind.TRACEBACK, self.line_no, line))
        elif self.divergence is not None and self.divergence.search(line):
            self.events.append(Event(EventKind.DIVERGED, self.line_no, line))
        elif self.start_marker is not None and self.start_marker.search(line):
            self.events.append(Event(EventKind.START, self.line_no, line))
        elif self.evaluation is not None and self.evaluation.search(line):
            self.events.append(Event(EventKind.EVALUATION, self.line_no, line[:200]))
        elif self.checkpoint is not None and self.checkpoint.search(line):
            self.events.append(Event(EventKind.CHECKPOINT, self.line_no, line[:200]))
        self.coco.feed(line, self.line_no)

    def _check_losses(self, record: IterationRecord) -> None:
        bad = [k for k, v in record.losses.items() if math.isnan(v) or math.isinf(v)]
        if bad:
            self.events.append(Event(EventKind.DIVERGED, record.line_no,
                                     f"{bad[0]} is {record.losses[bad[0]]}"))


def between_epochs(before: IterationRecord | None, after: IterationRecord | None) -> bool:
    """The two progress records lie in successive epochs of an epoch-based loop (what happens between them
    happens between two epochs)."""
    return (before is not None and after is not None and before.epoch is not None
            and after.epoch is not None and after.epoch > before.epoch)


def _usable_time(record: IterationRecord) -> bool:
    """Finite and positive, and still finite as the seconds of its span (`1e308` x 400 iterations is not)."""
    value = record.time
    return (value is not None and math.isfinite(value) and value > 0
            and math.isfinite(value * max(1, record.iteration - record.span_start)))
