"""The local launcher: the recipe's command in its own session and process group, on this machine.

stdout and stderr are copied byte for byte to `stdout.log` / `stderr.log` in the run directory, and a log file
the recipe names is tailed as it grows (it is written into the run's output directory, so it is kept where it
is). Capture is cheap by design: each reader thread writes the raw line, appends one row to the clock sidecar
and puts the line on a queue; parsing happens in the watcher, never in the path of the child's pipe.
Stopping signals the whole process group and every descendant seen, so grandchildren that changed their
process group are found too.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

from bench.launch.base import Launcher

FILE_POLL_S = 0.005  # how often a log file is re-read when it has not grown: bounds its clock's resolution
READ_SIZE = 1 << 16
TRACK_S = 0.5  # how often the descendants are listed (to find those that leave the process group)


class LocalLauncher(Launcher):
    def __init__(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], run_dir: Path,
                 log_file: Path | None = None) -> None:
        super().__init__(run_dir)
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env)
        self.log_file = log_file
        self.stdout_path = run_dir / "stdout.log"
        self.stderr_path = run_dir / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None
        self._descendants: dict[int, psutil.Process] = {}
        self._pipes_done = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- starting and capturing -------------------------------------------------------------------
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stream in ("stdout", "stderr"):
            self._open_stream(stream)
        if self.log_file is not None:
            self._open_stream("file")
        self.started_at = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError:
            for stream in ("stdout", "stderr", "file"):
                self._close_stream(stream)
            raise
        self.pgid = self.proc.pid  # start_new_session: the child leads its own session and group
        pipes = [self._thread(self._read_pipe, "stdout", self.proc.stdout, self.stdout_path),
                 self._thread(self._read_pipe, "stderr", self.proc.stderr, self.stderr_path)]
        self._thread(self._await_pipes, pipes)
        if self.log_file is not None:
            self._thread(self._tail_file, self.log_file)
        self._thread(self._track_descendants)

    def _thread(self, target, *args) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"bench-{target.__name__}")
        thread.start()
        self._threads.append(thread)
        return thread

    def _split(self, stream: str, pending: bytes, chunk: bytes, t: float) -> bytes:
        """Deliver the complete lines of `pending + chunk`; returns the unfinished rest."""
        data = pending + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            # b"\n" is never part of a multi-byte UTF-8 sequence, so splitting after decoding is exact; a raw line
            # ends at \n only (\r renders are the parser's business).
            text = data[:cut].decode("utf-8", errors="replace")
            self._deliver_lines(stream, [line + "\n" for line in text.split("\n")[:-1]], t)
        return data[cut:]

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

    def _tail_file(self, path: Path) -> None:
        """Follow a log file as it grows; a partial last line waits for its newline (or for the run's end)."""
        try:
            while not path.exists():
                if self._pipes_done.is_set() and self.poll() is not None:
                    return
                time.sleep(FILE_POLL_S)
            with open(path, "rb", buffering=0) as handle:
                pending = b""
                while True:
                    chunk = handle.read(READ_SIZE)
                    if chunk:
                        pending = self._split("file", pending, chunk, time.monotonic())
                        continue
                    if self._pipes_done.is_set() and self.poll() is not None:
                        rest = pending + handle.read()
                        if rest:
                            pending = self._split("file", b"", rest, time.monotonic())
                            if pending:
                                self._deliver_lines("file", [pending.decode("utf-8", errors="replace")],
                                                    time.monotonic())
                        return
                    time.sleep(FILE_POLL_S)
        finally:
            self._close_stream("file")

    def _track_descendants(self) -> None:
        while self.proc is not None and self.proc.poll() is None:
            self._remember_descendants()
            time.sleep(TRACK_S)

    def _remember_descendants(self) -> None:
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._descendants.setdefault(child.pid, child)
        except psutil.Error:
            pass

    # -- the process tree -------------------------------------------------------------------------
    def poll(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    @property
    def exit_code(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def members(self) -> list[psutil.Process]:
        """Every live process of the run: its process group, plus descendants seen that left the group."""
        found: dict[int, psutil.Process] = {}
        if self.pgid is None:
            return []
        for proc in psutil.process_iter():
            try:
                if os.getpgid(proc.pid) == self.pgid:
                    found[proc.pid] = proc
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        for pid, proc in list(self._descendants.items()):
            if pid not in found and proc.is_running():
                found[pid] = proc
        live = []
        for proc in found.values():
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    live.append(proc)
            except psutil.Error:
                continue
        return live

    def _alive(self) -> bool:
        self.poll()  # reap the main process if it ended, so it no longer counts as alive
        return bool(self.members())

    def _signal_all(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._remember_descendants()
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for proc in self.members():  # those that left the group (one signal each, never two)
            try:
                if os.getpgid(proc.pid) != self.pgid:
                    proc.send_signal(sig)
            except (ProcessLookupError, PermissionError, psutil.Error):
                pass

    def _reap(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
