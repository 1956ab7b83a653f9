"""The compliance check on a measured window, modelled on MLPerf's compliance checker: a list of rules, each a
name, the status it gives when broken and a function that returns why it is broken (or None). A measurement is
`ok` only when every rule holds; the first broken rule gives the status and the reason.

The window "inside" is the stretch of log between the progress line at the window's start (or the run start
before it, for a cumulative time) and the one at its end: anything there that is not training (an evaluation,
a checkpoint save, a restart, another run's lines) or a printed time that is not a finite positive number
makes the measured time something other than the window's training time. An evaluation the framework's
timer leaves out of its printed times (each parser's `evaluation_untimed` cites the timer code) does not: the
window's training throughput stands, and the measurement warns that the harness clock includes it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import median

from bench.logs.base import LogParser
from bench.logs.types import Event, IterationRecord
from bench.vocabulary import MAX_IMG_S, EventKind, ParseStatus
from bench.measure.window import WindowResult


@dataclass(frozen=True)
class Window:
    """What the rules look at: the requested window, the one measured, and the log lines that bound it."""

    parser: LogParser
    segment: Sequence[IterationRecord]  # the run segment the window was measured in
    result: WindowResult
    requested: tuple[int, int]
    start_line: int  # exclusive: the progress line (or run start) where the window begins
    end_line: int  # exclusive: the progress line where it ends

    def inside(self, line_no: int) -> bool:
        return self.start_line < line_no < self.end_line


@dataclass(frozen=True)
class Rule:
    name: str
    status: ParseStatus
    check: Callable[[Window], str | None]  # why the rule is broken, or None


def _covers_requested(w: Window) -> str | None:
    """Each end of the measured window lies within half a logging interval of the requested end (the interval
    being the median gap between printed progress lines; with a single line, it must be exact)."""
    printed = [r.iteration for r in w.segment]
    gaps = [b - a for a, b in zip(printed, printed[1:]) if b > a]
    tolerance = median(gaps) / 2 if gaps else 0
    (a, b), (start, end) = (w.result.start, w.result.end), w.requested
    if abs(a - start) <= tolerance and abs(b - end) <= tolerance:
        return None
    return (f"the log's progress lines measure iterations {a + 1}-{b}, not the requested {start + 1}-{end} "
            f"(no progress line near iteration {start if abs(a - start) > tolerance else end})")


def _monotone(w: Window) -> str | None:
    chosen = {id(r) for r in w.segment}
    other = next((r for r in w.parser.records if w.inside(r.line_no) and id(r) not in chosen), None)
    if other is None:
        return None
    return (f"line {other.line_no}: iteration {other.iteration} breaks the count inside the window "
            "(another run's line)")


def _event_inside(kind: EventKind, what: str) -> Callable[[Window], str | None]:
    def check(w: Window) -> str | None:
        event = next((e for e in w.parser.events if e.kind == kind and w.inside(e.line_no)), None)
        return (None if event is None
                else f"line {event.line_no}: {what} inside the window: {event.text[:120]}")
    return check


def _neighbours(segment: Sequence[IterationRecord],
                line_no: int) -> tuple[IterationRecord | None, IterationRecord | None]:
    """The segment's progress records just before and just after a log line."""
    before = [r for r in segment if r.line_no < line_no]
    after = next((r for r in segment if r.line_no > line_no), None)
    return (before[-1] if before else None), after


def untimed_evaluations(w: Window) -> list[tuple[Event, str]]:
    """The evaluations inside the window that the printed times exclude, each with why (the parser's rule)."""
    found = []
    for event in w.parser.events:
        if event.kind is EventKind.EVALUATION and w.inside(event.line_no):
            why = w.parser.evaluation_untimed(event, *_neighbours(w.segment, event.line_no))
            if why is not None:
                found.append((event, why))
    return found


def _timed_evaluation(w: Window) -> str | None:
    """An evaluation inside the window that the printed times include."""
    untimed = {id(event) for event, _ in untimed_evaluations(w)}
    event = next((e for e in w.parser.events if e.kind is EventKind.EVALUATION and w.inside(e.line_no)
                  and id(e) not in untimed), None)
    return (None if event is None
            else f"line {event.line_no}: an evaluation ran inside the window: {event.text[:120]}")


def _finite_times(w: Window) -> str | None:
    bad = next(((line, why) for line, why in w.parser.malformed if w.inside(line) or line == w.end_line),
               None)
    return None if bad is None else f"line {bad[0]}: {bad[1]}, inside the window"


def _finite_throughput(w: Window) -> str | None:
    r = w.result
    if (math.isfinite(r.seconds) and r.seconds > 0
            and math.isfinite(r.throughput_img_s) and 0 < r.throughput_img_s <= MAX_IMG_S):
        return None
    if math.isfinite(r.throughput_img_s) and r.throughput_img_s > MAX_IMG_S:
        return (f"the window's time ({r.seconds!r} s) gives {r.throughput_img_s:.3g} img/s, beyond any "
                f"plausible throughput ({MAX_IMG_S:g} img/s)")
    return f"the window's time ({r.seconds!r} s) gives no finite positive throughput"


RULES: tuple[Rule, ...] = (
    Rule("finite-times", ParseStatus.NONCOMPLIANT, _finite_times),
    Rule("finite-throughput", ParseStatus.NONCOMPLIANT, _finite_throughput),
    Rule("window-covered", ParseStatus.INCOMPLETE, _covers_requested),
    Rule("monotone", ParseStatus.NONCOMPLIANT, _monotone),
    Rule("no-restart", ParseStatus.NONCOMPLIANT, _event_inside(EventKind.START, "the run restarted")),
    Rule("no-evaluation", ParseStatus.NONCOMPLIANT, _timed_evaluation),
    Rule("no-checkpoint", ParseStatus.NONCOMPLIANT,
         _event_inside(EventKind.CHECKPOINT, "a checkpoint was saved")),
)


def window_lines(parser: LogParser, segment: Sequence[IterationRecord],
                 result: WindowResult) -> tuple[int, int]:
    """(start line, end line) of the window in the log: the progress line at its start (the last one at or
    before it; the run's start event when the window starts before the first), and the one at its end."""
    end_line = next(r.line_no for r in segment if r.iteration >= result.end)
    before = [r.line_no for r in segment if r.iteration <= result.start]
    if before:
        return before[-1], end_line
    first = segment[0].line_no
    starts = [e.line_no for e in parser.events if e.kind is EventKind.START and e.line_no < first]
    return (starts[-1] if starts else 0), end_line


def window_of(parser: LogParser, segment: Sequence[IterationRecord], result: WindowResult,
              requested: tuple[int, int]) -> Window:
    return Window(parser, segment, result, requested, *window_lines(parser, segment, result))


def check_window(window: Window) -> tuple[ParseStatus, str] | None:
    """The first rule the measured window breaks, as (status, reason); None when it complies with all."""
    for rule in RULES:
        reason = rule.check(window)
        if reason is not None:
            return rule.status, f"{rule.name}: {reason}"
    return None
