"""torchvision `references/detection` MetricLogger.log_every (also the built-in benchmark's format).

`Epoch: [0]  [ 100/7329]  eta: 0:44:12  lr: 0.002018  loss: 1.5234 (2.0123)  ...  time: 0.3621  data: 0.0112
max mem: 4412`. The index is 0-based within the epoch; `time` is the mean of the last 20 iteration times
(SmoothedValue(window_size=20), a new MetricLogger each epoch), printed every `--print-freq` (20) iterations.

Batch facts (references/detection/utils.py @ 15fc26c7 and train.py @ 3ceb056d; older releases were not
read): train.py calls `utils.init_distributed_mode(args)` then `print(args)`, a `Namespace(... batch_size=2
... world_size=8 ... distributed=True ...)`. `batch_size` is the per-process batch of the train loader's
batch sampler ("the total batch size is $NGPU x batch_size"): definitive. init_distributed_mode sets
`world_size` from $WORLD_SIZE, or under SLURM leaves the `--world-size` option, and passes it to
`init_process_group(world_size=...)`: with `distributed=True` it is the world size, definitive;
`Not using distributed mode` (distributed=False) means one process, definitive. Every rank prints `|
distributed init (rank R): URL` before `setup_for_distributed` silences the others: where more distinct ranks
are seen than the Namespace says, their count is taken, inferred (a count of the lines this log holds). The
built-in trainer prints the same Namespace.
Evaluation: the `Test:` MetricLogger header (engine.py evaluate), run by train.py between epochs; each epoch's
log_every starts its clock anew (`end = time.time()` before the first iteration, utils.py @ 15fc26c7), so
the printed times exclude an evaluation.
"""

from __future__ import annotations

import re

from bench.logs.base import LogParser
from bench.logs.batch import namespace_int
from bench.logs.types import Event, IterationRecord, TimeSemantics
from bench.vocabulary import BatchStrength

# Two steps, each linear in the line's length: the fixed head, then the first `  time: T  data: D` after it
# (one regex with lazy groups between two-space separators was quadratic in runs of whitespace).
HEAD = re.compile(r"^Epoch: \[(\d+)\]\s+\[\s*(\d+)/(\d+)\]\s+eta: ")
TAIL = re.compile(r"\s{2}time: ([0-9.]+)\s{2}data: ([0-9.]+)(?:\s{2}max mem: (\d+))?")
METER = re.compile(r"(?<!\w)(\w+): (-?[0-9.]+|nan|inf|-inf)(?: \((-?[0-9.]+|nan|inf|-inf)\))?")
DIST_INIT = re.compile(r"^\| distributed init \(rank (\d+)\)")
WINDOW = 20  # SmoothedValue's window in log_every
EVALUATION_UNTIMED = ("torchvision's train.py evaluates between epochs, and each epoch's log_every starts "
                      "its clock anew (references/detection/utils.py MetricLogger.log_every @ 15fc26c7)")
PER_PROCESS_RULE = ("batch_size of the printed arguments, the per-process batch of the train loader "
                    "(references/detection/train.py @ 3ceb056d)")
WORLD_RULE = ("world_size of the printed arguments (1 without distributed mode), what init_distributed_mode "
              "passes to init_process_group (references/detection/utils.py @ 15fc26c7)")
RANKS_RULE = ("the distinct ranks that printed '| distributed init', more than the printed world_size: "
              "a count of the lines this log holds")


class Parser(LogParser):
    format = "torchvision"
    title = "torchvision references/detection MetricLogger"
    semantics = TimeSemantics.INTERVAL_MEAN
    time_meaning = ("mean of the last 20 iteration times "
                    "(references/detection/utils.py MetricLogger.log_every)")
    divergence = re.compile(r"Loss is \S+, stopping training")
    start_marker = re.compile(r"^Start training$")
    evaluation = re.compile(r"^Test: +\[")

    def __init__(self) -> None:
        super().__init__()
        self.ranks: set[int] = set()  # from `| distributed init (rank R)` lines
        self.namespace_world: int | None = None

    def read_batch(self, line: str, line_no: int) -> None:
        if line.startswith("| distributed init") and (rank := DIST_INIT.match(line)):
            self.ranks.add(int(rank[1]))
            self._world(line_no, line)
        elif line.startswith("Namespace(") and "batch_size=" in line:
            distributed = "distributed=True" in line
            self.namespace_world = (namespace_int(line, "world_size") or 1) if distributed else 1
            self.facts.note(line_no, line, per_device=namespace_int(line, "batch_size"),
                            rule=PER_PROCESS_RULE, override=True)
            self._world(line_no, line)

    def _world(self, line_no: int, line: str) -> None:
        if self.namespace_world is None:
            return
        if len(self.ranks) > self.namespace_world:
            self.facts.note(line_no, line, world=len(self.ranks), strength=BatchStrength.INFERRED,
                            rule=RANKS_RULE, override=True)
        else:
            self.facts.note(line_no, line, world=self.namespace_world, rule=WORLD_RULE, override=True)

    def parse_line(self, line: str, line_no: int) -> IterationRecord | None:
        match = HEAD.match(line) if line.startswith("Epoch: ") else None
        tail = TAIL.search(line, match.end()) if match else None
        if not tail:
            return None
        epoch, index, length = int(match[1]), int(match[2]), int(match[3])
        offset = epoch * length
        done = index + 1
        meters = {m[1]: float(m[2]) for m in METER.finditer(line, match.end(), tail.start())}
        lr = meters.pop("lr", None)
        return IterationRecord(
            iteration=offset + done, time=float(tail[1]), semantics=self.semantics,
            span_start=offset + max(0, done - WINDOW), line_no=line_no, epoch=epoch,
            data_time=float(tail[2]), losses={k: v for k, v in meters.items() if k.startswith("loss")},
            lr=lr)

    def evaluation_untimed(self, event: Event, before: IterationRecord | None,
                           after: IterationRecord | None) -> str | None:
        return EVALUATION_UNTIMED

    @classmethod
    def sniff(cls, line: str) -> bool:
        match = HEAD.match(line) if line.startswith("Epoch: ") else None
        return bool(match and TAIL.search(line, match.end()))
