"""A hostile trainer: the stand-in (tests/trainer_standin.py) plus processes that try to outlive bench.

Every process it starts writes nothing to bench unless told to, ignores SIGTERM, and is listed by PID in
--pid-file ({"trainer": pid, "descendants": [pids]}) so that a test can check that none survives the run.

    python tests/hostile_trainer.py --pid-file F [--daemon pipe|redirect] [--sleeper] [--silent]
        [--malformed-at N] [--crash-after-daemon] -- <trainer_standin arguments>

--daemon pipe      double-forks a setsid() daemon that keeps the trainer's stdout and stderr open
                   (bench's pipes)
--daemon redirect  the same daemon, with its output redirected to /dev/null
--sleeper          a plain child (same session) that never writes
--silent           the trainer itself never prints and never ends (only --timeout or a signal stops it)
--malformed-at N   print one malformed torchvision progress line (`time: 1.2.3`) after the Nth progress line
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import trainer_standin

NEVER_WRITES = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "while True: time.sleep(1)\n")
MALFORMED = ("Epoch: [0]  [ 41/7330]  eta: 0:44:12  lr: 0.002018  loss: 1.5234 (2.0123)  time: 1.2.3  "
             "data: 0.0010  max mem: 4412")


def double_fork_daemon(keep_pipe: bool) -> int:
    """A daemon the classic way: fork, setsid, fork again, the middle process exits; returns the daemon's
    PID."""
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if not keep_pipe:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
            os.write(write_end, f"{os.getpid()}\n".encode())
            while True:
                time.sleep(1)
        os._exit(0)
    os.close(write_end)
    os.waitpid(middle, 0)
    daemon = int(os.read(read_end, 64))
    os.close(read_end)
    return daemon


def inject_malformed_line(after: int) -> None:
    """Make the stand-in print MALFORMED once, after its `after`-th progress line."""
    emit, seen = trainer_standin.Printer.emit, [0]

    def emit_then_malformed(self, console, file_line=None, stream=None):
        emit(self, console, file_line, stream)
        if console.startswith("Epoch:"):
            seen[0] += 1
            if seen[0] == after:
                emit(self, MALFORMED, None, stream)

    trainer_standin.Printer.emit = emit_then_malformed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pid-file", required=True)
    ap.add_argument("--daemon", choices=("pipe", "redirect"))
    ap.add_argument("--sleeper", action="store_true")
    ap.add_argument("--silent", action="store_true")
    ap.add_argument("--malformed-at", type=int)
    args, standin_args = ap.parse_known_args()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    descendants = []
    if args.daemon:
        descendants.append(double_fork_daemon(keep_pipe=args.daemon == "pipe"))
    if args.sleeper:
        descendants.append(subprocess.Popen([sys.executable, "-c", NEVER_WRITES], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL).pid)
    tmp = args.pid_file + ".tmp"
    with open(tmp, "w") as handle:
        json.dump({"trainer": os.getpid(), "descendants": descendants}, handle)
    os.replace(tmp, args.pid_file)
    if args.silent:
        while True:
            time.sleep(1)
    if args.malformed_at:
        inject_malformed_line(args.malformed_at)
    return trainer_standin.main([a for a in standin_args if a != "--"])


if __name__ == "__main__":
    sys.exit(main())
