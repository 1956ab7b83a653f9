"""How busy the machine was around a run, until the telemetry sampler (issue 25) measures the host's CPU use
over the window itself: just before the launch and just after the run has ended (when the trainer uses no
CPU), the load average (os.getloadavg, next to the CPU count) and the share of all CPUs that other processes
kept busy over SAMPLE_S seconds (psutil). The load average alone cannot tell: its one-minute figure still
holds the run before (a suite runs its members back to back) and, at the end, this run's own training.

A machine that other processes kept at least BUSY_PCT busy in either sample gives the record a `host-busy`
warning; the table marks its row."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psutil

from bench.measure.warnings import Warning_, warning
from bench.vocabulary import WarningCode

SAMPLE_S = 0.5
BUSY_PCT = 50.0  # other processes kept at least half of all CPUs busy


def sample() -> dict:
    """{"load_average": [1, 5, 15 min], "cpu_busy_pct": all CPUs' use over the next SAMPLE_S seconds}."""
    return {"load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu_busy_pct": psutil.cpu_percent(interval=SAMPLE_S)}


@dataclass
class HostLoad:
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    start: dict = field(default_factory=sample)  # taken when the object is made: before the launch
    end: dict | None = None

    def finish(self) -> None:
        """The sample after the run: call it once the trainer's processes are gone."""
        self.end = sample()

    def facts(self) -> dict:
        """What the record keeps (extra.harness.host_load)."""
        return {"cpus": self.cpus, "sample_s": SAMPLE_S, "start": self.start, "end": self.end}

    def warning(self) -> Warning_ | None:
        samples = [(when, s) for when, s in (("before the launch", self.start), ("after the run", self.end))
                   if s is not None]
        when, busiest = max(samples, key=lambda pair: pair[1]["cpu_busy_pct"])
        if busiest["cpu_busy_pct"] < BUSY_PCT:
            return None
        load = ", ".join(f"{x:g}" for x in busiest["load_average"])
        return warning(WarningCode.HOST_BUSY,
                       f"the machine was busy: other processes kept {busiest['cpu_busy_pct']:.0f} % of its "
                       f"{self.cpus} CPUs busy {when} (load average {load} over 1, 5, 15 min), which may "
                       "have slowed the run",
                       "re-run on a quiet machine, or repeat the run (--repeat 3) and look at the spread")
