"""tensorpack (examples/FasterRCNN, Horovod): per-epoch `ThroughputTracker` scalars, rank-0 `log.log` or
stdout.

`[0514 10:10:09 @base.py:285] Epoch 3 (global_step 150) finished, time:8.04 seconds.` then, sorted by name,
`[0514 10:10:09 @monitor.py:474] Throughput (samples/sec): 49.763` (ScalarPrinter `{:.5g}`). Epochs are
1-based and `global_step` counts completed steps, so the rate covers steps (G - steps_per_epoch, G]: samples/s
over that epoch's steps, its timer paused outside the epoch (callbacks/prof.py). The record is made at the
Throughput line and placed at the last `finished` line's global step.

Every rank has a stdout handler, so a captured stdout holds 8 interleaved copies. With `mpirun --tag-output`
(`[1,3]<stdout>:` prefixes) only rank 0 is read. Untagged, each epoch is counted once: the first `finished`
line of a global step opens it and the first Throughput line after it closes it; copies of the same step (or
of the step before it, from a rank still printing) are ignored. Ranks run in lock step, so their rates agree
closely.

Batch facts (examples/FasterRCNN at caafda8): one image per GPU per step (NOTES.md), and
`ThroughputTracker(samples_per_step=cfg.TRAIN.NUM_GPUS)` (train.py:93), the number the printed rate is made
of; config.py finalize_configs sets NUM_GPUS = hvd.size() under Horovod (:284-301), logging `Horovod Rank=R,
Size=N, LocalRank=L` (:288), then `Config: ----...` and `pprint.pformat(cfg.to_dict())` (:309), which holds
`'NUM_GPUS': N` (in `'TRAIN'`). Both are the trainer's own numbers: images per iteration = NUM_GPUS,
definitive. Checkpoints: `Model saved to ...` (callbacks/saver.py ModelSaver); evaluation: `Running
evaluation ...` (examples/FasterRCNN/eval.py:291 EvalCallback._trigger_epoch). ThroughputTracker's timer runs
only between `_before_epoch` and `_after_epoch` (tensorpack/callbacks/prof.py:328-333), and the trainer calls
`trigger_epoch` (where the evaluation runs) after `after_epoch` (train/base.py:283-288), so the printed rate
excludes an evaluation.
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.common import NUMBER
from bench.logs.types import Event, IterationRecord, TimeSemantics

TAG = re.compile(r"^\[\d+,(\d+)\]<std(?:out|err)>:")
FINISHED = re.compile(r"\bEpoch (\d+) \(global_step (\d+)\) finished, time:")
THROUGHPUT = re.compile(r"\bThroughput \(samples/sec\): (" + NUMBER + r")\s*$")
HOROVOD = re.compile(r"\bHorovod Rank=\d+, Size=(\d+),")
NUM_GPUS = re.compile(r"'NUM_GPUS': (\d+)\b")
HOROVOD_RULE = ("hvd.size(), one image per GPU (examples/FasterRCNN/config.py:287-289 @ caafda8)")
NUM_GPUS_RULE = ("TRAIN.NUM_GPUS, the samples per step of ThroughputTracker, one image per GPU "
                 "(examples/FasterRCNN/train.py:93 @ caafda8)")
EVALUATION_UNTIMED = ("tensorpack's ThroughputTracker times only between before_epoch and after_epoch, "
                      "and the evaluation runs at trigger_epoch after it "
                      "(tensorpack/callbacks/prof.py:328-333, train/base.py:283-288 @ caafda8)")
SNIFF = re.compile(r"\] (?:Epoch \d+ \(global_step \d+\) finished, time:|Throughput \(samples/sec\): )")


class Parser(LogParser):
    format = "tensorpack"
    title = "tensorpack ThroughputTracker (log.log or multi-rank stdout)"
    semantics = TimeSemantics.INTERVAL_RATE
    time_meaning = ("samples/s over the epoch's steps, timer paused between epochs "
                    "(tensorpack/callbacks/prof.py ThroughputTracker)")
    divergence = re.compile(r"\] (?:total_cost|[\w/]*loss[\w/]*): (?:nan|-?inf)\s*$")
    start_marker = re.compile(r"\] Start Epoch 1 \.\.\.$")
    evaluation = re.compile(r"\] Running evaluation \.\.\.")
    checkpoint = re.compile(r"\] Model saved to ")

    def read_batch(self, line: str, line_no: int) -> None:
        if "Horovod Rank=" in line and (size := HOROVOD.search(line)):
            self.facts.note(line_no, line, world=int(size[1]), per_device=1, rule=HOROVOD_RULE)
        elif "'NUM_GPUS': " in line and (gpus := NUM_GPUS.search(line)):
            self.facts.note(line_no, line, images=int(gpus[1]), per_device=1, world=int(gpus[1]),
                            rule=NUM_GPUS_RULE)

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[int] = []  # global steps of the last epochs counted
        self.open: tuple[int, int] | None = None  # (epoch, global_step) awaiting its Throughput line
        self.previous: tuple[int, int] | None = None  # the last epoch recorded

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if line.startswith("[") and "<std" in line[:20]:
            tag = TAG.match(line)
            if tag:
                if tag[1] != "0":
                    return None
                line = line[tag.end():]
        if "finished, time:" in line:
            finished = FINISHED.search(line)
            if finished:
                epoch, step = int(finished[1]), int(finished[2])
                if step not in self.accepted[-2:]:
                    self.accepted.append(step)
                    self.open = (epoch, step)
            return None
        if self.open is None or "Throughput" not in line:
            return None
        rate = THROUGHPUT.search(line)
        if rate is None:
            return None
        epoch, step = self.open
        self.open = None
        if self.previous and self.previous[0] == epoch - 1 and self.previous[1] < step:
            start = self.previous[1]
        else:
            start = step - step // epoch  # uniform epochs: steps_per_epoch = global_step / epoch
        self.previous = (epoch, step)
        return IterationRecord(iteration=step, time=float(rate[1]), semantics=self.semantics,
                               span_start=start, line_no=line_no, epoch=epoch)

    def evaluation_untimed(self, event: Event, before: IterationRecord | None,
                           after: IterationRecord | None) -> str | None:
        return EVALUATION_UNTIMED

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.search(line))
