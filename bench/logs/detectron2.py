"""detectron2 CommonMetricPrinter (v0.1.2 and current releases), console or `OUTPUT_DIR/log.txt`.

Console: `[05/14 10:02:11 d2.utils.events]:  eta: 6:31:05  iter: 99  total_loss: 1.532 ...  time: 0.2641
data_time: 0.0093  lr: 0.001998  max_mem: 3105M`; log.txt: `[05/14 10:03:55] d2.utils.events INFO:  eta: ...`.
Current releases add `last_time: ...  last_data_time: ...` (the latest single values) and print losses with
`.4g`. `iter` is 0-based (19, 39, ...). `time` is fvcore's `HistoryBuffer.global_avg()` of IterationTimer's
step times, which skip the first two iterations after `start_iter` (warmup_iter=3 with iter_done = iter + 1),
in an EventStorage created anew by every `train()`: at printed iter k of a run started (or resumed) at
iteration S it is the mean over completed iterations (S + 2, k + 1]. `Starting training from iteration S`
gives S.

Batch (engine/defaults.py default_setup, at 60205f8 and 02b5c4e): `Rank of current process: R. World size: W`,
`Command line arguments: Namespace(... num_gpus=G, num_machines=M, ...
opts=['SOLVER.IMS_PER_BATCH', '2', ...])` (tools/train_net.py also prints the Namespace as
`Command Line Args:`), then `Running with full config:` and the effective config as YAML (`cfg.dump()` now,
yacs `str(cfg)` in v0.1.2), command-line opts already merged.
`SOLVER.IMS_PER_BATCH` is the global batch (config/defaults.py: "IMS_PER_BATCH = 32 [on 16 GPUs] ... each GPU
will see 2 images"); the full config's value wins over the opts', which win over the config file's. Where
`SOLVER.REFERENCE_WORLD_SIZE` is set and differs from the world size, DefaultTrainer.auto_scale_workers
scales the batch by world / reference after the dump, and so does this parser. `--num-gpus` is per machine.
Evaluation: `Start inference on N batches` (evaluation/evaluator.py inference_on_dataset); checkpoints:
`Saving checkpoint to ...` (fvcore Checkpointer.save).
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.batch import YamlDump, namespace_int
from bench.logs.common import NUMBER, losses, meters
from bench.logs.types import Event, IterationRecord, TimeSemantics

LINE = re.compile(r"\biter: (\d+)\s+(.*)$")
TIME = re.compile(r"(?<![\w])time: (" + NUMBER + ")")
DATA_TIME = re.compile(r"(?<![\w])data_time: (" + NUMBER + ")")
START = re.compile(r"Starting training from iteration (\d+)")
SNIFF = re.compile(r"\b(?:d2|detectron2)\.utils\.events\b.*\biter: \d+\s")
WORLD = re.compile(r"\bRank of current process: \d+\. World size: (\d+)")
OPTS_BATCH = re.compile(r"'SOLVER\.IMS_PER_BATCH', '(\d+)'")
WARMUP = 2  # IterationTimer(warmup_iter=3) drops the first two iterations of each train() call


class Parser(LogParser):
    format = "detectron2"
    title = "detectron2 CommonMetricPrinter (console or log.txt)"
    semantics = TimeSemantics.RUNNING_MEAN
    time_meaning = ("running mean of every iteration time since start_iter + 2 "
                    "(detectron2/utils/events.py CommonMetricPrinter: storage.history('time').global_avg())")
    divergence = re.compile(r"Loss became infinite or NaN at iteration=")
    start_marker = START
    evaluation = re.compile(r"\bStart inference on \d+ ")
    checkpoint = re.compile(r"\bSaving checkpoint to ")

    def __init__(self) -> None:
        super().__init__()
        self.start_iter = 0
        self.dump = YamlDump("Running with full config:")
        self.config_batch: int | None = None
        self.reference_world = 0

    def read_batch(self, line: str, line_no: int) -> None:
        if "World size: " in line and (world := WORLD.search(line)):
            self.facts.note(line_no, line, world=int(world[1]))
            self._scale(line_no, line)
        elif "Namespace(" in line and "num_gpus=" in line:
            gpus, machines = namespace_int(line, "num_gpus"), namespace_int(line, "num_machines") or 1
            override = OPTS_BATCH.search(line)
            self.facts.note(line_no, line, world=gpus * machines if gpus else None, nodes=machines,
                            images=int(override[1]) if override and self.config_batch is None else None)
        elif entry := self.dump.feed(line):
            section, key, value = entry
            if section == "SOLVER" and key in ("IMS_PER_BATCH", "REFERENCE_WORLD_SIZE") and value.isdigit():
                if key == "IMS_PER_BATCH":
                    self.config_batch = int(value)
                    self.facts.note(line_no, line, images=int(value))
                else:
                    self.reference_world = int(value)
                self._scale(line_no, line)

    def _scale(self, line_no: int, line: str) -> None:
        """DefaultTrainer.auto_scale_workers: IMS_PER_BATCH x world / REFERENCE_WORLD_SIZE, where that is
        set."""
        world = self.facts.world
        if self.config_batch is not None and self.reference_world and world and world != self.reference_world:
            self.facts.note(line_no, line, images=round(self.config_batch * world / self.reference_world))

    def parse_line(self, line: str, line_no: int) -> IterationRecord | Event | None:
        if "iter: " not in line:
            start = START.search(line)
            if start:
                self.start_iter = int(start[1])
            return None
        match = LINE.search(line)
        if not match:
            return None
        rest = match[2]
        time = TIME.search(rest)
        if time is None and "loss" not in rest:
            return None  # an `iter:` that is not a progress line
        data_time = DATA_TIME.search(rest)
        values = meters(rest)
        return IterationRecord(
            iteration=int(match[1]) + 1, time=float(time[1]) if time else None, semantics=self.semantics,
            span_start=self.start_iter + WARMUP, line_no=line_no,
            data_time=float(data_time[1]) if data_time else None, losses=losses(values), lr=values.get("lr"))

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.search(line))
