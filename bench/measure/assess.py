"""From a parser's records and events to a `Measurement`: the status and the window throughput."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.files import finite
from bench.logs.base import LogParser
from bench.logs.lines import MAX_LINE, open_text
from bench.logs.registry import new_parser
from bench.logs.types import Event, IterationRecord
from bench.measure.batch import BatchEvidence
from bench.vocabulary import EventKind, ParseStatus, WarningCode
from bench.measure.compliance import Window, check_window, untimed_evaluations, window_of
from bench.measure.warnings import Warning_, warning
from bench.measure.window import (WindowResult, spans_from_clock, spans_from_records,
                                  window_throughput)


@dataclass
class Measurement:
    format: str
    status: ParseStatus
    images_per_iter: int
    window_requested: tuple[int, int]
    result: WindowResult | None = None  # from the framework's own printed times
    clock: WindowResult | None = None  # from the harness clock, when line arrival times are known
    last_iteration: int | None = None
    segments: int = 0
    reason: str = ""  # why the status is not ok, in one sentence
    warnings: list[Warning_] = field(default_factory=list)
    images_per_iter_source: str = ""  # "log line 311", "--images-per-iter option", "recipe formula ..."
    batch_evidence: BatchEvidence | None = None  # what the log said about its batch and how it was weighed
    damage: str | None = None  # a gzip log damaged part-way: what was measured came before this

    @property
    def throughput_img_s(self) -> float | None:
        value = self.result.throughput_img_s if self.status is ParseStatus.OK and self.result else None
        return value if value is not None and math.isfinite(value) and value > 0 else None

    def to_json(self) -> dict:
        """One JSON object: every non-finite number becomes null, so the text is always valid JSON."""
        return finite(self._fields())

    def _fields(self) -> dict:
        r, c = self.result, self.clock
        return {
            "format": self.format,
            "status": self.status.value,
            "reason": self.reason,
            "throughput_img_s": self.throughput_img_s,
            "window": [r.start, r.end] if r else None,
            "window_requested": list(self.window_requested),
            "iterations": r.iterations if r else None,
            "seconds": r.seconds if r else None,
            "images": r.images if r else None,
            "images_per_iter": self.images_per_iter,
            "images_per_iter_source": self.images_per_iter_source,
            "batch_evidence": self.batch_evidence.as_json() if self.batch_evidence else None,
            "method": r.method if r else None,
            "exact": r.exact if r else None,
            "last_iteration": self.last_iteration,
            "segments": self.segments,
            "harness_clock_img_s": c.throughput_img_s if c else None,
            "harness_clock_window": [c.start, c.end] if c else None,
            "warnings": [asdict(w) for w in self.warnings],
            "damage": self.damage,
        }


def split_segments(records: Sequence[IterationRecord]) -> list[list[IterationRecord]]:
    """A new segment starts where the iteration count goes backwards: a resumed or a second run."""
    segments: list[list[IterationRecord]] = []
    for record in records:
        if not segments or record.iteration <= segments[-1][-1].iteration:
            segments.append([])
        segments[-1].append(record)
    return segments


def _first_after(events: Sequence[Event], kind: EventKind, line_no: int) -> Event | None:
    return next((e for e in events if e.kind == kind and e.line_no >= line_no), None)


def measure(parser: LogParser, images_per_iter: int, window: tuple[int, int],
            arrival: dict[int, float] | None = None) -> Measurement:
    if images_per_iter <= 0:
        raise BenchError(f"images per iteration {images_per_iter}: need a positive number")
    m = Measurement(parser.format, ParseStatus.NO_DATA, images_per_iter, window)
    _reading_warnings(m, parser)
    segments = split_segments(parser.records)
    m.segments = len(segments)
    if not segments:
        m.reason = parser.no_progress_reason or "no progress line of this format was found"
        return m
    m.last_iteration = segments[-1][-1].iteration
    # A second run starts its first span where the first run did (0 for most formats, 2 for detectron2's
    # warm-up exclusion, 1 for SimpleDet's timer start); a resumed run starts it at its checkpoint.
    first_start = segments[0][0].span_start
    fresh_restart = any(seg[0].span_start <= first_start and seg[0].iteration <= window[0]
                        for seg in segments[1:])
    if fresh_restart:
        m.status = ParseStatus.MIXED
        m.reason = (f"the log holds {len(segments)} runs "
                    f"(iterations start again at line {segments[1][0].line_no})")
        return m
    chosen, result = None, None
    for seg in reversed(segments):  # the latest run that covers the window
        result = window_throughput(spans_from_records(seg, images_per_iter), *window, images_per_iter)
        if result:
            chosen = seg
            break
    first_line = parser.records[0].line_no
    if chosen is None:
        m.status = ParseStatus.INCOMPLETE
        m.reason = (f"the window {window[0]}-{window[1]} is not covered: "
                    f"last iteration seen is {m.last_iteration}")
        _failure_status(m, parser.events, first_line, None)
        return m
    m.result = result
    end_line = next(r.line_no for r in chosen if r.iteration >= result.end)
    m.status = ParseStatus.OK
    # A crash of an earlier segment that this resumed one recovered from does not make it crashed.
    _failure_status(m, parser.events, chosen[0].line_no if chosen is not segments[0] else first_line,
                    end_line)
    inside = window_of(parser, chosen, result, window)
    if m.status is ParseStatus.OK and (broken := check_window(inside)):
        m.status, m.reason = broken
    if m.status is ParseStatus.OK:
        _untimed_evaluation_warning(m, inside)
    if len(segments) > 1:
        m.warnings.append(warning(WarningCode.RESUMED,
                                  f"the log holds {len(segments)} segments (a resumed run); measured "
                                  f"the one starting at line {chosen[0].line_no}",
                                  "measure a run that was not resumed, to keep start-up effects out"))
    if not result.exact:
        m.warnings.append(warning(WarningCode.MEDIAN_BASED, "the printed times are medians, not means: "
                                  "the throughput is an approximation",
                                  "parse the console log or log.txt instead of metrics.json"))
    if arrival:
        m.clock = window_throughput(spans_from_clock(chosen, arrival), result.start, result.end,
                                    images_per_iter)
    return m


def _failure_status(m: Measurement, events: Sequence[Event], first_line: int, end_line: int | None) -> None:
    """Divergence or a crash before the window's end makes the run diverged/crashed; after it, a warning."""
    for kind, status in ((EventKind.DIVERGED, ParseStatus.DIVERGED),
                         (EventKind.TRACEBACK, ParseStatus.CRASHED)):
        event = _first_after(events, kind, first_line)
        if event is None:
            continue
        if end_line is None or event.line_no <= end_line:
            m.status = status
            m.reason = f"line {event.line_no}: {event.text}"
            return
        m.warnings.append(warning(WarningCode.after_window(kind),
                                  f"line {event.line_no}: {event.text} (after the window)",
                                  "the window was measured before this happened; check the run's log"))


