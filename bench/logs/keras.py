"""matterport Mask_RCNN under Keras 2.2.5: `fit_generator(verbose=1)` ProgbarLogger on stdout, no timestamps.

`Epoch 3/40` (1-based), then per-step renders ` 2/50 [>....] - ETA: 59s - loss: ...` (each on its own line
when stdout is not a TTY; on a TTY one line rewritten with `\\b`/`\\r`, which `lines.logical_lines` splits),
and the final render `50/50 [====] - 57s 1s/step - loss: ...` (or `29s 583ms/step`). The final render gives
the epoch's wall time from the Progbar's creation (`on_epoch_begin`) to its last update: elapsed as `%.0fs`,
and elapsed/steps as `%.0f` s, ms or us. Where the per-step time is printed in ms or us it is the more
precise (x steps); in whole seconds the elapsed is used. The epoch covers completed steps
((e - 1) * n, e * n].
Checkpointing (ModelCheckpoint, after the progress bar's epoch end) falls outside these spans.

Batch facts: `config.display()` (samples/coco/coco.py) prints `Configurations:` and one `{:30} {}` line per
attribute (mrcnn/config.py Config.display), among them `BATCH_SIZE`, `GPU_COUNT` and `IMAGES_PER_GPU`;
`Config.__init__` sets BATCH_SIZE = IMAGES_PER_GPU x GPU_COUNT (mrcnn/config.py, read @ 0038eff; the
benchmark's 3deaec5 was not in reach), the batch `train()` gives the data generator, and one process drives
GPU_COUNT replicas (ParallelModel). All three are the trainer's own numbers: definitive.
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.common import NUMBER
from bench.logs.types import IterationRecord, TimeSemantics

HEADER = re.compile(r"^Epoch (\d+)/(\d+)$")
FINAL = re.compile(r"^\s*(\d+)/(\d+) \[=+\] - (\d+)s(?: (\d+)(s|ms|us)/step)?(.*)$")
METRIC = re.compile(r" - (\w+): (" + NUMBER + ")")
STEP = re.compile(r"^\s*\d+/\d+ \[[=>.]+\] - ETA: ")
CONFIG = re.compile(r"^(BATCH_SIZE|GPU_COUNT|IMAGES_PER_GPU) +(\d+)$")
CONFIG_RULE = ("Config.display(): BATCH_SIZE = IMAGES_PER_GPU x GPU_COUNT, the generator's batch "
               "(mrcnn/config.py Config.__init__ @ 0038eff)")
UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


class Parser(LogParser):
    format = "keras"
    title = "Keras 2.2.5 Progbar (matterport Mask_RCNN)"
    semantics = TimeSemantics.INTERVAL_TOTAL
    time_meaning = ("seconds per epoch from the Progbar's final render: elapsed (whole s) or per-step time "
                    "x steps when printed in ms/us (keras/utils/generic_utils.py Progbar.update)")
    divergence = re.compile(r" - loss: (?:nan|-?inf)\b")
    start_marker = re.compile(r"^Starting at epoch \d+\. LR=")

    def __init__(self) -> None:
        super().__init__()
        self.epoch: int | None = None

    def read_batch(self, line: str, line_no: int) -> None:
        if line[:1] in "BGI" and (entry := CONFIG.match(line)):
            name, value = entry[1], int(entry[2])
            if name == "BATCH_SIZE":
                self.facts.note(line_no, line, images=value, rule=CONFIG_RULE)
            else:
                self.facts.note(line_no, line, rule=CONFIG_RULE,
                                **{"world" if name == "GPU_COUNT" else "per_device": value})

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if line.startswith("Epoch "):
            header = HEADER.match(line)
            if header:
                self.epoch = int(header[1])
            return None
        if self.epoch is None or "] - " not in line:
            return None
        final = FINAL.match(line)
        if not final or final[1] != final[2]:
            return None
        steps, elapsed = int(final[2]), float(final[3])
        seconds = elapsed
        if final[5] in ("ms", "us"):
            seconds = int(final[4]) * UNIT[final[5]] * steps
        epoch, self.epoch = self.epoch, None  # one record per epoch header
        metrics = {m[1]: float(m[2]) for m in METRIC.finditer(final[6])}
        return IterationRecord(iteration=epoch * steps, time=seconds, semantics=self.semantics,
                               span_start=(epoch - 1) * steps, line_no=line_no, epoch=epoch,
                               losses={k: v for k, v in metrics.items() if "loss" in k})

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(FINAL.match(line) or STEP.match(line))
