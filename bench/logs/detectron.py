"""Detectron (Caffe2) `json_stats` lines (detectron/utils/logging.py log_json_stats), stdout only, no
timestamps.

`json_stats: {"accuracy_cls": "0.901234", "eta": "19:45:12", "iter": 100, ..., "time": "0.843210"}` every 20
iterations (`cur_iter % 20 == 0`, 0-based) and at the last one; floats are printed as 6-decimal strings.
`time` is the Timer's `average_time` over `IterTic`..`IterToc` (LR update + `RunNet`), and the timer is reset
after iteration start_iter + 20 has been logged. So at printed iter k the mean covers completed iterations
(S, k + 1] for k <= S + 20 and (S + 21, k + 1] after. S is 0, or the
`Resuming from checkpoint ... at start iter S` of a resumed run (when that line is missing, the first progress
line of the restarted run is taken as S).

Batch facts (at 7aa91aa): `Training with config:`, then `pprint.pformat(cfg)` (tools/train_net.py:100-107,
merged with the command-line opts) as one log message, `INFO train_net.py: 107: {'AGNOSTIC...` and one
top-level key per line after it. `TRAIN.IMS_PER_BATCH` is per GPU: "Total images per minibatch =
TRAIN.IMS_PER_BATCH * NUM_GPUS" (detectron/core/config.py:91-92); the loader fills a minibatch of
IMS_PER_BATCH for each of NUM_GPUS devices (roi_data/loader.py:90,149) and the model is built once per GPU
over range(NUM_GPUS) (modeling/model_builder.py:392). Both are the numbers the one training process uses:
images per iteration = TRAIN.IMS_PER_BATCH x NUM_GPUS, definitive.
Checkpoints: `Saving parameters and momentum to ...` (utils/net.py save_model_to_weights_file).
"""

from __future__ import annotations

import json
import re

from bench.logs.base import LogParser
from bench.logs.common import losses
from bench.logs.types import IterationRecord, TimeSemantics

LINE = re.compile(r"^json_stats: (\{.*\})\s*$")
TOP_KEY = re.compile(r"^(?:\S.*: \{| )'(\w+)': ")  # a key of the pformat dump's outer dict
TRAIN_BATCH = re.compile(r"'IMS_PER_BATCH': (\d+)\b")
RESUME = re.compile(r"Resuming from checkpoint .* at start iter (\d+)")
LOG_PERIOD = 20
NUM_GPUS_RULE = "NUM_GPUS of the config, the replicas model_builder.py:392 builds (Detectron 7aa91aa)"
PER_GPU_RULE = ("TRAIN.IMS_PER_BATCH of the config, the minibatch per GPU (detectron/core/config.py:91-92, "
                "roi_data/loader.py:149 @ 7aa91aa)")


class Parser(LogParser):
    format = "detectron"
    title = "Detectron (Caffe2) json_stats"
    semantics = TimeSemantics.RUNNING_MEAN
    time_meaning = ("running mean of the timed region (LR update + RunNet), reset after iteration 20 "
                    "(detectron/utils/train.py, utils/training_stats.py)")
    divergence = re.compile(r"\bLoss is NaN\b")
    start_marker = re.compile(r"\bTraining with config:")
    checkpoint = re.compile(r"\bSaving parameters and momentum to ")

    def __init__(self) -> None:
        super().__init__()
        self.dump_lines: int | None = None  # lines of the config dump read so far; None outside it
        self.section: str | None = None
        self.start_iter = 0
        self.resume_at: int | None = None  # from a `Resuming from checkpoint` line, for the next run
        self.last_index: int | None = None

    def read_batch(self, line: str, line_no: int) -> None:
        if "Training with config:" in line:
            self.dump_lines, self.section = 0, None
            return
        if self.dump_lines is None:
            return
        if self.dump_lines > 0 and not line.startswith(" "):  # the dump is over
            self.dump_lines = None
            return
        self.dump_lines += 1
        key = TOP_KEY.match(line)
        if key:
            self.section = key[1]
        if self.section == "NUM_GPUS" and (gpus := re.match(r"^ 'NUM_GPUS': (\d+)\b", line)):
            self.facts.note(line_no, line, world=int(gpus[1]), rule=NUM_GPUS_RULE)
        elif self.section == "TRAIN" and (per_gpu := TRAIN_BATCH.search(line)):
            self.facts.note(line_no, line, per_device=int(per_gpu[1]), rule=PER_GPU_RULE)

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        if not line.startswith("json_stats: "):
            resume = RESUME.search(line)
            if resume:
                self.resume_at = int(resume[1])
            return None
        match = LINE.match(line)
        if not match:
            return None
        try:
            data = json.loads(match[1])  # a truncated line raises: counted as malformed
            index, mean = int(data["iter"]), float(data["time"])
        except (KeyError, TypeError):  # not a training record; an unreadable number is counted by the base
            return None
        if self.last_index is None or index <= self.last_index or self.resume_at is not None:  # a (new) run
            self.start_iter = self.resume_at if self.resume_at is not None else index
            self.resume_at = None
        self.last_index = index
        start = self.start_iter if index <= self.start_iter + LOG_PERIOD else self.start_iter + LOG_PERIOD + 1
        values = {}
        for key, value in data.items():
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                continue
        return IterationRecord(iteration=index + 1, time=mean, semantics=self.semantics, span_start=start,
                               line_no=line_no, losses=losses(values), lr=values.get("lr"))

    @classmethod
    def sniff(cls, line: str) -> bool:
        return line.startswith("json_stats: {")
