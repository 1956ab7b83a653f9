"""mmdetection 2.x text log: mmcv `TextLoggerHook` (0.5.x, and the 0.6+/1.x variants), stderr or `<ts>.log`.

`2020-05-14 10:03:10,512 - mmdet - INFO - Epoch [1][100/7330]<TAB>lr: 0.00398, eta: 8:02:13, time: 0.302,
data_time: 0.011, memory: 3712, loss_rpn_cls: ..., loss: 2.2378` (lr `.5f` in mmcv 0.5.x, `.3e` from 0.6;
`Iter [k/N]` for iteration-based runners). Epoch and iteration are 1-based, the iteration within the epoch, so
the global count is (epoch - 1) * N + iter. `time` is `LogBuffer.average(interval)`: the mean of the last
`interval` iteration times, the history being cleared at every epoch start; the interval (50 in mmdet's
default runtime) is not printed, so it is taken from the grid (the first line of a run is at iteration
`interval`).

Batch facts (issue 23; mmdetection's repository is over the size `fetch` brings, so the rule was read in
the v2.5.0 and v2.28.2 packages of PyPI, tools/train.py @ 1c471257 (a late 2.x), the pull request that changed
it and the changelog):
- `data = dict(samples_per_gpu=2, ...)` of the `Config:` dump (`cfg.pretty_text`) is the per-GPU batch
  build_dataloader uses (mmdet/datasets/builder.py:114,118 @ v2.5.0); the deprecated `imgs_per_gpu` wins
  where both are set (apis/train.py:45-57 @ v2.5.0, utils/compat_config.py:40-50 @ v2.28.2). Definitive.
- `gpu_ids = range(0, N)` of the same dump counts the devices only where the trainer uses it:
  * `Distributed training: False`: MMDataParallel over gpu_ids and a loader of len(gpu_ids) x samples_per_gpu
    (apis/train.py:60-82 @ v2.5.0). Definitive, all 2.x.
  * under a launcher (`Distributed training: True`), tools/train.py re-sets `cfg.gpu_ids =
    range(world_size)` after init_dist only from mmdetection 2.7.0 (tools/train.py:118-120 @ 1c471257;
    pull request #4163 of 2020-11-23, "Fix bug of gpu_id in distributed training mode (#4163)" under v2.7.0
    in docs/changelog.md @ 00b8869). Definitive from 2.7.0. Before it the dump keeps `range(1)` (or
    `--gpus`) whatever the world size (issue #3873: `gpu_ids = range(0, 1)` on 2, 4 and 8 GPUs with 2.4):
    not evidence, so the batch is unknown.
  * the version comes from the log's environment block (`MMDetection: 2.5.0+c6b4a05`,
    mmdet/utils/collect_env.py:10 @ v2.5.0); where it is not printed the rule is inferred.
- `Training with N GPU(s) with S samples per GPU. The total batch size is B.` (apis/train.py auto_scale_lr,
  :96-102 @ v2.28.2, printed where `auto_scale_lr.enable` is set): B from the world size of get_dist_info.
  Definitive.
Evaluation: `Evaluating bbox...` (datasets/coco.py CocoDataset.evaluate), run by EvalHook.after_train_epoch
(mmdet/core/evaluation/eval_hooks.py @ v2.5.0); checkpoints: `Saving checkpoint at` (mmcv CheckpointHook,
where the version prints it). mmcv's IterTimerHook restarts its clock in `before_epoch` and times each
iteration from the previous one's end (mmcv/runner/hooks/iter_timer.py:10-18 @ v1.7.0, the same since 2018),
and LoggerHook clears the buffer at each epoch start: an evaluation between two epochs of the
EpochBasedRunner is outside the printed times. The IterBasedRunner (`Iter [k/N]` lines) calls before_epoch
once, and an evaluation inside an epoch (EvalHook(by_epoch=False)) runs after IterTimerHook.after_iter:
there the next iteration's time includes it.
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser, between_epochs
from bench.logs.batch import BatchFacts, PythonConfigDump, version_tuple
from bench.logs.common import NUMBER, Grid, full_timestamp, losses, meters, position
from bench.logs.types import Event, IterationRecord, TimeSemantics
from bench.vocabulary import BatchStrength

LINE = re.compile(r"\b(?:Epoch \[(\d+)\]\[(\d+)/(\d+)\]|Iter \[(\d+)/(\d+)\])\s+(lr: .*)$")
TIME = re.compile(r"(?<![\w])time: (" + NUMBER + ")")
SNIFF = re.compile(r"\b(?:Epoch \[\d+\]\[\d+/\d+\]|Iter \[\d+/\d+\])\t(?:lr|eta): ")
DIVERGENCE = re.compile(r"loss become infinite or NaN")
START = re.compile(r"\bStart running, host: ")
EVALUATION = re.compile(r"\bEvaluating (?:bbox|segm|proposal_fast|proposal)\.\.\.")
CHECKPOINT = re.compile(r"\bSaving checkpoint at \d+ ")
GPU_IDS = re.compile(r"^gpu_ids = (?:range\((\d+), (\d+)\)|\[([\d, ]*)\])")
MMDET_VERSION = re.compile(r"^MMDetection(?: Version)?: (\S+)")
DISTRIBUTED = re.compile(r"\bDistributed training: (True|False)\b")
TOTAL_BATCH = re.compile(r"\bTraining with \d+ GPU\(s\) with \d+ samples per GPU\. "
                         r"The total batch size is (\d+)\.")
EVALUATION_UNTIMED = ("it ran between two epochs, and mmcv's IterTimerHook restarts its clock in "
                      "before_epoch (mmcv/runner/hooks/iter_timer.py:10-18 @ v1.7.0)")
RESET = (2, 7, 0)  # the first release whose tools/train.py re-sets gpu_ids to range(world_size) (PR #4163)
PER_GPU_RULE = ("data.samples_per_gpu (imgs_per_gpu where set), the per-GPU batch of build_dataloader "
                "(mmdet/datasets/builder.py:114,118 @ v2.5.0)")
TOTAL_RULE = ("the total batch auto_scale_lr printed from the world size (mmdet/apis/train.py:96-102 "
              "@ v2.28.2)")


def gpu_ids_rule(version: str | None, distributed: bool | None) -> tuple[BatchStrength, str]:
    """How far len(gpu_ids) of the dump is the device count, at this mmdetection version."""
    if distributed is False:
        return BatchStrength.DEFINITIVE, ("gpu_ids, without a launcher the GPUs of MMDataParallel and of the "
                                          "loader's batch (mmdet/apis/train.py:60-82 @ v2.5.0)")
    parsed = version_tuple(version)
    if parsed is None:
        return BatchStrength.INFERRED, ("gpu_ids; the mmdetection version is not printed (unknown), and "
                                        "gpu_ids is the world size under a launcher only from 2.7.0 "
                                        "(PR #4163)")
    if parsed >= RESET:
        return BatchStrength.DEFINITIVE, ("gpu_ids, re-set to range(world_size) under a launcher from "
                                          f"mmdetection 2.7.0 (tools/train.py:118-120 @ 1c471257); the log "
                                          f"says {version}")
    if distributed:
        return BatchStrength.UNKNOWN, (f"gpu_ids is not the world size: mmdetection {version} predates "
                                       "2.7.0, the first to re-set it under a launcher (PR #4163), and the "
                                       "log says Distributed training: True")
    return BatchStrength.INFERRED, (f"gpu_ids; mmdetection {version} predates 2.7.0 (PR #4163): gpu_ids is "
                                    "the world size only without a launcher, and the log does not say "
                                    "whether one was used")


class MmcvConfigReader:
    """The batch facts of an mmcv-based mmdetection log, text or JSON: the version and the launcher from the
    lines before the dump, then `gpu_ids` and `data = dict(samples_per_gpu=...)` of the dump itself."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.distributed: bool | None = None
        self.dump = PythonConfigDump(frozenset({"data"}))
        self.imgs_per_gpu = False  # the dump set imgs_per_gpu, which wins over samples_per_gpu

    def feed(self, facts: BatchFacts, line: str, line_no: int) -> None:
        if line.startswith("MMDetection") and (version := MMDET_VERSION.match(line)):
            self.version = version[1]
        elif "Distributed training: " in line and (flag := DISTRIBUTED.search(line)):
            self.distributed = flag[1] == "True"
        elif "The total batch size is" in line and (total := TOTAL_BATCH.search(line)):
            facts.note(line_no, line, images=int(total[1]), rule=TOTAL_RULE, override=True)
        elif line.startswith("gpu_ids = ") and (ids := GPU_IDS.match(line)):
            count = (int(ids[2]) - int(ids[1]) if ids[1] is not None
                     else len([i for i in ids[3].split(",") if i.strip()]))
            strength, rule = gpu_ids_rule(self.version, self.distributed)
            facts.note(line_no, line, world=count, strength=strength, rule=rule, override=True)
        if line.startswith("data = dict("):
            self.imgs_per_gpu = False
        for _, key, value in self.dump.feed(line):
            if key == "imgs_per_gpu" or (key == "samples_per_gpu" and not self.imgs_per_gpu):
                self.imgs_per_gpu = self.imgs_per_gpu or key == "imgs_per_gpu"
                facts.note(line_no, line, per_device=value, rule=PER_GPU_RULE, override=True)


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
        self.config = MmcvConfigReader()

    def read_batch(self, line: str, line_no: int) -> None:
        self.config.feed(self.facts, line, line_no)

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

    def evaluation_untimed(self, event: Event, before: IterationRecord | None,
                           after: IterationRecord | None) -> str | None:
        return EVALUATION_UNTIMED if between_epochs(before, after) else None

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.search(line))
