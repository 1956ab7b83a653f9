"""detectron2 CommonMetricPrinter (v0.1.2 and current releases), console or `OUTPUT_DIR/log.txt`.

Console: `[05/14 10:02:11 d2.utils.events]:  eta: 6:31:05  iter: 99  total_loss: 1.532 ...  time: 0.2641
data_time: 0.0093  lr: 0.001998  max_mem: 3105M`; log.txt: `[05/14 10:03:55] d2.utils.events INFO:  eta: ...`.
Current releases add `last_time: ...  last_data_time: ...` (the latest single values) and print losses with
`.4g`. `iter` is 0-based (19, 39, ...). `time` is fvcore's `HistoryBuffer.global_avg()` of IterationTimer's
step times, which skip the first two iterations after `start_iter` (warmup_iter=3 with iter_done = iter + 1),
in an EventStorage created anew by every `train()`: at printed iter k of a run started (or resumed) at
iteration S it is the mean over completed iterations (S + 2, k + 1]. `Starting training from iteration S`
gives S.

Batch facts, each with its strength (issue 23), read at v0.1.2 (60205f8) and the mirror's current main
(02b5c4e); `git log -S` dates the auto-scaling:
- `Rank of current process: R. World size: W` (engine/defaults.py:218 @ 02b5c4e, :125 @ 60205f8): W is
  `comm.get_world_size()`, the distributed initialisation's own world size. Definitive, v0.1.2 to current.
- `Command line arguments: Namespace(... num_gpus=G, num_machines=M, ... opts=['SOLVER.IMS_PER_BATCH', '2',
  ...])` (defaults.py:221; tools/train_net.py:155 prints it as `Command Line Args:` too): G x M is what
  detectron2's `launch()` spawns (engine/launch.py:54 @ 02b5c4e, :35 @ 60205f8), but a script started by
  another launcher (torchrun) can differ, and the opts are the command line's override before
  tools/train_net.py:118 merges it. Inferred: both give way to the definitive facts below.
- `Running with full config:` and the effective config as YAML (`cfg.dump()` now, yacs `str(cfg)` in v0.1.2;
  defaults.py:235), command-line opts already merged. `SOLVER.IMS_PER_BATCH` is the global batch the train
  loader splits over the workers (data/build.py:514 `total_batch_size` @ 02b5c4e, :278 @ 60205f8;
  config/defaults.py:560: "IMS_PER_BATCH = 32 [on 16 GPUs] ... each GPU will see 2 images"). Definitive
  where `SOLVER.REFERENCE_WORLD_SIZE` is absent (before v0.2), 0, or the world size.
- Otherwise `DefaultTrainer.auto_scale_workers` (defaults.py:669-735, added in 963177e3, first in v0.2)
  scales it by world / REFERENCE_WORLD_SIZE after the dump, but only where the script builds a
  DefaultTrainer (tools/train_net.py does, plain_train_net.py does not): the scaled number is inferred until
  its `Auto-scaling the config to batch_size=N, ...` line (defaults.py:731) says it, which is definitive.
The dump is weighed when it ends (REFERENCE_WORLD_SIZE follows IMS_PER_BATCH in it). `--num-gpus` is per
machine.
Evaluation: `Start inference on N batches` (evaluation/evaluator.py inference_on_dataset), run by EvalHook's
`after_step`. IterationTimer is the first hook (engine/defaults.py:330 @ 60205f8, :465 @ 02b5c4e; EvalHook
:357 / :494): its `after_step` stores the step time before EvalHook runs, and its `before_step` restarts the
step timer (engine/hooks.py:129-138 @ 60205f8, :139-149 @ 02b5c4e), so the printed times exclude an
evaluation. Checkpoints: `Saving checkpoint to ...` (fvcore Checkpointer.save).
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.batch import YamlDump, namespace_int
from bench.logs.common import NUMBER, losses, meters
from bench.logs.types import Event, IterationRecord, TimeSemantics
from bench.vocabulary import BatchStrength

LINE = re.compile(r"\biter: (\d+)\s+(.*)$")
TIME = re.compile(r"(?<![\w])time: (" + NUMBER + ")")
DATA_TIME = re.compile(r"(?<![\w])data_time: (" + NUMBER + ")")
START = re.compile(r"Starting training from iteration (\d+)")
SNIFF = re.compile(r"\b(?:d2|detectron2)\.utils\.events\b.*\biter: \d+\s")
WORLD = re.compile(r"\bRank of current process: \d+\. World size: (\d+)")
OPTS_BATCH = re.compile(r"'SOLVER\.IMS_PER_BATCH', '(\d+)'")
AUTO_SCALED = re.compile(r"\bAuto-scaling the config to batch_size=(\d+),")
WORLD_RULE = ("the distributed initialisation's world size, comm.get_world_size() "
              "(detectron2/engine/defaults.py:218 @ 02b5c4e; v0.1.2 to current)")
NAMESPACE_RULE = ("num_gpus x num_machines of the printed arguments: what detectron2's launch() spawns "
                  "(engine/launch.py:54 @ 02b5c4e), not necessarily the world size")
OPTS_RULE = "the command line's SOLVER.IMS_PER_BATCH override, before the merged config confirms it"
FULL_CONFIG_RULE = ("SOLVER.IMS_PER_BATCH of the full config, the global batch the train loader splits over "
                    "the workers (detectron2/data/build.py:514 @ 02b5c4e; v0.1.2 to current)")
SCALED_RULE = ("DefaultTrainer.auto_scale_workers scales IMS_PER_BATCH by world size / REFERENCE_WORLD_SIZE "
               "(engine/defaults.py:669-735 @ 02b5c4e, from v0.2), where the script builds a DefaultTrainer: "
               "no 'Auto-scaling' line confirms it")
AUTO_SCALED_RULE = ("the batch DefaultTrainer.auto_scale_workers set and printed "
                    "(detectron2/engine/defaults.py:731 @ 02b5c4e; v0.2 to current)")
EVALUATION_UNTIMED = ("detectron2's IterationTimer, the first hook, stores each step's time before "
                      "EvalHook's after_step runs and restarts its timer in before_step "
                      "(engine/hooks.py:139-149, engine/defaults.py:465,494 @ 02b5c4e; v0.1.2 alike)")
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
        # (IMS_PER_BATCH, line, text) of the full config
        self.config_batch: tuple[int, int, str] | None = None
        self.reference_world = 0
        self.auto_scaled = False  # DefaultTrainer printed the batch it scaled to

    def read_batch(self, line: str, line_no: int) -> None:
        if "World size: " in line and (world := WORLD.search(line)):
            self.facts.note(line_no, line, world=int(world[1]), rule=WORLD_RULE)
            self._weigh_config()
        elif "Namespace(" in line and "num_gpus=" in line:
            gpus, machines = namespace_int(line, "num_gpus"), namespace_int(line, "num_machines") or 1
            override = OPTS_BATCH.search(line)
            self.facts.note(line_no, line, world=gpus * machines if gpus else None, nodes=machines,
                            strength=BatchStrength.INFERRED, rule=NAMESPACE_RULE)
            if override and self.config_batch is None:
                self.facts.note(line_no, line, images=int(override[1]), strength=BatchStrength.INFERRED,
                                rule=OPTS_RULE)
        elif "Auto-scaling the config to batch_size=" in line and (scaled := AUTO_SCALED.search(line)):
            self.facts.note(line_no, line, images=int(scaled[1]), rule=AUTO_SCALED_RULE, override=True)
            self.auto_scaled = True
        else:
            if self.dump.header in line:  # a new run's config (log.txt is appended to): weigh it afresh
                self.config_batch, self.reference_world, self.auto_scaled = None, 0, False
            active = self.dump.active
            entry = self.dump.feed(line)
            if entry is not None:
                self._dump_entry(entry, line_no, line)
            elif active and not self.dump.active:
                self._weigh_config()

    def _dump_entry(self, entry: tuple[str, str, str], line_no: int, line: str) -> None:
        section, key, value = entry
        if section == "SOLVER" and key == "IMS_PER_BATCH" and value.isdigit():
            self.config_batch = (int(value), line_no, line)
        elif section == "SOLVER" and key == "REFERENCE_WORLD_SIZE" and value.isdigit():
            self.reference_world = int(value)

    def _weigh_config(self) -> None:
        """The full config's batch, once its dump is over (and again when the world size is printed):
        definitive unless DefaultTrainer.auto_scale_workers may scale it."""
        if self.config_batch is None or self.auto_scaled:
            return
        value, line_no, line = self.config_batch
        world = self.facts.get("world")
        known_world = world.value if world and world.strength is BatchStrength.DEFINITIVE else None
        if not self.reference_world or self.reference_world == known_world:
            self.facts.note(line_no, line, images=value, rule=FULL_CONFIG_RULE, override=True)
        elif known_world is None:
            self.facts.note(line_no, line, images=value, strength=BatchStrength.INFERRED, override=True,
                            rule=f"{FULL_CONFIG_RULE}; but SOLVER.REFERENCE_WORLD_SIZE is "
                                 f"{self.reference_world} and no world size is printed")
        else:
            self.facts.note(line_no, line, images=round(value * known_world / self.reference_world),
                            strength=BatchStrength.INFERRED, override=True,
                            rule=f"{SCALED_RULE} ({value} x {known_world} / {self.reference_world})")

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

    def evaluation_untimed(self, event: Event, before: IterationRecord | None,
                           after: IterationRecord | None) -> str | None:
        return EVALUATION_UNTIMED

    @classmethod
    def sniff(cls, line: str) -> bool:
        return bool(SNIFF.search(line))
