"""torchvision `references/detection` MetricLogger.log_every (also the built-in benchmark's format).

`Epoch: [0]  [ 100/7329]  eta: 0:44:12  lr: 0.002018  loss: 1.5234 (2.0123)  ...  time: 0.3621  data: 0.0112
max mem: 4412`. The index is 0-based within the epoch; `time` is the mean of the last 20 iteration times
(SmoothedValue(window_size=20), a new MetricLogger each epoch), printed every `--print-freq` (20) iterations.
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.types import IterationRecord, TimeSemantics

LINE = re.compile(r"^Epoch: \[(\d+)\]\s+\[\s*(\d+)/(\d+)\]\s+eta: (.+?)\s{2}(.*?)\s{2}time: ([0-9.]+)\s{2}"
                  r"data: ([0-9.]+)(?:\s{2}max mem: (\d+))?")
METER = re.compile(r"(\w+): (-?[0-9.]+|nan|inf|-inf)(?: \((-?[0-9.]+|nan|inf|-inf)\))?")
WINDOW = 20  # SmoothedValue's window in log_every


class Parser(LogParser):
    format = "torchvision"
    title = "torchvision references/detection MetricLogger"
    semantics = TimeSemantics.INTERVAL_MEAN
    time_meaning = "mean of the last 20 iteration times (references/detection/utils.py MetricLogger.log_every)"
    divergence = re.compile(r"Loss is \S+, stopping training")
    start_marker = re.compile(r"^Start training$")

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        match = LINE.match(line)
        if not match:
            return None
        epoch, index, length = int(match[1]), int(match[2]), int(match[3])
        offset = epoch * length
        done = index + 1
        meters = {m[1]: float(m[2]) for m in METER.finditer(match[5])}
        lr = meters.pop("lr", None)
        return IterationRecord(
            iteration=offset + done, time=float(match[6]), semantics=self.semantics,
            span_start=offset + max(0, done - WINDOW), line_no=line_no, epoch=epoch,
            data_time=float(match[7]), losses={k: v for k, v in meters.items() if k.startswith("loss")},
            lr=lr, memory_mb=float(match[8]) if match[8] else None)

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(LINE.match(line))
