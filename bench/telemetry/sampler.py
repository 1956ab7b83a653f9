"""The sampler: a process of its own beside a run (off the trainer's and the line reader's paths), sampling
the host and the GPUs RATE times a second into the series (bench.telemetry.series) until it is told to stop.

    python -m bench.telemetry.sampler --dir RUN_DIR [--rate 12] [--gpus 0,1|none|slurm] [--slurm]
                                      [--full-rows N] [--max-rows N]

Beside `bench run` it is bench's child: bench writes `root PID children|all` on its stdin once the run's
process tree has a root (bench's supervisor; a container's first process), and closes stdin to stop it. It
also stops on SIGTERM, SIGINT or SIGHUP, and when bench dies: end of file on stdin (bench's end of the pipe
closes with bench, whatever killed it) and, on Linux, PR_SET_PDEATHSIG. On a Slurm node (`--node --no-stdin`,
started by the batch script, one per node, `--slurm`) it names its files after the node, follows the
processes of the job (SLURM_JOB_ID), samples the job's GPUs on the node, ignores stdin and ends with the
job's steps (SIGTERM from Slurm). Stopping flushes the series and completes the meta; nothing else is left
behind."""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

import psutil

from bench.telemetry.gpu import GpuUnavailable, NvmlGpus
from bench.telemetry.host import ProcessTree, Rapl, machine_busy_seconds
from bench.telemetry.series import (FULL_ROWS, MAX_ROWS, META_FORMAT, SeriesWriter, columns_for, series_paths,
                                    write_meta)

# 10 Hz or more, with room: a sample that a loaded machine delays must not take the window's rate below 10
DEFAULT_RATE_HZ = 12.0
RESYNC_S = 1.0  # further behind its schedule than this, the sampler starts a new one instead of catching up
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGTERM to this process when its parent dies (Linux), so that it never outlives bench."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def slurm_gpus() -> list[str]:
    """The GPUs Slurm gave this job on this node (its ids are the nodes' device minors, NVML's order on
    the usual single-root systems); every GPU NVML sees when Slurm says none."""
    for name in ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL"):
        value = os.environ.get(name, "")
        if value and all(part.strip().isdigit() for part in value.split(",")):
            return [part.strip() for part in value.split(",")]
    return ["all"]


