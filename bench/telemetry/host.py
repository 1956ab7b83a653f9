"""The host's side of a sample: the CPU time and RSS of the trainer's whole process tree (psutil), the whole
machine's busy CPU time, and RAPL package energy where /sys/class/powercap is readable.

The tree's CPU time is cumulative and counts what psutil can see of every process of the run:
- each live process's own user + system time, plus the time of the children it has reaped (`children_user`,
  `children_system`: the kernel adds a child's whole time, its own reaped children included, to its parent
  when the parent waits for it), so a data-loader worker that ended between two samples is still counted,
  through its parent;
- the root (bench's supervisor, a subreaper: every orphan of the run is re-parented to it and reaped by it)
  counts only through its reaped children, its own time being the harness's, not the trainer's;
- a process that ended and was reaped by a process outside the tree (possible only without a subreaper) keeps
  the last time it was seen with ("lost"), so the sum never goes backwards.
The tree is listed again every DISCOVER_S (psutil walks every process of the machine to do so: a few ms, too
dear for every sample); a process born in between is counted from its next listing, with all the CPU time it
has used since it started, so no CPU second is missed, though up to DISCOVER_S of it may land late.
RSS is the sum of the live processes' resident sets: pages that forked workers share are counted once per
process (what `ps` would add up), an upper bound on the tree's memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

DISCOVER_S = 0.5
SLURM_DISCOVER_S = 2.0  # finding a job's processes reads every process's environment: less often
POWERCAP = Path("/sys/class/powercap")


def _own_time(times, include_self: bool) -> float:
    reaped = times.children_user + times.children_system
    return reaped + (times.user + times.system if include_self else 0.0)


class ProcessTree:
    """The trainer's processes: the descendants of a root pid (and the root itself when `include_root`), or,
    on a Slurm node, every process of one job (`slurm_job`), this sampler aside."""

    def __init__(self) -> None:
        self.root: int | None = None
        self.include_root = False
        self.slurm_job: str | None = None
        self.known: dict[int, psutil.Process] = {}
        self.last: dict[int, tuple[float, int]] = {}  # pid -> (its cumulative CPU s, its parent's pid)
        self.lost = 0.0
        self.reported = 0.0
        self.next_discovery = 0.0

    @property
    def scope(self) -> str | None:
        if self.slurm_job is not None:
            return f"the processes of Slurm job {self.slurm_job} on this node (found by SLURM_JOB_ID)"
        if self.root is None:
            return None
        return (f"pid {self.root} and its descendants" if self.include_root
                else f"the descendants of pid {self.root} (bench's supervisor, which reaps every orphan of "
                     "the run; its own time is not counted)")

    def set_root(self, pid: int, include_root: bool) -> None:
        self.root, self.include_root, self.next_discovery = pid, include_root, 0.0

    def follow_slurm_job(self, job_id: str) -> None:
        self.slurm_job, self.next_discovery = job_id, 0.0

    def _discover(self) -> list[psutil.Process]:
        if self.slurm_job is not None:
            return _job_processes(self.slurm_job)
        try:
            root = psutil.Process(self.root)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self, now: float) -> tuple[float | None, float | None, int]:
        """(cumulative CPU seconds, RSS in MB, live processes), or (None, None, 0) before there is a tree."""
        if self.root is None and self.slurm_job is None:
            return None, None, 0
        if now >= self.next_discovery:
            self.next_discovery = now + (SLURM_DISCOVER_S if self.slurm_job else DISCOVER_S)
            for proc in self._discover():
                self.known.setdefault(proc.pid, proc)
        total, rss, alive = 0.0, 0, 0
        seen: dict[int, tuple[float, int]] = {}
        for pid, proc in list(self.known.items()):
            include_self = self.include_root or pid != self.root or self.slurm_job is not None
            try:
                with proc.oneshot():
                    cpu = _own_time(proc.cpu_times(), include_self)
                    parent = proc.ppid()
                    try:
                        rss += proc.memory_info().rss if include_self else 0
                        alive += 1
                    except psutil.ZombieProcess:
                        pass
            except psutil.Error:  # gone (accounted for below), or not ours to read
                continue
            seen[pid] = (cpu, parent)
            total += cpu
        for pid, (cpu, parent) in self.last.items():
            # ended and reaped: its time went to its parent, unless the parent is not one of ours
            if pid not in seen and parent not in seen:
                self.lost += cpu
        for pid in [pid for pid in self.known if pid not in seen]:
            del self.known[pid]
        self.last = seen
        # a reap between reading the parent and the child hides the child's time for one sample: never
        # report less than before
        self.reported = max(self.reported, total + self.lost)
        return self.reported, rss / 2**20, alive


def _job_processes(job_id: str) -> list[psutil.Process]:
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        try:
            if proc.pid != me and proc.environ().get("SLURM_JOB_ID") == job_id:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores; idle and I/O wait excluded)."""
    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


class Rapl:
    """RAPL package energy (intel-rapl:N, whose `name` is package-N), cumulative joules since the first read,
    each counter's wrap at max_energy_range_uj undone (as Zeus does). `unavailable` says why there is none."""

    def __init__(self, root: Path = POWERCAP) -> None:
        self.domains: list[tuple[str, Path, float]] = []  # (name, energy_uj file, wrap range in uJ)
        self.last: dict[str, float] = {}
        self.total_uj = 0.0
        self.unavailable: str | None = None
        packages = sorted(root.glob("intel-rapl:*")) if root.is_dir() else []
        packages = [p for p in packages if p.name.count(":") == 1]
        if not packages:
            self.unavailable = f"no RAPL package domain under {root}"
            return
        for domain in packages:
            try:
                name = (domain / "name").read_text().strip()
                wrap = float((domain / "max_energy_range_uj").read_text())
                self.last[name] = float((domain / "energy_uj").read_text())
            except (OSError, ValueError) as exc:
                self.unavailable = (f"{domain / 'energy_uj'} is not readable ({type(exc).__name__}; on Linux "
                                    "5.10 and later only root may read it)")
                self.domains = []
                return
            self.domains.append((name, domain / "energy_uj", wrap))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.domains]

    def joules(self) -> float | None:
        if not self.domains:
            return None
        for name, path, wrap in self.domains:
            try:
                raw = float(path.read_text())
            except (OSError, ValueError):
                continue
            step = raw - self.last[name]
            self.total_uj += step if step >= 0 else step + wrap
            self.last[name] = raw
        return self.total_uj / 1e6
