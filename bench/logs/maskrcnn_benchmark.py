"""maskrcnn-benchmark `do_train` + MetricLogger, stdout and `OUTPUT_DIR/log.txt` (append mode).

`2020-05-14 10:04:55,337 maskrcnn_benchmark.trainer INFO: eta: 6:20:41  iter: 100  loss: 1.6021 (2.1034)  ...
time: 0.2890 (0.3012)  data: 0.0081 (0.0235)  lr: 0.009333  max mem: 3350`, every 20 iterations, `iter`
1-based. Each meter is `median of the last 20 (global_avg)`; the parenthesised `time` is the running mean of
every iteration time since the MetricLogger was created, i.e. since the run's start iteration S (0, or the
checkpoint's iteration when resumed). S is not printed: after `Start training` the first line at k <= 20 means
S = 0, a later one means a resumed run, taken to start at the 20-grid point below k (checkpoints are saved at
multiples of 20 iterations in the stock configs).

Batch facts (read at 0ce8f6f, the benchmark's commit, and the mirror's main 57eec25; the NVIDIA MLPerf
derivative prints the same): `Using N GPUs` is $WORLD_SIZE (tools/train_net.py:157,176 @ 0ce8f6f), the
variable `init_process_group(init_method="env://")` reads: the world size, definitive. `Running with
config:` prints the merged, frozen config (train_net.py:167-169,186: opts merged, then `cfg.freeze()`), whose
`SOLVER.IMS_PER_BATCH` is the global batch make_data_loader splits over `get_world_size()`
(data/build.py:109-116; config/defaults.py:413-415 "This is global, so if we have 8 GPUs and IMS_PER_BATCH =
16, each GPU will see 2 images"): definitive.
Evaluation: `Start evaluation on ...` (engine/inference.py inference). do_train sets `end = time.time()`
(engine/trainer.py:101-102) before the periodic checkpoint and evaluation (:127-131), so the next
iteration's printed time includes them: an evaluation inside the window is not training time.
Checkpoints: `Saving checkpoint to ...` (utils/checkpoint.py Checkpointer.save);
evaluation: `Start evaluation on ...` (engine/inference.py inference).
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.batch import YamlDump
from bench.logs.common import NUMBER, full_timestamp
from bench.logs.types import IterationRecord, TimeSemantics

PAIR = r"(" + NUMBER + r") \((" + NUMBER + r")\)"
ITER = re.compile(r"\biter: \d+\s")
LINE = re.compile(r"iter: (\d+)\s+(.*?)\btime: " + PAIR + r"\s+data: " + PAIR + r"(.*)$")
METER = re.compile(r"(?<!\w)(\w+): " + PAIR)  # losses are the meters whose name holds "loss"
GPUS = re.compile(r"\bUsing (\d+) GPUs\b")
LR = re.compile(r"\blr: (" + NUMBER + ")")
START = re.compile(r"\bmaskrcnn_benchmark\.trainer INFO: Start training$|^Start training$")
PERIOD = 20
WORLD_RULE = "$WORLD_SIZE, read by init_process_group (tools/train_net.py:157,176 @ 0ce8f6f)"
BATCH_RULE = ("SOLVER.IMS_PER_BATCH of the merged config, the global batch make_data_loader splits over the "
              "world size (maskrcnn_benchmark/data/build.py:109-116 @ 0ce8f6f)")


class Parser(LogParser):
    format = "maskrcnn-benchmark"
    title = "maskrcnn-benchmark MetricLogger"
    semantics = TimeSemantics.RUNNING_MEAN
    time_meaning = ("running mean of every iteration time since the start of the run: the parenthesised "
                    "global_avg of `time` (maskrcnn_benchmark/utils/metric_logger.py, engine/trainer.py)")
    divergence = None  # no NaN check of its own; NaN losses in the line are caught generically
    start_marker = START
    evaluation = re.compile(r"\bStart evaluation on ")
    checkpoint = re.compile(r"\bSaving checkpoint to ")

    def __init__(self) -> None:
        super().__init__()
        self.start_iter: int | None = None
        self.last_iteration = 0
        self.dump = YamlDump("Running with config:")

    def read_batch(self, line: str, line_no: int) -> None:
        if "Using " in line and (gpus := GPUS.search(line)):
            self.facts.note(line_no, line, world=int(gpus[1]), rule=WORLD_RULE)
        elif ((entry := self.dump.feed(line)) and entry[:2] == ("SOLVER", "IMS_PER_BATCH")
              and entry[2].isdigit()):
            self.facts.note(line_no, line, images=int(entry[2]), rule=BATCH_RULE)

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if "iter: " not in line:
            if START.search(line):
                self.start_iter = None  # decided by the first progress line of the run
            return None
        first = ITER.search(line)  # one anchored attempt: linear in the line's length
        match = LINE.match(line, first.start()) if first else None
        if not match:
            return None
        iteration = int(match[1])
        if self.start_iter is None or iteration <= self.last_iteration:
            self.start_iter = 0 if iteration <= PERIOD else (iteration - 1) // PERIOD * PERIOD
        self.last_iteration = iteration
        lr = LR.search(match[7])
        return IterationRecord(  # groups 3/4: time median/global_avg, 5/6: data median/global_avg
            iteration=iteration, time=float(match[4]), semantics=self.semantics, span_start=self.start_iter,
            line_no=line_no, timestamp=full_timestamp(line), data_time=float(match[6]),
            losses={m[1]: float(m[2]) for m in METER.finditer(match[2]) if "loss" in m[1]},
            lr=float(lr[1]) if lr else None)

    @classmethod
    def sniff(cls, line: str) -> bool:
        return "iter: " in line and bool((first := ITER.search(line)) and LINE.match(line, first.start()))
