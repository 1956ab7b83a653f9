"""mmdetection 3.x / MMEngine text log: `LoggerHook` + `LogProcessor.get_log_after_iter`.

`2023/03/13 10:31:41 - mmengine - INFO - Epoch(train)  [1][  50/7330]  base_lr: 2.0000e-02 lr: 2.0000e-02
eta: ...  time: 0.4520  data_time: 0.0100  memory: 4000  grad_norm: ...  loss: ...  loss_rpn_cls: ...` (the
file log; the console has `03/13 10:31:41` and colours), or `Iter(train) [  50/90000]  ...` for
iteration-based loops. The inner iteration is `batch_idx + 1` (by epoch) or `runner.iter + 1`, so the global
count is (epoch - 1) * N + iter. `time` is `HistoryBuffer('train/time').mean(window_size)`: the mean of the
last `LogProcessor.window_size` iteration times (IterTimerHook: wall time between consecutive
`after_train_iter`), a buffer that is not cleared at epoch boundaries. `window_size` is 10 by default and 50
in mmdet 3.x's default_runtime; it is read from the dumped config (`log_processor = dict(... window_size=50)`)
when the log has it, and otherwise taken equal to the logging interval seen on the grid (both defaults make
them equal).

Batch facts (mmengine v0.1.0 ba1c368 to v0.10.7 390ba2f, the same code at each): `Runtime environment:` with
`GPU number: W`, which Runner._log_env prints from `self._world_size` (runner/runner.py:2375 @ 390ba2f,
:2192 @ ba1c368), the world size of get_dist_info (:677): definitive. Then `Config:` and `cfg.pretty_text`,
whose `train_dataloader = dict(... batch_size=2 ...)` is the per-process batch Runner.build_dataloader
gives the batch sampler and DataLoader (:1400-1407, :1476 @ 390ba2f): definitive. Global = W x batch_size, as
Runner.scale_lr computes it (`real_bs = self.world_size * bs`, :959), which also prints `... the current
batch size is B.` where auto_scale_lr is enabled (definitive).
Checkpoints: `Saving checkpoint at N iterations|epochs` (hooks/checkpoint_hook.py).
Evaluation: the `Epoch(val)`/`Iter(val)` progress lines (ValLoop via LoggerHook). IterTimerHook restarts its
clock at every epoch start (`_before_epoch` sets `self.t`, hooks/iter_timer_hook.py:35-43 @ 390ba2f, called
for train, val and test epochs, hooks/hook.py:117-135) and times each iteration from the previous one's end
(:86-88). EpochBasedTrainLoop runs the ValLoop between train epochs (runner/loops.py:93-117), so the next
epoch's iterations are timed from its own start: an evaluation between epochs is outside the printed times.
IterBasedTrainLoop runs it between two iterations of one train epoch (:271-299): the evaluator's metric
computation after the last val iteration lands in the next train iteration's time, so there it is inside.
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser, between_epochs
from bench.logs.batch import PythonConfigDump
from bench.logs.common import NUMBER, Grid, full_timestamp, losses, meters, position
from bench.logs.types import Event, IterationRecord, TimeSemantics

LINE = re.compile(r"\b(?:Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]"
                  r"|Iter\(train\)\s*\[\s*(\d+)/(\d+)\])\s+(.*)$")
TIME = re.compile(r"(?<![\w])time: (" + NUMBER + ")")
WINDOW_SIZE = re.compile(r"\bwindow_size=(\d+)")
GPU_NUMBER = re.compile(r"^\s*GPU number: (\d+)\s*$")
REAL_BATCH = re.compile(r"\band the current batch size is (\d+)\.")
WORLD_RULE = ("GPU number of the runtime environment, Runner._world_size from get_dist_info "
              "(mmengine/runner/runner.py:2375 @ v0.10.7; v0.1.0 to v0.10.7)")
PER_PROCESS_RULE = ("train_dataloader.batch_size of the dumped config, the per-process batch of "
                    "Runner.build_dataloader (mmengine/runner/runner.py:1400-1407 @ v0.10.7)")
REAL_BATCH_RULE = ("the batch Runner.scale_lr printed, world_size x batch_size "
                   "(mmengine/runner/runner.py:959-964 @ v0.10.7)")
EVALUATION_UNTIMED = ("it ran between two epochs of an EpochBasedTrainLoop, and IterTimerHook restarts its "
                      "clock at every epoch start (mmengine/hooks/iter_timer_hook.py:35-43, "
                      "runner/loops.py:93-117 @ v0.10.7)")
SNIFF = re.compile(r"\b(?:Epoch\(train\)\s*\[\d+\]\[\s*\d+/\d+\]|Iter\(train\)\s*\[\s*\d+/\d+\])\s")


class Parser(LogParser):
    format = "mmengine"
    title = "mmdetection 3.x / MMEngine LoggerHook text log"
    semantics = TimeSemantics.INTERVAL_MEAN
    time_meaning = ("mean of the last LogProcessor.window_size iteration times "
                    "(mmengine/runner/log_processor.py, HistoryBuffer.mean; IterTimerHook)")
    divergence = re.compile(r"loss become infinite or NaN")
    start_marker = re.compile(r"\bCheckpoints will be saved to ")
    evaluation = re.compile(r"\b(?:Epoch|Iter)\(val\)\s*\[")
    checkpoint = re.compile(r"\bSaving checkpoint at \d+ (?:iterations|epochs)")

    def __init__(self) -> None:
        super().__init__()
        self.grid = Grid()
        self.window_size: int | None = None  # from the dumped config, where present
        self.dump = PythonConfigDump(frozenset({"train_dataloader"}))

    def read_batch(self, line: str, line_no: int) -> None:
        if "GPU number: " in line and (gpus := GPU_NUMBER.match(line)):
            self.facts.note(line_no, line, world=int(gpus[1]), rule=WORLD_RULE)
        elif "the current batch size is" in line and (real := REAL_BATCH.search(line)):
            self.facts.note(line_no, line, images=int(real[1]), rule=REAL_BATCH_RULE)
        for _, key, value in self.dump.feed(line):
            if key == "batch_size":
                self.facts.note(line_no, line, per_device=value, rule=PER_PROCESS_RULE)

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if "time: " not in line:
            if "window_size=" in line and "log_processor" in line:
                size = WINDOW_SIZE.search(line, line.index("log_processor"))
                if size:
                    self.window_size = int(size[1])
            return None
        match = LINE.search(line)
        if not match:
            return None
        epoch, inner, offset = position(match)
        iteration = offset + inner
        time = TIME.search(match[6])
        if time is None:
            return None
        interval = self.grid.observe(epoch or 0, inner)
        window = self.window_size or interval
        start = max(0, iteration - window)  # the buffer is resumed from a checkpoint, so this holds then too
        values = meters(match[6])
        return IterationRecord(
            iteration=iteration, time=float(time[1]), semantics=self.semantics, span_start=start,
            line_no=line_no, epoch=epoch, timestamp=full_timestamp(line), data_time=values.get("data_time"),
            losses=losses(values), lr=values.get("lr"))

    def evaluation_untimed(self, event: Event, before: IterationRecord | None,
                           after: IterationRecord | None) -> str | None:
        return EVALUATION_UNTIMED if between_epochs(before, after) else None

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.search(line))
