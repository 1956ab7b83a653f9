"""SimpleDet `utils/callback.py` Speedometer, stderr and `experiments/<config>/log.txt`.

`05-14 18:20:31 Epoch[0] Batch [110]<TAB>Speed: 39.21
samples/sec<TAB>Train-RpnAcc=0.981234,<TAB>RpnL1=...,<TAB>` every `frequent` (10) batches. `nbatch` and
the epoch are 0-based: `Batch [k]` is printed after k + 1 batches. The first call of an epoch (nbatch 0) only
starts the timer, and each print restarts it, so `Speed` is samples/s over batches k-9..k (0-based), i.e.
completed batches (k + 1 - frequent, k + 1]. The interval is not printed; the first line of an epoch is at
k = frequent. Epoch lengths are not printed either (see `EpochOffsets`); the benchmark window lies in epoch 0.

Batch: not printed. detection_train.py train_net at 9187a10 computes `input_batch_size = pKv.batch_image *
len(ctx)` and leaves its `logger.info(pprint.pformat(config))` commented out, so `self.batch` stays None and
the images per iteration come from the recipe (or `--images-per-iter`). Checkpoints: MXNet's
`Saved checkpoint to "..."` (mx.model.save_checkpoint, from the epoch-end callback).
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.common import NUMBER, EpochOffsets, Grid
from bench.logs.types import IterationRecord, TimeSemantics

LINE = re.compile(r"\bEpoch\[(\d+)\] Batch \[(\d+)\]\s+Speed: (" + NUMBER + r") samples/sec(.*)$")
METRIC = re.compile(r"(?<![\w-])(?:Train-)?(\w+)=(" + NUMBER + ")")


class Parser(LogParser):
    format = "simpledet"
    title = "SimpleDet Speedometer"
    semantics = TimeSemantics.INTERVAL_RATE
    time_meaning = "samples/s over the last `frequent` (10) batches (SimpleDet utils/callback.py Speedometer)"
    divergence = None  # no NaN check of its own; NaN metrics in the line are caught generically
    start_marker = re.compile(r"\blr mode: ")
    checkpoint = re.compile(r"\bSaved checkpoint to ")

    def __init__(self) -> None:
        super().__init__()
        self.grid = Grid()
        self.offsets = EpochOffsets()

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if "samples/sec" not in line:
            return None
        match = LINE.search(line)
        if not match:
            return None
        epoch, nbatch = int(match[1]), int(match[2])
        offset = self.offsets.offset(epoch)
        self.offsets.seen(nbatch + 1)
        frequent = self.grid.observe(epoch, nbatch)
        iteration = offset + nbatch + 1
        metrics = {m[1]: float(m[2]) for m in METRIC.finditer(match[4])}
        return IterationRecord(
            iteration=iteration, time=float(match[3]), semantics=self.semantics,
            span_start=offset + max(1, nbatch + 1 - frequent), line_no=line_no, epoch=epoch,
            losses={k: v for k, v in metrics.items() if "Acc" not in k})

    @classmethod
    def sniff(cls, line: str) -> bool:
        return "samples/sec" in line and bool(LINE.search(line))
