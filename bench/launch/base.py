"""The launcher base class: start a run, stream its lines with their arrival times, stop it, wait for it.

A subclass knows how to start and signal its processes (a local process group, a Kubernetes pod) and feeds
every line it captures into `_deliver`. The watcher only consumes `lines()`: an iterator of `Line`s, with
`None` heartbeats when nothing arrived for a while so that it can look at its clocks (timeout, Ctrl-C).
Arrival times are on `time.monotonic()`: the harness clock.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import psutil

CLOCK_NAME = "clock.tsv"  # the sidecar: one row per captured line, "stream<TAB>line_no<TAB>monotonic seconds"
KILL_WAIT_S = 5.0  # after SIGKILL: how long to keep killing (a process forked meanwhile) before giving up
KILL_REPEAT_S = 0.2
DRAIN_S = 1.0  # after the run's processes are gone: how long its captured output may still take to arrive
FILE_POLL_S = 0.005  # how often a log file is re-read when it has not grown: bounds its clock's resolution
READ_SIZE = 1 << 16
MAX_PENDING = 1 << 18  # bytes of an unfinished line kept (a parser reads at most bench.logs.lines.MAX_LINE)


@dataclass(frozen=True, slots=True)
class Line:
    stream: str  # "stdout", "stderr" or "file"
    line_no: int  # 1-based within its stream
    raw: str  # as read (decoded with errors="replace"), newline kept
    t: float  # time.monotonic() when the line arrived


class ClockWriter:
    """Appends (stream, line_no, t) rows to the sidecar file; shared by the capture threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # line-buffered: on disk at once
        self._handle: TextIO = open(path, "w", encoding="ascii", buffering=1)
        self._handle.write("# stream\tline_no\tmonotonic_s\n")

    def write(self, stream: str, first_line_no: int, count: int, t: float) -> None:
        """Rows for lines first_line_no .. first_line_no + count - 1, which all arrived at `t`."""
        rows = "".join(f"{stream}\t{n}\t{t:.6f}\n" for n in range(first_line_no, first_line_no + count))
        with self._lock:
            if not self._handle.closed:
                self._handle.write(rows)

    def close(self) -> None:
        with self._lock:
            self._handle.close()


def living(processes) -> list[psutil.Process]:
    """The processes that still run (a zombie is dead: it only waits to be reaped)."""
    live = []
    for proc in processes:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                live.append(proc)
        except psutil.Error:
            continue
    return live


def never() -> bool:
    return False


def escalate(signal_all: Callable[[int], None], alive: Callable[[], bool], grace: float,
             cut_short: Callable[[], bool] = never) -> None:
    """SIGTERM to every process, up to `grace` seconds to end (less if `cut_short()` turns true: a second
    Ctrl-C), then SIGKILL, repeated until none is left or KILL_WAIT_S passed. Every wait here is bounded."""
    if not alive():
        return
    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline and not cut_short():
        time.sleep(0.02)
    deadline, next_kill = time.monotonic() + KILL_WAIT_S, 0.0
    while alive() and time.monotonic() < deadline:
        if time.monotonic() >= next_kill:  # again every KILL_REPEAT_S: a process forked meanwhile dies too
            signal_all(signal.SIGKILL)
            next_kill = time.monotonic() + KILL_REPEAT_S
        time.sleep(0.02)


