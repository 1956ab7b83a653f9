"""The local launcher: the recipe's command in its own session and process group, on this machine, under a
supervisor (bench.launch.supervisor) that keeps the whole process tree contained even if bench dies.

stdout and stderr are copied byte for byte to `stdout.log` / `stderr.log` in the run directory, and a log file
the recipe names is tailed as it grows (it is written into the run's output directory, so it is kept where it
is). Capture is cheap by design: each reader thread writes the raw line, appends one row to the clock sidecar
and puts the line on a queue; parsing happens in the watcher, never in the path of the child's pipe.
The supervisor is a child subreaper, so every process of the run stays its descendant however it detaches
(double fork, setsid): stopping signals them all, and the trainer's process group besides.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

from bench.launch.base import KILL_WAIT_S, READ_SIZE, Launcher, living

# without a subreaper: how often the descendants are listed (to find those that leave the group)
TRACK_S = 0.5
START_TIMEOUT_S = 30.0  # for the supervisor to start the trainer (a Python start-up, on a loaded machine)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the supervisor imports this very copy of bench
RELEASE = b"release\n"


class LocalLauncher(Launcher):
    def __init__(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], run_dir: Path,
                 log_file: Path | None = None, grace: float = 10.0, record: Path | None = None,
                 fallback_record: Path | None = None) -> None:
        """`record` / `fallback_record`: if bench dies before it writes `record`, the supervisor installs
        `fallback_record` there, completed with what happened."""
        super().__init__(run_dir)
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env)
        self.log_file = log_file
        self.grace = grace
        self.record, self.fallback_record = record, fallback_record
        self.stdout_path = run_dir / "stdout.log"
        self.stderr_path = run_dir / "stderr.log"
        self.supervisor: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None  # the trainer's pid: it leads its own session and group
        self.containment: str | None = None  # "subreaper", or what the platform allows instead
        self._exit_code: int | None = None
        self._ended = threading.Event()  # the trainer's exit code is known (or its supervisor is gone)
        self._descendants: dict[int, psutil.Process] = {}
        self._pipes_done = threading.Event()
        self._threads: list[threading.Thread] = []

    def cleanup_argv(self) -> list[str] | None:
        """A command that removes what outlives the run's process tree if bench dies (None: nothing does)."""
        return None

    # -- starting and capturing -------------------------------------------------------------------
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stream in ("stdout", "stderr"):
            self._open_stream(stream)
        if self.log_file is not None:
            self._open_stream("file")
        self.started_at = time.monotonic()
        try:
            status = self._start_supervisor()
        except OSError:
            for stream in ("stdout", "stderr", "file"):
                self._close_stream(stream)
            raise
        pipes = [self._thread(self._read_pipe, "stdout", self.supervisor.stdout, self.stdout_path),
                 self._thread(self._read_pipe, "stderr", self.supervisor.stderr, self.stderr_path)]
        self._thread(self._await_pipes, pipes)
        self._thread(self._read_status, status)
        if self.log_file is not None:
            self._thread(self._tail_file, self.log_file)
        if not self.subreaper:
            self._thread(self._track_descendants)

    def _start_supervisor(self) -> IO[bytes]:
        """The supervisor, told what to run through its stdin (the environment may hold a token: never a
        file); returns its status pipe once it has started the trainer. An OSError says why the trainer did
        not start."""
        status_read, status_write = os.pipe()
        try:
            self.supervisor = subprocess.Popen(
                [sys.executable, "-m", "bench.launch.supervisor", str(status_write)], cwd=PACKAGE_ROOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(status_write,), start_new_session=True)
        except OSError:
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        spec = {"argv": self.command, "cwd": str(self.cwd), "env": self.env, "grace": self.grace,
                "record": str(self.record) if self.record else None,
                "fallback": str(self.fallback_record) if self.fallback_record else None,
                "cleanup": self.cleanup_argv()}
        status = os.fdopen(status_read, "rb", buffering=0)
        try:
            self.supervisor.stdin.write(json.dumps(spec).encode() + b"\n")
            self.supervisor.stdin.flush()
            word, _, rest = _read_line(status, START_TIMEOUT_S).partition(" ")
        except (OSError, TimeoutError) as exc:
            word, rest = "error", f"bench's supervisor did not start: {exc}"
        if word != "started":
            status.close()
            raise OSError(rest or self._supervisor_failure())
        pid, _, self.containment = rest.partition(" ")
        self.pgid = int(pid)
        return status

    def _supervisor_failure(self) -> str:
        """Why the supervisor ended without starting the trainer: the last line it printed."""
        try:
            _, err = self.supervisor.communicate(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            self.supervisor.kill()
            _, err = self.supervisor.communicate()
        lines = err.decode("utf-8", errors="replace").strip().splitlines()
        return ("bench's supervisor failed: "
                + (lines[-1] if lines else f"exit status {self.supervisor.returncode}"))

    def _read_status(self, status: IO[bytes]) -> None:
        """`exit CODE` from the supervisor; its end of file without one means the supervisor itself died."""
        for line in status:
            word, _, value = line.decode().strip().partition(" ")
            if word == "exit":
                self._exit_code = int(value)
                self._ended.set()
        status.close()
        if not self._ended.is_set():
            try:
                self._exit_code = self.supervisor.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                self._exit_code = None
            self._ended.set()

    @property
    def subreaper(self) -> bool:
        return self.containment == "subreaper"

    def _thread(self, target, *args) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"bench-{target.__name__}")
        thread.start()
        self._threads.append(thread)
        return thread

    def _read_pipe(self, stream: str, pipe: IO[bytes], path: Path) -> None:
        """Whatever the pipe holds, in one read: written to disk as is, then split into lines that share the
        read's arrival time. Few system calls per line, so a chatty trainer is never slowed by its pipe."""
        fd = pipe.fileno()
        pending = b""
        with open(path, "wb", buffering=0) as out:
            while chunk := os.read(fd, READ_SIZE):
                t = time.monotonic()
                out.write(chunk)
                pending = self._split(stream, pending, chunk, t)
            if pending:
                self._deliver_lines(stream, [pending.decode("utf-8", errors="replace")], time.monotonic())
        pipe.close()
        self._close_stream(stream)

    def _await_pipes(self, pipes: list[threading.Thread]) -> None:
        for thread in pipes:
            thread.join()
        self._pipes_done.set()

    def _run_over(self) -> bool:
        """The trainer has ended and its output is in: the pipes closed, or the run was stopped (a process
        that escaped with a copy of a pipe must not keep the file's tail open)."""
        return (self._pipes_done.is_set() or self.drain_deadline is not None) and self.poll() is not None

    def _track_descendants(self) -> None:
        while not self._ended.is_set():
            self._remember_descendants()
            time.sleep(TRACK_S)

    def _remember_descendants(self) -> None:
        for child in self._supervised():
            self._descendants.setdefault(child.pid, child)

    # -- the process tree -------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The trainer's exit code once it has ended (negative: the signal that ended it)."""
        return self._exit_code if self._ended.is_set() else None

    @property
    def exit_code(self) -> int | None:
        return self.poll()

    def _supervised(self) -> list[psutil.Process]:
        """The supervisor's descendants: with a subreaper, every process of the run however it detached."""
        if self.supervisor is None:
            return []
        try:
            return psutil.Process(self.supervisor.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _group(self) -> list[psutil.Process]:
        """The trainer's process group (orphans of it are outside the supervisor's tree without a
        subreaper)."""
        found = []
        for proc in psutil.process_iter():
            try:
                if os.getpgid(proc.pid) == self.pgid:
                    found.append(proc)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return found

    def members(self) -> list[psutil.Process]:
        """Every live process of the run (the supervisor aside)."""
        if self.pgid is None:
            return []
        found = {proc.pid: proc for proc in self._supervised()}
        if not self.subreaper or self.supervisor.poll() is not None:
            found.update((proc.pid, proc) for proc in self._group())
            found.update((pid, proc) for pid, proc in self._descendants.items() if proc.is_running())
        return living(found.values())

    def _alive(self) -> bool:
        return bool(self.members())

    def telemetry_root(self) -> tuple[int, bool] | None:
        """bench's supervisor: every process of the run is its descendant (it is a subreaper), and it reaps
        them; its own CPU time is the harness's, not the trainer's."""
        return (self.supervisor.pid, False) if self.supervisor is not None else None

    def _signal_all(self, sig: int) -> None:
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError, TypeError):
            pass
        for proc in self.members():  # those that left the group (one signal each, never two)
            try:
                if os.getpgid(proc.pid) != self.pgid:
                    proc.send_signal(sig)
            except (ProcessLookupError, PermissionError, psutil.Error):
                pass

    def _reap(self, timeout: float) -> int | None:
        self._ended.wait(timeout)
        return self.poll()

    def release(self) -> None:
        """The record is written: the supervisor may stop whatever is left (nothing, normally) and exit."""
        if self.supervisor is None or self.supervisor.stdin.closed:
            return
        try:
            self.supervisor.stdin.write(RELEASE)
            self.supervisor.stdin.close()
        except OSError:
            pass  # the supervisor is gone already
        try:
            self.supervisor.wait(timeout=self.grace + 2 * KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            self.supervisor.kill()
            self.supervisor.wait()


def _read_line(handle: IO[bytes], timeout: float) -> str:
    """One line from a pipe, or TimeoutError: a supervisor that hangs must not hang bench."""
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([handle], [], [], left)[0]:
            raise TimeoutError(f"no word from it in {timeout:g} s")
        byte = handle.read(1)
        if not byte:
            break
        line += byte
    return line.decode("utf-8", errors="replace").strip()
