"""mmdetection 2.x text log: mmcv `TextLoggerHook` (0.5.x, and the 0.6+/1.x variants), stderr or `<ts>.log`.

`2020-05-14 10:03:10,512 - mmdet - INFO - Epoch [1][100/7330]<TAB>lr: 0.00398, eta: 8:02:13, time: 0.302,
data_time: 0.011, memory: 3712, loss_rpn_cls: ..., loss: 2.2378` (lr `.5f` in mmcv 0.5.x, `.3e` from 0.6;
`Iter [k/N]` for iteration-based runners). Epoch and iteration are 1-based, the iteration within the epoch, so
the global count is (epoch - 1) * N + iter. `time` is `LogBuffer.average(interval)`: the mean of the last
`interval` iteration times, the history being cleared at every epoch start; the interval (50 in mmdet's
default runtime) is not printed, so it is taken from the grid (the first line of a run is at iteration
`interval`).

Batch (tools/train.py main, read at 1c471257, a later v2.x; not checked at b0d845f): `Config:` and
`cfg.pretty_text`, after `cfg.gpu_ids = range(world_size)` in distributed mode (`range(1)` or `--gpus N`
otherwise). `data = dict(samples_per_gpu=2, ...)` is images per GPU (`imgs_per_gpu` in older configs), and
the GPU count is `len(gpu_ids)`: one process per GPU under `dist_train.sh`, MMDataParallel over gpu_ids
without it.
Evaluation: `Evaluating bbox...` (datasets/coco.py CocoDataset.evaluate); checkpoints: `Saving checkpoint at`
(mmcv CheckpointHook, where the version prints it).
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.batch import PythonConfigDump
from bench.logs.common import NUMBER, Grid, full_timestamp, losses, meters, position
from bench.logs.types import IterationRecord, TimeSemantics

LINE = re.compile(r"\b(?:Epoch \[(\d+)\]\[(\d+)/(\d+)\]|Iter \[(\d+)/(\d+)\])\s+(lr: .*)$")
TIME = re.compile(r"(?<![\w])time: (" + NUMBER + ")")
SNIFF = re.compile(r"\b(?:Epoch \[\d+\]\[\d+/\d+\]|Iter \[\d+/\d+\])\t(?:lr|eta): ")
DIVERGENCE = re.compile(r"loss become infinite or NaN")
START = re.compile(r"\bStart running, host: ")
EVALUATION = re.compile(r"\bEvaluating (?:bbox|segm|proposal_fast|proposal)\.\.\.")
CHECKPOINT = re.compile(r"\bSaving checkpoint at \d+ ")
GPU_IDS = re.compile(r"^gpu_ids = (?:range\((\d+), (\d+)\)|\[([\d, ]*)\])")
PER_GPU_KEYS = ("samples_per_gpu", "imgs_per_gpu")


def read_mmcv_config(parser: LogParser, dump: PythonConfigDump, line: str, line_no: int) -> None:
    """`gpu_ids = range(0, 8)` and `data = dict(samples_per_gpu=2, ...)` of an mmcv `Config.pretty_text`."""
    if line.startswith("gpu_ids = ") and (ids := GPU_IDS.match(line)):
        count = (int(ids[2]) - int(ids[1]) if ids[1] is not None
                 else len([i for i in ids[3].split(",") if i.strip()]))
        parser.facts.note(line_no, line, world=count)
    for _, key, value in dump.feed(line):
        if key in PER_GPU_KEYS:
            parser.facts.note(line_no, line, per_device=value)


def interval_record(parser: LogParser, grid: Grid, line_no: int, epoch: int | None, inner: int, offset: int,
                    values: dict[str, float], stamp: float | None) -> IterationRecord | None:
    """The record of an mmcv-style line: the mean over the last `interval` iterations of this epoch."""
    if "time" not in values:
        return None
    interval = grid.observe(epoch or 0, inner)
    iteration = offset + inner
    return IterationRecord(
        iteration=iteration, time=values["time"], semantics=parser.semantics,
        span_start=iteration - min(interval, inner), line_no=line_no, epoch=epoch, timestamp=stamp,
        data_time=values.get("data_time"), losses=losses(values), lr=values.get("lr"))


class Parser(LogParser):
    format = "mmdet-v2"
    title = "mmdetection 2.x / mmcv TextLoggerHook text log"
    semantics = TimeSemantics.INTERVAL_MEAN
    time_meaning = ("mean of the last `interval` (50) iteration times within the epoch "
                    "(mmcv/runner/hooks/logger/text.py TextLoggerHook, LogBuffer.average)")
    divergence = DIVERGENCE
    start_marker = START
    evaluation = EVALUATION
    checkpoint = CHECKPOINT

    def __init__(self) -> None:
        super().__init__()
        self.grid = Grid()
        self.dump = PythonConfigDump(frozenset({"data"}))

    def read_batch(self, line: str, line_no: int) -> None:
        read_mmcv_config(self, self.dump, line, line_no)

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if "time: " not in line:
            return None
        match = LINE.search(line)
        if not match:
            return None
        epoch, inner, offset = position(match)
        values = meters(match[6])
        time = TIME.search(match[6])  # `data_time` is a meter too; make sure `time` is the whole name
        if time is None:
            return None
        values["time"] = float(time[1])
        return interval_record(self, self.grid, line_no, epoch, inner, offset, values, full_timestamp(line))

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.search(line))