class Launcher(ABC):
    """Generic over where the run executes. Subclasses implement `start`, `poll`, `_signal_all`, `_alive`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.clock = ClockWriter(run_dir / CLOCK_NAME)
        self._queue: queue.Queue[Line | str] = queue.Queue()
        self._open_streams: set[str] = set()
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.started_at: float | None = None  # monotonic
        self.stopped_by_harness = False
        self.drain_deadline: float | None = None  # once the processes are gone: when to stop reading

    # -- what a subclass provides --------------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Start the run; from now on, captured lines arrive through `_deliver`."""

    @abstractmethod
    def poll(self) -> int | None:
        """The exit code once the run's main process has ended, else None."""

    @abstractmethod
    def _signal_all(self, sig: int) -> None:
        """Send `sig` to every process of the run."""

    @abstractmethod
    def _alive(self) -> bool:
        """True while any process of the run is still running."""

    @abstractmethod
    def _reap(self, timeout: float) -> int | None:
        """Wait for the main process to end; its exit code, or None if it did not end in time."""

    # -- capture plumbing for subclasses ---------------------------------------------------------
    def _open_stream(self, stream: str) -> None:
        with self._lock:
            self._open_streams.add(stream)
            self._counts.setdefault(stream, 0)

    def _deliver(self, stream: str, raw: str, t: float) -> None:
        """Called by a capture thread for each line, right after it wrote the raw bytes to disk."""
        self._deliver_lines(stream, [raw], t)

    def _deliver_lines(self, stream: str, raws: list[str], t: float) -> None:
        """Several lines that arrived together (one read): one clock write, one line number each."""
        if not raws:
            return
        with self._lock:
            first = self._counts[stream] + 1
            self._counts[stream] += len(raws)
        self.clock.write(stream, first, len(raws), t)
        for offset, raw in enumerate(raws):
            self._queue.put(Line(stream, first + offset, raw, t))

    def _close_stream(self, stream: str) -> None:
        self._queue.put(stream)  # a marker: this stream has ended

    def _split(self, stream: str, pending: bytes, chunk: bytes, t: float) -> bytes:
        """Deliver the complete lines of `pending + chunk`; returns the unfinished rest, at most MAX_PENDING
        bytes of it: the rest of a longer line is dropped here (the log on disk keeps it whole), so a line of
        100 MB without a newline costs one pass over its bytes, not one copy per read."""
        if len(pending) >= MAX_PENDING:
            end = chunk.find(b"\n")
            if end < 0:
                return pending  # still inside the overlong line
            chunk = chunk[end:]
        data = pending + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            # b"\n" is never part of a multi-byte UTF-8 sequence, so splitting after decoding is exact; a raw
            # line ends at \n only (\r renders are the parser's business).
            text = data[:cut].decode("utf-8", errors="replace")
            self._deliver_lines(stream, [line + "\n" for line in text.split("\n")[:-1]], t)
        return data[cut:cut + MAX_PENDING]

    def _run_over(self) -> bool:
        """The run has ended and its output is in: a followed file's tail may be read one last time."""
        return self.poll() is not None

    def _tail_file(self, path: Path, stream: str = "file") -> None:
        """Follow a log file as it grows; a partial last line waits for its newline (or for the run's end)."""
        try:
            while not path.exists():
                if self._run_over():
                    return
                time.sleep(FILE_POLL_S)
            with open(path, "rb", buffering=0) as handle:
                pending = b""
                while True:
                    chunk = handle.read(READ_SIZE)
                    if chunk:
                        pending = self._split(stream, pending, chunk, time.monotonic())
                        continue
                    if self._run_over():
                        rest = pending + handle.read()
                        if rest:
                            pending = self._split(stream, b"", rest, time.monotonic())
                            if pending:
                                self._deliver_lines(stream, [pending.decode("utf-8", errors="replace")],
                                                    time.monotonic())
                        return
                    time.sleep(FILE_POLL_S)
        finally:
            self._close_stream(stream)

    # -- what the watcher uses -----------------------------------------------------------------
    def line_counts(self) -> dict[str, int]:
        """Lines captured so far, per stream."""
        with self._lock:
            return dict(self._counts)

    def lines(self, heartbeat: float = 0.2) -> Iterator[Line | None]:
        """Every captured line in arrival order; `None` after `heartbeat` seconds without one. Ends when
        every stream has ended and the run's processes are gone (the captures drained), or DRAIN_S after the
        processes were stopped: a process that escaped with a copy of the pipe cannot hold the watcher."""
        while True:
            with self._lock:
                streams_ended = not self._open_streams and self._queue.empty()
            # a trainer may close its stdout and stderr and keep working: the run ends when it does
            if streams_ended and (self.poll() is not None or not self._alive()):
                return
            if self.drain_deadline is not None and time.monotonic() > self.drain_deadline:
                return
            if streams_ended:
                time.sleep(heartbeat)
                yield None
                continue
            try:
                item = self._queue.get(timeout=heartbeat)
            except queue.Empty:
                yield None
                continue
            if isinstance(item, str):
                with self._lock:
                    self._open_streams.discard(item)
                continue
            yield item

    def stop(self, grace: float = 10.0, cut_short: Callable[[], bool] = never) -> int | None:
        """The harness ends the run: SIGTERM to every process of it, `grace` seconds to finish, then SIGKILL.
        Returns the main process's exit code."""
        self.stopped_by_harness = True
        return self.terminate(grace, cut_short)

    def terminate(self, grace: float = 10.0, cut_short: Callable[[], bool] = never) -> int | None:
        """Make sure no process of the run is left (also after the main process ended on its own)."""
        escalate(self._signal_all, self._alive, grace, cut_short)
        if self.drain_deadline is None:
            self.drain_deadline = time.monotonic() + DRAIN_S
        return self._reap(timeout=KILL_WAIT_S)

    def wait(self, timeout: float | None = None) -> int | None:
        return self._reap(timeout=timeout if timeout is not None else 1e9)

    def close(self) -> None:
        self.clock.close()

    def finish_record(self, record):
        """The record with what only this launcher knows (a scheduler's job and its state); as is by
        default."""
        return record

    def release(self) -> None:
        """The run's record is written: whatever still watches over the run (a supervisor) may go."""

    def telemetry_root(self) -> tuple[int, bool] | None:
        """The root of the run's process tree on this host for the telemetry sampler: (pid, whether the root
        itself is the trainer's), or None while there is none (or none here: a Slurm job's are on its
        nodes)."""
        return None
