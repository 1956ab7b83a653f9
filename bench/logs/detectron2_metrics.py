"""detectron2 `OUTPUT_DIR/metrics.json` (JSONWriter): one JSON object per line, `iteration` 0-based.

A fallback only: its `time` is the **median** of the last 20 step times (`latest_with_smoothing_hint(20)`),
not a mean, so a window built from it is an approximation and is flagged inexact. Records at iterations
19, 39, ... cover completed iterations (k + 1 - 20, k + 1]; the first one, (S + 2, S + 20], because the
first two step times of a run are not recorded. The file is opened in append mode: a resumed run continues
it, and the iteration count going backwards marks the restart (its start is taken as the 20-grid point
before the first record). Evaluation records (no `time`) are skipped. The file holds scalars only
(JSONWriter.write): nothing about the batch, so `self.batch` stays None.
"""

from __future__ import annotations

import json
import re

from bench.logs.base import LogParser
from bench.logs.common import losses
from bench.logs.types import IterationRecord, TimeSemantics

WINDOW = 20
SNIFF = re.compile(r'^\{.*"iteration": \d+.*\}$')


class Parser(LogParser):
    format = "detectron2-metrics-json"
    title = "detectron2 metrics.json (median-based fallback)"
    semantics = TimeSemantics.INTERVAL_MEDIAN
    time_meaning = "median of the last 20 iteration times (detectron2/utils/events.py JSONWriter)"
    divergence = None
    start_marker = None

    def __init__(self) -> None:
        super().__init__()
        self.start_iter = 0
        self.last_iteration = -1

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if not line.startswith("{") or '"time"' not in line:
            return None
        try:
            data = json.loads(line)
            index, step = int(data["iteration"]), float(data["time"])
        except (KeyError, TypeError):  # not a training record; an unreadable number is counted by the base
            return None  # a truncated last line, or not a training record
        if index <= self.last_iteration:  # a resumed or a new run appended to the same file
            self.start_iter = max(0, (index + 1) // WINDOW * WINDOW - WINDOW)
        self.last_iteration = index
        done = index + 1
        values = {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}
        return IterationRecord(
            iteration=done, time=step, semantics=self.semantics,
            span_start=max(self.start_iter + 2, done - WINDOW), line_no=line_no,
            data_time=values.get("data_time"), losses=losses(values), lr=values.get("lr"))

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.match(line)) and '"data_time"' in line
