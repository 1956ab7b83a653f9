"""The run's supervisor: a small process between bench and the trainer that keeps the run's whole process tree
contained, whatever happens to bench (even SIGKILL, which bench itself cannot react to).

The local launcher starts `python -m bench.launch.supervisor STATUS_FD` in its own session, with the pipes
that bench captures as its stdout/stderr and a control pipe as its stdin. The first line on stdin is a JSON
spec (argv, cwd, env, grace, record, fallback): it comes through a pipe, never a file, because the trainer's
environment may hold a token. Then the supervisor
- makes itself a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`): a process of the run that detaches (double
  fork, setsid) is re-parented to it instead of PID 1, so it stays a descendant that can be listed and killed;
- starts the trainer in a session of its own with `PR_SET_PDEATHSIG` = SIGKILL: the trainer dies with it;
- gives its own copies of the output pipes up, so that they close when the run's processes are gone;
- reports on STATUS_FD: `started PID CONTAINMENT`, then `exit CODE` when the trainer ends (or
  `error MESSAGE`);
- reaps every process re-parented to it;
- on end of file on stdin (`release` first: bench has written the record; no `release`: bench died) or on
  SIGTERM/SIGINT/SIGHUP, stops what is left (SIGTERM, grace, SIGKILL), runs the launcher's cleanup command
  when bench did not release the run (a container the engine still runs), and, if there is still no record,
  installs the fallback record bench prepared at launch, saying what happened. Then it exits.
Where the platform has no subreaper, it says so in CONTAINMENT and contains what a process group can.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from bench.launch.base import escalate, living
from bench.vocabulary import StopReason

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
RELEASE = b"release\n"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
CLEANUP_TIMEOUT_S = 60.0


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


LIBC = _libc()


def prctl(option: int, value: int) -> bool:
    """True when the Linux prctl call succeeded; False on any other platform."""
    return LIBC is not None and LIBC.prctl(option, value, 0, 0, 0) == 0


def containment() -> str:
    """What this process can guarantee about its descendants (also said in every record)."""
    if prctl(PR_SET_CHILD_SUBREAPER, 1):
        return "subreaper"
    return (f"process-group-only({sys.platform}: no PR_SET_CHILD_SUBREAPER; a process that detaches may "
            "escape)")


def _die_with(parent: int):
    """preexec_fn of the trainer: SIGKILL when its parent (this supervisor) dies, even if it already has."""
    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the supervisor died between fork and prctl
            os.kill(os.getpid(), signal.SIGKILL)
    return set_parent_death_signal


def descendants() -> list[psutil.Process]:
    """This process's live descendants."""
    return living(psutil.Process().children(recursive=True))


class Supervisor:
    def __init__(self, spec: dict, status_fd: int) -> None:
        self.spec, self.status_fd = spec, status_fd
        self.trainer: int | None = None
        self.exit_code: int | None = None
        self.stop_signal: int | None = None

    def report(self, *words: object) -> None:
        try:
            os.write(self.status_fd, (" ".join(str(w) for w in words) + "\n").encode())
        except OSError:
            pass  # bench is gone: nobody to tell

    def start(self) -> bool:
        kind = containment()
        try:
            proc = subprocess.Popen(self.spec["argv"], cwd=self.spec["cwd"], env=self.spec["env"],
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_die_with(os.getpid()))
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self.report("error", str(exc).replace("\n", " "))
            return False
        self.trainer = proc.pid
        self.report("started", proc.pid, kind)
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(devnull, fd)  # the pipes now close when the run's own processes are gone
        os.close(devnull)
        return True

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.trainer:
                self.exit_code = os.waitstatus_to_exitcode(status)
                self.report("exit", self.exit_code)

    def watch(self, control: int, received: bytes = b"") -> bool:
        """Reap until bench releases the run (True) or is gone or a stop signal arrives (False).
        `received`: what was read from stdin after the spec."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_stop_signal)
        while self.stop_signal is None:
            ready, _, _ = select.select([control, wake_read], [], [], 1.0)
            if wake_read in ready:
                os.read(wake_read, 512)
            self.reap()
            if control in ready:
                chunk = os.read(control, 4096)
                if not chunk:
                    return received.endswith(RELEASE)
                received = (received + chunk)[-len(RELEASE):]
        return False

    def _on_stop_signal(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        self.stop_signal = signum

    def stop_all(self) -> None:
        def signal_all(sig: int) -> None:
            for proc in descendants():
                try:
                    proc.send_signal(sig)
                except psutil.Error:
                    pass
            if self.trainer is not None:
                try:
                    # where there is no subreaper, the group is what can be found
                    os.killpg(self.trainer, sig)
                except (ProcessLookupError, PermissionError):
                    pass

        def alive() -> bool:
            self.reap()
            return bool(descendants())

        escalate(signal_all, alive, float(self.spec.get("grace", 10.0)))
        self.reap()

    def clean_up(self, released: bool) -> None:
        """What outlives the process tree when bench cannot remove it itself (a container, which the engine's
        daemon runs, not this tree): the launcher's cleanup command, bounded."""
        cleanup = self.spec.get("cleanup")
        if released or not cleanup:
            return
        try:
            subprocess.run(cleanup, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=CLEANUP_TIMEOUT_S, env=self.spec["env"])
        except (OSError, subprocess.SubprocessError):
            pass

    def install_fallback(self, released: bool) -> None:
        """The record bench prepared at launch, completed with what happened, unless bench wrote one."""
        record, fallback = self.spec.get("record"), self.spec.get("fallback")
        if not record or not fallback or Path(record).exists() or not Path(fallback).exists():
            return
        data = json.loads(Path(fallback).read_text(encoding="utf-8"))
        if released:
            why, reason = (StopReason.BENCH_ERROR,
                           "bench ended without writing the run's record (an internal error of bench)")
        elif self.stop_signal is not None:
            why = StopReason.SUPERVISOR_SIGNALLED
            reason = (f"bench's supervisor received {signal.Signals(self.stop_signal).name} and stopped "
                      "the run")
        else:
            why = StopReason.BENCH_KILLED
            reason = ("bench itself was killed mid-run (SIGKILL or a crash): its supervisor stopped the run; "
                      "output after that was not captured")
        data["reason"], data["exit_code"] = reason, self.exit_code
        data.setdefault("extra", {}).setdefault("harness", {})["stop_reason"] = why.value
        install_if_absent(Path(record), json.dumps(data, indent=2) + "\n")


def install_if_absent(path: Path, text: str) -> None:
    """Write `path` atomically unless it exists: link(2) never replaces, so a record bench wrote meanwhile
    wins."""
    tmp = path.with_name(f".{path.name}.supervisor.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    status_fd = int(argv[0])
    control = sys.stdin.fileno()
    data = b""
    while b"\n" not in data:
        chunk = os.read(control, 1 << 16)
        if not chunk:
            return 1  # bench went away before it said what to run
        data += chunk
    line, rest = data.split(b"\n", 1)
    supervisor = Supervisor(json.loads(line), status_fd)
    if not supervisor.start():
        return 127
    released = supervisor.watch(control, rest)
    supervisor.stop_all()
    supervisor.clean_up(released)
    supervisor.install_fallback(released)
    return 0


if __name__ == "__main__":
    sys.exit(main())
