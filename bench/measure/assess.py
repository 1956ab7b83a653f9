"""From a parser's records and events to a `Measurement`: the status and the window throughput."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.logs.base import LogParser
from bench.logs.lines import open_text
from bench.logs.registry import new_parser
from bench.logs.types import Event, IterationRecord, Status
from bench.measure.warnings import Warning_, warning
from bench.measure.window import (WindowResult, spans_from_clock, spans_from_records,
                                  window_throughput)


@dataclass
class Measurement:
    format: str
    status: Status
    images_per_iter: int
    window_requested: tuple[int, int]
    result: WindowResult | None = None  # from the framework's own printed times
    clock: WindowResult | None = None  # from the harness clock, when line arrival times are known
    last_iteration: int | None = None
    segments: int = 0
    reason: str = ""  # why the status is not ok, in one sentence
    warnings: list[Warning_] = field(default_factory=list)

    @property
    def throughput_img_s(self) -> float | None:
        return self.result.throughput_img_s if self.status is Status.OK and self.result else None

    def to_json(self) -> dict:
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
            "method": r.method if r else None,
            "exact": r.exact if r else None,
            "last_iteration": self.last_iteration,
            "segments": self.segments,
            "harness_clock_img_s": c.throughput_img_s if c else None,
            "harness_clock_window": [c.start, c.end] if c else None,
            "warnings": [w.model_dump() for w in self.warnings],
        }


def split_segments(records: Sequence[IterationRecord]) -> list[list[IterationRecord]]:
    """A new segment starts where the iteration count goes backwards: a resumed or a second run."""
    segments: list[list[IterationRecord]] = []
    for record in records:
        if not segments or record.iteration <= segments[-1][-1].iteration:
            segments.append([])
        segments[-1].append(record)
    return segments


def _first_after(events: Sequence[Event], kind: str, line_no: int) -> Event | None:
    return next((e for e in events if e.kind == kind and e.line_no >= line_no), None)


def measure(parser: LogParser, images_per_iter: int, window: tuple[int, int],
            arrival: dict[int, float] | None = None) -> Measurement:
    m = Measurement(parser.format, Status.NO_DATA, images_per_iter, window)
    segments = split_segments(parser.records)
    m.segments = len(segments)
    if not segments:
        m.reason = getattr(parser, "no_progress_reason", None) or "no progress line of this format was found"
        return m
    m.last_iteration = segments[-1][-1].iteration
    # A second run starts its first span where the first run did (0 for most formats, 2 for detectron2's
    # warm-up exclusion, 1 for SimpleDet's timer start); a resumed run starts it at its checkpoint.
    first_start = segments[0][0].span_start
    fresh_restart = any(seg[0].span_start <= first_start and seg[0].iteration <= window[0] for seg in segments[1:])
    if fresh_restart:
        m.status = Status.MIXED
        m.reason = f"the log holds {len(segments)} runs (iterations start again at line {segments[1][0].line_no})"
        return m
    chosen, result = None, None
    for seg in reversed(segments):  # the latest run that covers the window
        result = window_throughput(spans_from_records(seg, images_per_iter), *window, images_per_iter)
        if result:
            chosen = seg
            break
    first_line = parser.records[0].line_no
    if chosen is None:
        m.status = Status.INCOMPLETE
        m.reason = f"the window {window[0]}-{window[1]} is not covered: last iteration seen is {m.last_iteration}"
        _failure_status(m, parser.events, first_line, None)
        return m
    m.result = result
    end_line = next(r.line_no for r in chosen if r.iteration >= result.end)
    m.status = Status.OK
    # A crash of an earlier segment that this resumed one recovered from does not make it crashed.
    _failure_status(m, parser.events, chosen[0].line_no if chosen is not segments[0] else first_line, end_line)
    if len(segments) > 1:
        m.warnings.append(warning("resumed", f"the log holds {len(segments)} segments (a resumed run); measured "
                                  f"the one starting at line {chosen[0].line_no}",
                                  "measure a run that was not resumed, to keep start-up effects out"))
    if not result.exact:
        m.warnings.append(warning("median-based", "the printed times are medians, not means: the throughput is "
                                  "an approximation", "parse the console log or log.txt instead of metrics.json"))
    if arrival:
        m.clock = window_throughput(spans_from_clock(chosen, arrival), result.start, result.end, images_per_iter)
    return m


def _failure_status(m: Measurement, events: Sequence[Event], first_line: int, end_line: int | None) -> None:
    """Divergence or a crash before the window's end makes the run diverged/crashed; after it, a warning."""
    for kind, status in (("diverged", Status.DIVERGED), ("traceback", Status.CRASHED)):
        event = _first_after(events, kind, first_line)
        if event is None:
            continue
        if end_line is None or event.line_no <= end_line:
            m.status = status
            m.reason = f"line {event.line_no}: {event.text}"
            return
        m.warnings.append(warning(f"{kind}-after-window", f"line {event.line_no}: {event.text} (after the window)",
                                  "the window was measured before this happened; check the run's log"))


def parse_file(path: Path, format_name: str, images_per_iter: int, window: tuple[int, int],
               arrival: dict[int, float] | None = None) -> tuple[LogParser, Measurement]:
    parser = new_parser(format_name)
    for raw in open_text(path):
        parser.feed(raw)
    return parser, measure(parser, images_per_iter, window, arrival)
