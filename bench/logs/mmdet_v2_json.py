"""mmdetection 2.x `<work_dir>/<timestamp>.log.json` (mmcv TextLoggerHook `_dump_log`), rank 0 only.

One JSON object per line: first `runner.meta` (`env_info`, `seed`, ...), then `{"mode": "train", "epoch": 1,
"iter": 100, "lr": ..., "time": 0.30215, "data_time": ..., "memory": ..., <losses>}` per text line (floats
rounded to 5 decimals, so better than the text log's `.3f`), and `"mode": "val"` records. `time` means what it
means in the text log: the mean of the last `interval` iteration times of the epoch. The file does not carry
the epoch length; epoch 1 is exact and later epochs are placed after the largest iteration seen in the epoch
before (see `EpochOffsets`). An iteration-based runner (iter keeps growing across `epoch`) is global already.

Batch: the first line's `"config"` is `cfg.pretty_text` (tools/train.py `meta['config']` from 2.4.0, pull
request #3534; read at 1c471257) and its `"env_info"` the environment block with the mmdetection version;
both are read as the text log's are (`mmdet_v2.MmcvConfigReader`, which cites the rules). The file does not
say whether a launcher was used, so before 2.7.0 len(gpu_ids) is inferred, never definitive. A
`"mode": "val"` record is an evaluation.
"""

from __future__ import annotations

import json
import re

from bench.logs.base import LogParser, between_epochs
from bench.logs.common import EpochOffsets, Grid
from bench.logs.mmdet_v2 import DIVERGENCE, EVALUATION_UNTIMED, MmcvConfigReader, interval_record
from bench.logs.types import Event, IterationRecord, TimeSemantics
from bench.vocabulary import EventKind

SNIFF = re.compile(r'^\{"mode": "train", "epoch": \d+, "iter": \d+')


class Parser(LogParser):
    format = "mmdet-v2-json"
    title = "mmdetection 2.x .log.json"
    semantics = TimeSemantics.INTERVAL_MEAN
    time_meaning = ("mean of the last `interval` (50) iteration times within the epoch, 5 decimals "
                    "(mmcv TextLoggerHook._dump_log)")
    divergence = DIVERGENCE
    start_marker = re.compile(r'^\{"env_info": ')

    def __init__(self) -> None:
        super().__init__()
        self.grid = Grid()
        self.offsets = EpochOffsets()
        self.previous: tuple[int, int] | None = None  # (epoch, iter) of the previous train record

    def read_batch(self, line: str, line_no: int) -> None:
        if not line.startswith('{"env_info"') or '"config"' not in line:
            return
        try:
            meta = json.loads(line)
        except ValueError:
            return
        if not isinstance(meta, dict):
            return
        reader = MmcvConfigReader()  # each run's meta line stands alone
        for field in ("env_info", "config"):
            if isinstance(meta.get(field), str):
                for text in meta[field].splitlines():
                    reader.feed(self.facts, text, line_no)

    def parse_line(self, line: str, line_no: int) -> IterationRecord | Event | None:
        if not line.startswith("{") or ('"train"' not in line and '"val"' not in line):
            return None
        try:
            data = json.loads(line)
        except ValueError:
            return None  # a truncated last line
        if not isinstance(data, dict):
            return None
        if data.get("mode") == "val":
            return Event(EventKind.EVALUATION, line_no, line[:200])
        if data.get("mode") != "train" or "iter" not in data:
            return None
        try:
            epoch, inner = int(data.get("epoch", 1)), int(data["iter"])
        except TypeError:
            return None
        if self.previous and epoch > self.previous[0] and inner > self.previous[1]:
            # iteration-based runner: `iter` is global, the epoch only counts loader passes
            epoch = self.previous[0]
        offset = self.offsets.offset(epoch)
        self.offsets.seen(inner)
        self.previous = (epoch, inner)
        values = {k: float(v) for k, v in data.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return interval_record(self, self.grid, line_no, epoch, inner, offset, values, None)

    def evaluation_untimed(self, event: Event, before: IterationRecord | None,
                           after: IterationRecord | None) -> str | None:
        return EVALUATION_UNTIMED if between_epochs(before, after) else None

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.match(line))
