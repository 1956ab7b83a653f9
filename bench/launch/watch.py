"""The live watcher: feeds the recipe's log stream to its parser, shows progress on a terminal, and decides
when the run ends: the window measured (plus one more progress line), --timeout, Ctrl-C/SIGTERM/SIGHUP to
bench, the trainer printing a batch that contradicts the plan (at once: no GPU time is spent on a number that
would be wrong), or the training ending by itself. Whatever ends it, the launcher makes sure no process of the
run is left, and every wait after the decision is bounded. A line the parser cannot read is counted and
skipped: never fatal to a live run.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.launch.base import Launcher
from bench.launch.batch import PlannedBatch
from bench.logs.base import LogParser
from bench.logs.types import BatchReport, IterationRecord
from bench.measure.assess import split_segments
from bench.measure.window import per_iteration_series, spans_from_records, window_throughput
from bench.numbers import duration, sig3
from bench.vocabulary import StopReason

TAIL_LINES = 50
MARGIN_LINES = 1  # progress lines to see after the one that completes the window
MARGIN_WAIT_MIN_S = 2.0  # ...or this long (at least 3 line intervals) without one: then stop anyway
HEARTBEAT_S = 30.0  # off a terminal, a progress line this often


class StopRequest:
    """Set from a signal handler (or a test): the watcher stops the run cleanly at its next tick. A second
    signal cuts the grace period short (SIGKILL at once)."""

    def __init__(self) -> None:
        self.reason: StopReason | None = None
        self.signal: int | None = None
        self.count = 0  # requests so far

    def request(self, reason: StopReason, sig: int | None = None) -> None:
        self.count += 1
        if self.reason is None:
            self.reason, self.signal = reason, sig


@contextmanager
def stop_on_signals(request: StopRequest) -> Iterator[StopRequest]:
    """Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed) to bench become a clean stop with status
    `interrupted`, not an exception."""
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        request.request(StopReason.INTERRUPTED, signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class WatchResult:
    stop_reason: StopReason
    exit_code: int | None
    arrival: dict[int, float]  # parser line number -> harness-clock arrival time
    tail: list[str]  # the last lines of all streams, in arrival order
    started_at: float
    ended_at: float
    stop_iteration: int | None = None  # the last iteration seen when bench decided to stop
    lines_per_stream: dict[str, int] = field(default_factory=dict)
    batch_mismatch: str | None = None  # why the trainer's printed batch contradicts the plan
    unparsed_lines: int = 0  # lines of the log stream the parser failed on (skipped)
    first_unparsed: str | None = None  # "line N: the error", for the record


class Progress:
    """A rich live line on a terminal; elsewhere (a pipe, a file, a CI log) the same line as a heartbeat on
    stderr every HEARTBEAT_S seconds, so that minutes of training before the window are not minutes of
    silence."""

    def __init__(self, title: str, window: tuple[int, int], images_per_iter: int, enabled: bool) -> None:
        self.title, self.window, self.images_per_iter = title, window, images_per_iter
        self.live = None
        self.heartbeat = False
        self.started = self.last_beat = time.monotonic()
        self.latest: tuple[int | None, float | None, str] = (None, None, "starting")
        if enabled:
            from rich.console import Console
            from rich.live import Live

            console = Console(stderr=True)
            if console.is_terminal:
                self.live = Live(self._render(*self.latest), console=console, refresh_per_second=4,
                                 transient=False)
                self.live.start()
            else:
                self.heartbeat = True

    def _render(self, iteration: int | None, seconds_per_iter: float | None, state: str):
        from rich.text import Text

        a, b = self.window
        text = Text.assemble((f"{self.title} ", "bold"), f"[{state}]  ")
        if iteration is not None:
            text.append(f"iteration {iteration}  ")
        if seconds_per_iter:
            text.append(f"{sig3(self.images_per_iter / seconds_per_iter)} img/s  ", style="green")
            if iteration is not None and iteration < b:
                text.append(f"window {a}-{b} ends in ~{duration((b - iteration) * seconds_per_iter)}")
        return text

    def update(self, iteration: int, seconds_per_iter: float | None, state: str) -> None:
        self.latest = (iteration, seconds_per_iter, state)
        if self.live is not None:
            self.live.update(self._render(*self.latest))

    def tick(self, now: float) -> None:
        """Off a terminal: the latest state, once every HEARTBEAT_S seconds."""
        if not self.heartbeat or now - self.last_beat < HEARTBEAT_S:
            return
        self.last_beat = now
        waiting = "; no progress line yet" if self.latest[0] is None else ""
        print(f"{self._render(*self.latest).plain.rstrip()} ({duration(now - self.started)} since the launch"
              f"{waiting})", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


class Watcher:
    def __init__(self, launcher: Launcher, parser: LogParser, *, stream: str, window: tuple[int, int],
                 images_per_iter: int, timeout: float | None = None, grace: float = 10.0,
                 stop_request: StopRequest | None = None, progress: Progress | None = None,
                 margin_lines: int = MARGIN_LINES, planned_batch: PlannedBatch | None = None) -> None:
        self.launcher, self.parser, self.stream = launcher, parser, stream
        self.window, self.images_per_iter = window, images_per_iter
        self.timeout, self.grace, self.margin_lines = timeout, grace, margin_lines
        self.stop_request = stop_request or StopRequest()
        self.progress = progress
        self.window_end: int | None = None  # the window's measured end, once covered
        self.window_done_at: float | None = None
        self.arrival: dict[int, float] = {}
        self.record_times: list[float] = []  # arrival of each progress line (for the margin's patience)
        self.planned_batch = planned_batch
        self.batch_checked: BatchReport | None = None  # the trainer's report last compared with the plan
        self.batch_mismatch: str | None = None
        self.unparsed_lines = 0
        self.first_unparsed: str | None = None

    def _feed(self, raw: str) -> list[IterationRecord]:
        """The parser's records for one line; a line it fails on is counted and skipped, never fatal."""
        try:
            return self.parser.feed(raw)
        except Exception as exc:  # noqa: BLE001 - whatever a parser raises, the run and its record go on
            self.unparsed_lines += 1
            if self.first_unparsed is None:
                self.first_unparsed = f"line {self.parser.line_no}: {type(exc).__name__}: {exc}"[:300]
            return []

    def _window_covered(self) -> int | None:
        segments = split_segments(self.parser.records)
        if not segments:
            return None
        result = window_throughput(spans_from_records(segments[-1], self.images_per_iter), *self.window,
                                   self.images_per_iter)
        return result.end if result else None

    def _on_records(self, new: list[IterationRecord], t: float) -> None:
        self.record_times.append(t)
        if self.window_end is None or any(r.iteration <= self.window_end for r in new):
            self.window_end = self._window_covered()  # (re)computed while no line beyond it has been seen
            if self.window_end is not None and self.window_done_at is None:
                self.window_done_at = t
        if self.progress is not None:
            segment = split_segments(self.parser.records)[-1]
            series = per_iteration_series(spans_from_records(segment[-3:], self.images_per_iter))
            state = "window measured" if self.window_end else (
                "in window" if new[-1].iteration > self.window[0] else "warming up")
            self.progress.update(new[-1].iteration, series[-1][1] if series else None, state)

    def _margin_seen(self, now: float) -> bool:
        if self.window_end is None:
            return False
        beyond = sum(1 for r in self.parser.records[-self.margin_lines - 1:] if r.iteration > self.window_end)
        if beyond >= self.margin_lines:
            return True
        gaps = [b - a for a, b in zip(self.record_times, self.record_times[1:])]
        patience = max(MARGIN_WAIT_MIN_S, 3 * sorted(gaps)[len(gaps) // 2]) if gaps else MARGIN_WAIT_MIN_S
        return now - self.window_done_at > patience

    def _check_batch(self) -> None:
        """As soon as the trainer has printed its batch, and again whenever what it printed changes (a
        definitive number after an inferred one, a batch scaled after the config dump)."""
        report = self.parser.batch
        if self.planned_batch is None or report is None or report is self.batch_checked:
            return
        self.batch_checked = report
        self.batch_mismatch = self.batch_mismatch or self.planned_batch.disagreement(report)

    def _why_stop(self, now: float, started: float) -> str | None:
        if self.batch_mismatch is not None:
            return StopReason.BATCH_MISMATCH
        if self.stop_request.reason is not None:
            return self.stop_request.reason
        if self.timeout is not None and now - started > self.timeout:
            return StopReason.TIMEOUT
        if self._margin_seen(now):
            return StopReason.WINDOW
        return None

    def run(self) -> WatchResult:
        launcher = self.launcher
        started = launcher.started_at or time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        reason: StopReason | None = None
        stop_iteration: int | None = None
        try:
            for line in launcher.lines():
                if line is not None:
                    tail.append(line.raw.rstrip("\r\n"))
                    if line.stream == self.stream:
                        new = self._feed(line.raw)
                        self.arrival[self.parser.line_no] = line.t
                        self._check_batch()
                        if new and reason is None:
                            self._on_records(new, line.t)
                if reason is not None:
                    continue
                now = time.monotonic()
                if self.progress is not None:
                    self.progress.tick(now)
                why = self._why_stop(now, started)
                if why is not None:
                    reason = why
                    stop_iteration = self.parser.records[-1].iteration if self.parser.records else None
                    launcher.stop(self.grace, self._another_signal())
                elif launcher.poll() is not None:
                    reason = StopReason.EXITED
                    # what the main process left behind
                    launcher.terminate(self.grace, self._another_signal())
            if reason is None:  # every stream ended before the exit was polled: the run ended by itself
                reason = StopReason.EXITED
                launcher.terminate(self.grace, self._another_signal())
        finally:
            if reason is None:  # an exception in bench itself: still leave nothing behind
                launcher.stop(self.grace, self._another_signal())
            if self.progress is not None:
                self.progress.close()
        exit_code = launcher.wait(timeout=30)
        launcher.close()
        return WatchResult(stop_reason=reason or StopReason.EXITED, exit_code=exit_code, arrival=self.arrival,
                           tail=list(tail), started_at=started, ended_at=time.monotonic(),
                           stop_iteration=stop_iteration,
                           lines_per_stream=launcher.line_counts(), batch_mismatch=self.batch_mismatch,
                           unparsed_lines=self.unparsed_lines,
                           first_unparsed=self.first_unparsed)

    def _another_signal(self):
        """True once a signal arrives after this moment: Ctrl-C again during the grace period means now."""
        seen = self.stop_request.count
        return lambda: self.stop_request.count > seen