def _untimed_evaluation_warning(m: Measurement, window: Window) -> None:
    """An evaluation inside the window that the printed times leave out: the training throughput stands, but
    the harness clock (and the wall time) holds it."""
    untimed = untimed_evaluations(window)
    if untimed:
        (event, why), more = untimed[0], len(untimed) - 1
        m.warnings.append(warning(
            WarningCode.EVALUATION_IN_WINDOW,
            f"line {event.line_no}: an evaluation ran inside the window"
            + (f" ({more} more)" if more else "")
            + f"; the printed times exclude it ({why}), so the training throughput stands, but the harness "
            "clock includes it",
            "set the evaluation period beyond the window's end to measure wall-clock throughput too"))


def _reading_warnings(m: Measurement, parser: LogParser) -> None:
    """Progress lines skipped as malformed, and lines cut at the length cap: counted, never fatal."""
    if parser.malformed_count:
        line, why = parser.malformed[0]
        m.warnings.append(warning(WarningCode.MALFORMED_LINES,
                                  f"{parser.malformed_count} progress line(s) could not be used "
                                  f"and were skipped (first: line {line}, {why})",
                                  "check the trainer's output at those lines; a window holding one is "
                                  "not ok"))
    if parser.truncated_lines:
        m.warnings.append(warning(WarningCode.LONG_LINES,
                                  f"{parser.truncated_lines} line(s) longer than {MAX_LINE} characters "
                                  "were cut there", "check what wrote such lines into the log"))


def read_log(path: Path, format_name: str) -> tuple[LogParser, str | None]:
    """The parser fed with every line of `path`, and the damage that ended a gzip log early (or None)."""
    parser = new_parser(format_name)
    text = open_text(path)
    for raw in text:
        parser.feed(raw)
    parser.truncated_lines += text.truncated
    return parser, text.damage


def parse_file(path: Path, format_name: str, images_per_iter: int, window: tuple[int, int],
               arrival: dict[int, float] | None = None) -> tuple[LogParser, Measurement]:
    parser, damage = read_log(path, format_name)
    m = measure(parser, images_per_iter, window, arrival)
    note_damage(m, damage)
    return parser, m


def note_damage(m: Measurement, damage: str | None) -> None:
    if damage is not None:
        m.damage = damage
        m.warnings.append(warning(WarningCode.LOG_DAMAGED, damage, "measure an undamaged copy of the log"))
