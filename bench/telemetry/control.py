"""The sampler as the pipeline drives it, like the line reader: started before the launch, told the run's
process tree once the launcher has one, stopped when the run has ended, never outliving bench (see
bench.telemetry.sampler for the ways it ends)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.telemetry.sampler import DEFAULT_RATE_HZ

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the sampler imports this very copy of bench
LOG_NAME = "telemetry.log"  # the sampler's stderr; removed when empty
STOP_WAIT_S = 5.0
ROOT_POLL_S = 0.5


class SamplerProcess:
    def __init__(self, directory: Path, gpus: list[str], rate: float = DEFAULT_RATE_HZ) -> None:
        self.directory, self.gpus, self.rate = directory, gpus, rate
        self.process: subprocess.Popen[bytes] | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> SamplerProcess:
        argv = [sys.executable, "-m", "bench.telemetry.sampler", "--dir", str(self.directory),
                "--rate", f"{self.rate:g}", "--gpus", ",".join(self.gpus) or "none"]
        with open(self.directory / LOG_NAME, "wb") as log:
            # its own session: a Ctrl-C meant for bench reaches bench only, and bench stops the sampler last
            self.process = subprocess.Popen(argv, cwd=PACKAGE_ROOT, stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        return self

    def follow(self, find_root: Callable[[], tuple[int, bool] | None]) -> None:
        """Tell the sampler the run's root as soon as `find_root` knows it (asked again every ROOT_POLL_S, in
        a thread, until the run ends: a container's first process appears a moment after the launch)."""
        def ask() -> None:
            while not self._done.is_set():
                try:
                    root = find_root()
                except Exception:  # a failed look-up costs the host columns, never the run
                    root = None
                if root is not None:
                    self._send(f"root {root[0]} {'all' if root[1] else 'children'}\n")
                    return
                self._done.wait(ROOT_POLL_S)

        threading.Thread(target=ask, daemon=True, name="bench-telemetry-root").start()

    def _send(self, line: str) -> None:
        with self._lock:
            if self.process is None or self.process.stdin is None or self.process.stdin.closed:
                return
            try:
                self.process.stdin.write(line.encode("ascii"))
                self.process.stdin.flush()
            except OSError:
                pass  # the sampler is gone: its series says how far it got

    def stop(self) -> None:
        """End of file on its stdin, STOP_WAIT_S to flush and go, then SIGKILL. Idempotent."""
        self._done.set()
        if self.process is None:
            return
        with self._lock:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        log = self.directory / LOG_NAME
        if log.exists() and log.stat().st_size == 0:
            log.unlink()


def node_sampler_argv(directory: Path, gpus: int, python: str = sys.executable) -> list[str]:
    """What a Slurm batch script runs on each node (from PACKAGE_ROOT, which the nodes share with bench)."""
    return [python, "-m", "bench.telemetry.sampler", "--dir", str(directory), "--slurm",
            "--gpus", "slurm" if gpus > 0 else "none"]


def wall_minus_monotonic() -> float:
    """The offset that lays this host's monotonic clock on its wall clock (read back to back)."""
    return time.time() - time.monotonic()


def gpus_for(count: int, env: dict[str, str]) -> list[str]:
    """The NVML names of the run's GPUs: the first `count` of CUDA_VISIBLE_DEVICES (indices or UUIDs) where
    the run's environment sets it, else 0..count-1. (An index there is CUDA's, which is NVML's, the PCI bus
    order, when CUDA_DEVICE_ORDER=PCI_BUS_ID; UUIDs are unambiguous. Each GPU's UUID is in the record.)"""
    if count <= 0:
        return []
    visible = [part.strip() for part in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    return visible[:count] if visible else [str(i) for i in range(count)]

