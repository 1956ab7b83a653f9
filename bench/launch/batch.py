"""The batch bench planned against the batch the trainer says it runs: compared the moment the trainer prints
it, so that a run whose img/s would be wrong is stopped before it spends GPU time (status batch_mismatch).

`bench run` has no --images-per-iter: the recipe's formula is the plan, and a definitive or an inferred
number that contradicts it stops the run. A number the log prints but that is known not to be the batch
(strength unknown, bench.measure.batch) contradicts nothing: the run goes on with the formula, and the record
says why the log's number was not used."""

from __future__ import annotations

from dataclasses import dataclass

from bench.logs.types import BatchReport
from bench.measure.batch import BatchChoice, evidence, log_source, not_evidence
from bench.vocabulary import BatchStrength


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
        None (a report that is not evidence contradicts nothing)."""
        if report.evidence is not None and report.evidence != self.images_per_iter:
            said = f"the trainer trains {report.evidence} images/iteration"
        elif report.world_size is not None and report.world_size != self.world_size:
            said = f"the trainer runs on {report.world_size} device(s)"
        else:
            return None
        return (f"{said} ({report.strength}: {log_source(report)}) but {self.describe()}; stopped before "
                "measuring")

    def choose(self, report: BatchReport | None) -> BatchChoice:
        """The record's images per iteration (always the formula's: a contradiction stopped the run) and
        where they come from: the trainer's own line when it printed the same number."""
        if report is None:
            return BatchChoice(self.images_per_iter, formula_source(self, "the trainer printed no batch"))
        if report.strength is BatchStrength.UNKNOWN:
            why = not_evidence(report)
            return BatchChoice(self.images_per_iter, formula_source(self, why),
                               evidence(report, f"the recipe's formula used: {why}"))
        if self.disagreement(report) is None:
            return BatchChoice(self.images_per_iter, log_source(report),
                               evidence(report, f"the log's {report.strength} number agrees with the "
                                                "recipe's formula"))
        return BatchChoice(self.images_per_iter, formula_source(self, "the trainer's batch contradicts it"),
                           evidence(report, f"the log's {report.strength} number contradicts the recipe's "
                                            "formula: the run was stopped (batch_mismatch)"))


def formula_source(planned: PlannedBatch, why: str) -> str:
    return f"recipe formula {planned.formula} at gpus = {planned.world_size} ({why})"