class Sampler:
    def __init__(self, directory: Path, rate: float, gpus: list[str], node: str | None,
                 full_rows: int = FULL_ROWS, max_rows: int = MAX_ROWS) -> None:
        self.interval = 1.0 / rate
        self.rate = rate
        self.tree = ProcessTree()
        self.rapl = Rapl()
        self.series_path, self.meta_path = series_paths(directory, node)
        self.gpus: NvmlGpus | None = None
        self.gpu_unavailable: str | None = None
        if not gpus:
            self.gpu_unavailable = "the run uses no GPU"
        else:
            try:
                self.gpus = NvmlGpus(gpus)
            except GpuUnavailable as exc:
                self.gpu_unavailable = str(exc)
        indices = [gpu.index for gpu in self.gpus.gpus] if self.gpus else []
        self.writer = SeriesWriter(self.series_path, columns_for(indices), full_rows, max_rows)
        self.meta = {"format": META_FORMAT, "version": 1, "pid": os.getpid(), "node": node,
                     "host": socket.gethostname(), "rate_hz": rate, "cpus": psutil.cpu_count() or 1,
                     "wall_minus_monotonic": time.time() - time.monotonic(),
                     "gpus": self.gpus.facts() if self.gpus else [], "gpu_unavailable": self.gpu_unavailable,
                     "rapl": self.rapl.names, "rapl_unavailable": self.rapl.unavailable,
                     "host_scope": None, "sources": self.sources(), "ended": None}
        write_meta(self.meta_path, self.meta)
        self.stopping = False
        self.last_cpu: tuple[float, float] | None = None
        self.started = time.monotonic()

    def sources(self) -> list[str]:
        return ["psutil"] + (["nvml"] if self.gpus else []) + (["rapl"] if self.rapl.domains else [])

    def sample(self) -> dict:
        now = time.monotonic()
        row: dict = {"t": now, "wall": time.time()}
        cpu_s, rss_mb, processes = self.tree.sample(now)
        if cpu_s is not None:
            if self.last_cpu is not None and now > self.last_cpu[0]:
                row["cpu_percent"] = 100 * (cpu_s - self.last_cpu[1]) / (now - self.last_cpu[0])
            self.last_cpu = (now, cpu_s)
            row.update(cpu_s=cpu_s, rss_mb=rss_mb, processes=processes)
        row["machine_busy_s"] = machine_busy_seconds()
        row["rapl_j"] = self.rapl.joules()
        if self.gpus is not None:
            row.update(self.gpus.sample(now, lambda: set(self.tree.known)))
        return row

    def command(self, line: str) -> None:
        """`root PID children|all` (the run's tree); anything else is ignored."""
        words = line.split()
        if len(words) == 3 and words[0] == "root" and words[1].isdigit():
            self.tree.set_root(int(words[1]), include_root=words[2] == "all")
            self.meta["host_scope"] = self.tree.scope
            write_meta(self.meta_path, self.meta)

    def follow_slurm_job(self, job_id: str) -> None:
        self.tree.follow_slurm_job(job_id)
        self.meta["host_scope"] = self.tree.scope
        write_meta(self.meta_path, self.meta)

    def run(self, control: int | None) -> None:
        pending = b""
        deadline = time.monotonic()
        while not self.stopping:
            self.writer.offer(self.sample())
            deadline += self.interval  # an absolute schedule: a late sample is caught up, the rate is kept
            if time.monotonic() - deadline > RESYNC_S:
                deadline = time.monotonic()
            while not self.stopping and (left := deadline - time.monotonic()) > 0:
                if control is None:
                    time.sleep(left)
                    continue
                ready = select.select([control], [], [], left)[0]
                if not ready:
                    continue
                chunk = os.read(control, 4096)
                if not chunk:  # bench closed its end, or died
                    self.stopping = True
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self.command(line.decode("ascii", errors="replace"))

    def close(self) -> None:
        self.writer.close()
        if self.gpus is not None:
            self.gpus.close()
        own = os.times()  # what sampling cost: this process's CPU, its start-up included
        self.meta.update(self.writer.bounds(), ended=time.time(), own_cpu_s=own.user + own.system,
                         lifetime_s=time.monotonic() - self.started)
        write_meta(self.meta_path, self.meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.telemetry.sampler", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True, help="where the series and its meta are written")
    ap.add_argument("--rate", type=float, default=DEFAULT_RATE_HZ, help="samples per second")
    ap.add_argument("--gpus", default="none",
                    help="NVML indices or UUIDs (comma-separated), 'none', or 'slurm' (the job's GPUs here)")
    ap.add_argument("--slurm", action="store_true",
                    help="a step of a Slurm job: the node's files, the job's processes, stop on signals only")
    ap.add_argument("--full-rows", type=int, default=FULL_ROWS)
    ap.add_argument("--max-rows", type=int, default=MAX_ROWS)
    args = ap.parse_args(argv)
    if args.rate <= 0:
        ap.error("--rate must be positive")
    die_with_parent()
    gpus = (slurm_gpus() if args.gpus == "slurm" else
            [] if args.gpus == "none" else [g.strip() for g in args.gpus.split(",") if g.strip()])
    node = (os.environ.get("SLURMD_NODENAME") or socket.gethostname()) if args.slurm else None
    sampler = Sampler(args.dir, args.rate, gpus, node, args.full_rows, args.max_rows)

    def stop(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
        sampler.stopping = True

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    job = os.environ.get("SLURM_JOB_ID")
    if args.slurm and job:
        sampler.follow_slurm_job(job)
    try:
        sampler.run(None if args.slurm else sys.stdin.fileno())
    finally:
        sampler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
