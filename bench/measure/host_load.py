"""How busy other processes kept the machine around a run, until the telemetry sampler (issue 25) measures the
host's CPU use over the window itself. Two spans: from the start of `bench run`'s work on this run to the
launch ("before"), and from the launch to the end of the run ("during"). Over each: the CPU time the whole
machine spent (psutil.cpu_times), minus bench's own and its children's (os.times for those it has reaped;
psutil for its live ones, with what they reaped: the supervisor holds the trainer's and its workers' once they
have exited), as a share of all CPUs; and the load average at each end (os.getloadavg, beside the CPU count).
Nothing blocks and nothing samples in a thread.

The load average alone cannot tell: its one-minute figure still holds the run before (a suite runs its
members back to back), and at the end this run's own training. A container run's trainer is the engine's
child, not bench's: its "during" share would count it as someone else's, so only "before" is kept.

Other processes holding at least BUSY_PCT of all CPUs in either span give the record a `host-busy` warning;
the table marks its row."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

from bench.measure.warnings import Warning_, warning
from bench.vocabulary import WarningCode

BUSY_PCT = 50.0  # other processes kept at least half of all CPUs busy
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")  # not guest: Linux counts it in user


@dataclass(frozen=True)
class Snapshot:
    wall: float
    machine_cpu_s: float  # CPU seconds the whole machine has been busy since boot
    own_cpu_s: float  # bench's, its exited children's, and its live children's with what they reaped
    load_average: tuple[float, float, float]

    @classmethod
    def now(cls) -> Snapshot:
        times, own = psutil.cpu_times(), os.times()
        return cls(time.monotonic(), sum(getattr(times, name, 0.0) for name in BUSY_FIELDS),
                   own.user + own.system + own.children_user + own.children_system + _live_children_cpu_s(),
                   os.getloadavg())


def _live_children_cpu_s() -> float:
    """CPU seconds of bench's children that it has not reaped yet, each with the children it reaped itself.
    bench's supervisor lives until the record is written and reaps the trainer: without this, the trainer's
    CPU would count as another process's."""
    total = 0.0
    for child in psutil.Process().children():
        try:
            cpu = child.cpu_times()
        except psutil.Error:
            continue  # gone between the listing and the read: reaped, so in os.times()
        total += cpu.user + cpu.system + cpu.children_user + cpu.children_system
    return total


def span(a: Snapshot, b: Snapshot, cpus: int, others_known: bool = True) -> dict:
    """The span from a to b: its length, the share of all CPUs other processes used, the load averages."""
    seconds = b.wall - a.wall
    share = None
    if others_known and seconds > 0:
        others = (b.machine_cpu_s - a.machine_cpu_s) - (b.own_cpu_s - a.own_cpu_s)
        share = round(min(100.0, max(0.0, 100 * others / (seconds * cpus))), 1)
    return {"seconds": round(seconds, 3), "others_cpu_pct": share,
            "load_average": {"start": [round(x, 2) for x in a.load_average],
                             "end": [round(x, 2) for x in b.load_average]}}


@dataclass
class HostLoad:
    """Made when `bench run` starts work on a run; `launched()` just before the launch, `finish()` once the
    run's processes have been waited for."""

    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    begun: Snapshot = field(default_factory=Snapshot.now)
    at_launch: Snapshot | None = None
    spans: dict[str, dict] = field(default_factory=dict)

    def launched(self) -> None:
        self.at_launch = Snapshot.now()
        self.spans["before"] = span(self.begun, self.at_launch, self.cpus)

    def finish(self, trainer_is_our_child: bool) -> None:
        if self.at_launch is not None:
            self.spans["during"] = span(self.at_launch, Snapshot.now(), self.cpus, trainer_is_our_child)

    def facts(self) -> dict:
        """What the record keeps (extra.harness.host_load)."""
        return {"cpus": self.cpus, **self.spans}

    def warning(self) -> Warning_ | None:
        shares = [(name, s["others_cpu_pct"]) for name, s in self.spans.items()
                  if s["others_cpu_pct"] is not None]
        if not shares:
            return None
        name, busiest = max(shares, key=lambda pair: pair[1])
        if busiest < BUSY_PCT:
            return None
        load = ", ".join(f"{x:g}" for x in self.spans[name]["load_average"]["end"])
        when = "before the launch" if name == "before" else "during the run"
        return warning(WarningCode.HOST_BUSY,
                       f"the machine was busy: other processes used {busiest:.0f} % of its {self.cpus} CPUs "
                       f"{when} (load average {load} over 1, 5, 15 min), which may have slowed the run",
                       "re-run on a quiet machine, or repeat the run (--repeat 3) and look at the spread")
