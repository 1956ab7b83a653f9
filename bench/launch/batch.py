"""The batch bench planned against the batch the trainer says it runs: compared the moment the trainer prints
it, so that a run whose img/s would be wrong is stopped before it spends GPU time (status batch_mismatch)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.logs.types import BatchReport

SOURCE_TEXT_LIMIT = 200  # characters of the log line kept in the record's images_per_iter_source


@dataclass(frozen=True)
class PlannedBatch:
    """What the recipe's formula gives for this run, and over how many devices."""

    images_per_iter: int
    world_size: int  # devices training in all (a CPU run: 1)
    formula: str  # the recipe's images_per_iter formula, for messages

    def describe(self) -> str:
        return (f"the recipe's formula {self.formula!r} gives {self.images_per_iter} images/iteration on "
                f"{self.world_size} device(s)")

    def disagreement(self, report: BatchReport) -> str | None:
        """Why the trainer's own report contradicts the plan, naming both numbers and the log line; else
        None."""
        if report.images_per_iter is not None and report.images_per_iter != self.images_per_iter:
            said = f"the trainer trains {report.images_per_iter} images/iteration"
        elif report.world_size is not None and report.world_size != self.world_size:
            said = f"the trainer runs on {report.world_size} device(s)"
        else:
            return None
        return f"{said} ({log_source(report)}) but {self.describe()}; stopped before measuring"


def log_source(report: BatchReport) -> str:
    text = " ".join(report.text.split())
    if len(text) > SOURCE_TEXT_LIMIT:
        text = text[:SOURCE_TEXT_LIMIT - 1] + "…"
    return f"log line {report.line_no}: {text}"


def formula_source(planned: PlannedBatch) -> str:
    return f"recipe formula {planned.formula} at gpus = {planned.world_size} (the trainer printed no batch)"
