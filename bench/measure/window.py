"""Throughput over a window of iterations, the one place where a throughput is computed.

Every printed time, whatever its semantics, is first turned into a `Span`: the wall seconds spent on the
iterations (start, end]. A running average at k over (s, k] is the span (s, k] with seconds = n * mean; an
interval mean is the span it covers; a rate over an interval is that interval's images / rate. The window
(a, b] is then a path from boundary a to boundary b through the spans, walked forwards (adding seconds) or
backwards (subtracting them): two running averages are differenced, interval spans are summed. The same
code serves the harness clock, whose spans are the arrival times of consecutive progress lines.
Throughput = images in the window / seconds of the window, never a mean of rates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median

from bench.logs.types import IterationRecord


@dataclass(frozen=True, slots=True)
class Span:
    start: int  # iterations completed before the span
    end: int  # iterations completed at its end
    seconds: float
    exact: bool = True  # False where the printed value is a median, not a mean


@dataclass(frozen=True, slots=True)
class WindowResult:
    start: int  # the window actually used: iterations (start, end]
    end: int
    iterations: int
    seconds: float
    images: int
    throughput_img_s: float
    differenced: bool  # True where running averages were differenced
    exact: bool
    method: str


def spans_from_records(records: Iterable[IterationRecord], images_per_iter: int) -> list[Span]:
    spans = []
    for record in records:
        iterations = record.iteration - record.span_start
        if record.time is None or iterations <= 0 or record.time <= 0:
            continue
        seconds = record.semantics.seconds(record.time, iterations, images_per_iter)
        spans.append(Span(record.span_start, record.iteration, seconds, record.semantics.exact))
    return spans


def spans_from_clock(records: Sequence[IterationRecord], arrival: dict[int, float]) -> list[Span]:
    """Spans between consecutive progress lines, timed by when each line arrived (the harness clock)."""
    timed = [r for r in records if r.line_no in arrival]
    return [Span(prev.iteration, cur.iteration, arrival[cur.line_no] - arrival[prev.line_no])
            for prev, cur in zip(timed, timed[1:]) if cur.iteration > prev.iteration]


def clock_window_ends(records: Sequence[IterationRecord], arrival: dict[int, float],
                      clock: WindowResult | None) -> tuple[float, float] | None:
    """The harness-clock window's ends (t0, t1): when the lines that close iterations `clock.start` and
    `clock.end` arrived, the very times whose difference is `clock.seconds` (the clock's spans run from line
    to line, so its window is a forward walk between two arrivals)."""
    if clock is None:
        return None
    timed = {r.iteration: arrival[r.line_no] for r in records if r.line_no in arrival}
    if clock.start not in timed or clock.end not in timed:
        return None
    return timed[clock.start], timed[clock.end]


def _nearest(boundaries: Sequence[int], target: int, prefer_lower: bool) -> int:
    # Ties go to the side that covers the requested window (lower start, higher end).
    return min(boundaries, key=lambda b: (abs(b - target), b if prefer_lower else -b))


def _path(spans: Sequence[Span], source: int, target: int) -> list[tuple[Span, int]] | None:
    """Fewest spans from boundary `source` to `target`; each step is (span, +1 forwards or -1 backwards)."""
    edges: dict[int, list[tuple[int, Span, int]]] = {}
    for span in spans:
        edges.setdefault(span.start, []).append((span.end, span, +1))
        edges.setdefault(span.end, []).append((span.start, span, -1))
    previous: dict[int, tuple[int, Span, int] | None] = {source: None}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if node == target:
            break
        for nxt, span, sign in edges.get(node, ()):
            if nxt not in previous:
                previous[nxt] = (node, span, sign)
                queue.append(nxt)
    if target not in previous:
        return None
    steps: list[tuple[Span, int]] = []
    node = target
    while (step := previous[node]) is not None:
        node, span, sign = step
        steps.append((span, sign))
    return steps[::-1]


def grid_spacing(spans: Sequence[Span]) -> float:
    ends = sorted({s.end for s in spans})
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    return median(gaps) if gaps else float(max(s.end - s.start for s in spans))


def window_throughput(spans: Sequence[Span], start: int, end: int,
                      images_per_iter: int) -> WindowResult | None:
    """Throughput over iterations (start, end], on the closest boundaries the spans offer.

    None when the spans do not reach the window (a boundary within half a logging interval of each end)."""
    if not spans:
        return None
    boundaries = sorted({s.start for s in spans} | {s.end for s in spans})
    tolerance = grid_spacing(spans) / 2
    a = _nearest(boundaries, start, prefer_lower=True)
    b = _nearest(boundaries, end, prefer_lower=False)
    if abs(a - start) > tolerance or abs(b - end) > tolerance or a >= b:
        return None
    steps = _path(spans, a, b)
    if steps is None:
        return None
    seconds = sum(sign * span.seconds for span, sign in steps)
    if seconds <= 0:
        return None
    differenced = any(sign < 0 for _, sign in steps)
    iterations = b - a
    images = iterations * images_per_iter
    if differenced:
        method = f"difference of cumulative averages at iterations {a} and {b}"
    else:
        method = f"sum of {len(steps)} interval(s) covering iterations {a + 1}-{b}"
    return WindowResult(start=a, end=b, iterations=iterations, seconds=seconds, images=images,
                        throughput_img_s=images / seconds, differenced=differenced,
                        exact=all(span.exact for span, _ in steps), method=method)


def per_iteration_series(spans: Sequence[Span]) -> list[tuple[int, float]]:
    """(iteration, mean seconds per iteration) for plotting: disjoint spans as they are; nested
    (cumulative) spans sharing a start are differenced into the interval between consecutive ends."""
    by_start: dict[int, list[Span]] = {}
    for span in spans:
        by_start.setdefault(span.start, []).append(span)
    series: list[tuple[int, float]] = []
    for start, group in by_start.items():
        group.sort(key=lambda s: s.end)
        prev_end, prev_seconds = start, 0.0
        for span in group:
            if span.end > prev_end and span.seconds > prev_seconds:
                series.append((span.end, (span.seconds - prev_seconds) / (span.end - prev_end)))
            prev_end, prev_seconds = span.end, span.seconds
    return sorted(series)
