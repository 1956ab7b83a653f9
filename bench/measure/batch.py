"""Which images per iteration a measurement counts, and why (issue 23): what the log says about its batch,
weighed by the strength its parser gives each fact, against a number the user or the recipe gives.

- A definitive fact (the trainer's own global batch or world size, printed by the code that uses it) wins
  over a different `--images-per-iter`, with a note.
- An inferred fact (a per-device batch times a device count the log may not state reliably) is used only
  where nothing else is given: `--images-per-iter` overrules it, and the record says so and why.
- Where the log's only number is known not to be the batch (strength unknown), there is no number without
  `--images-per-iter`: one line, exit status 2, never a guess.

`bench run` has no option: there the recipe's formula is what the log is compared with (bench.launch.batch).
`BatchEvidence` is what a record keeps of this: the log's number, its strength, its rule and the decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.logs.types import BatchReport
from bench.vocabulary import BatchStrength

SOURCE_TEXT_LIMIT = 200  # characters of the log line kept in the record's images_per_iter_source
OPTION = "--images-per-iter"


@dataclass(frozen=True)
class BatchEvidence:
    """What the log said about its batch and how it was weighed (the record's `batch_evidence`). A plain
    dataclass, as `Warning_`: `bench parse` makes it without importing pydantic; the record validates it."""

    __pydantic_config__ = {"extra": "forbid"}  # as every record model: an unknown key is an error

    strength: BatchStrength
    images_per_iter: int | None  # what the log's facts give (also where they are not evidence)
    line: int
    text: str
    rule: str  # the parser's rule: which printed facts, their source and the versions it holds for
    decision: str  # why the measured images per iteration are what they are
    world_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", BatchStrength(self.strength))  # not a strength: ValueError

    def as_json(self) -> dict:
        return {**asdict(self), "strength": self.strength.value}


@dataclass(frozen=True)
class BatchChoice:
    images_per_iter: int
    source: str  # "log line 12: <text>", "--images-per-iter option ...", "recipe formula ..."
    evidence: BatchEvidence | None = None
    note: str | None = None  # one line for stderr where the option and the log differ


def log_source(report: BatchReport) -> str:
    """`log line N: <the line>`, shortened to what a record keeps."""
    text = " ".join(report.text.split())
    if len(text) > SOURCE_TEXT_LIMIT:
        text = text[:SOURCE_TEXT_LIMIT - 1] + "…"
    return f"log line {report.line_no}: {text}"


def log_number(report: BatchReport) -> int | None:
    """The images per iteration the log's facts give, evidence or not."""
    return report.images_per_iter if report.images_per_iter is not None else report.printed


def evidence(report: BatchReport, decision: str) -> BatchEvidence:
    return BatchEvidence(strength=report.strength, images_per_iter=log_number(report),
                         world_size=report.world_size, line=report.line_no,
                         text=report.text[:SOURCE_TEXT_LIMIT], rule=report.rule, decision=decision)


def not_evidence(report: BatchReport) -> str:
    """One clause: the log's number and why it is not the batch."""
    return (f"the log's {log_number(report)} images/iteration (line {report.line_no}) is not evidence: "
            f"{report.rule}")


def choose_for_parse(report: BatchReport | None, given: int | None, log: Path) -> BatchChoice:
    """`bench parse`: the images per iteration from the log's report and `--images-per-iter` (or None)."""
    if given is not None and given <= 0:
        raise BenchError(f"{OPTION} {given}: need a positive number of images")
    if report is None:
        if given is None:
            raise BenchError(f"{log}: the log does not say how many images an iteration trains; "
                             f"give {OPTION} N (global, all GPUs)")
        return BatchChoice(given, f"{OPTION} option")
    line = report.line_no
    if report.strength is BatchStrength.UNKNOWN:
        if given is None:
            raise BenchError(f"{log}: the batch is unknown: {not_evidence(report)}; give {OPTION} N "
                             "(global, all GPUs)")
        return BatchChoice(given, f"{OPTION} option; the log's {log_number(report)} images/iteration (line "
                                  f"{line}) is not evidence",
                           evidence(report, f"{OPTION} {given} used: the log's number is not evidence"),
                           note=f"using {OPTION} {given}: {not_evidence(report)}")
    logged = report.images_per_iter
    assert logged is not None  # a report of a usable strength carries its number
    if given is None or given == logged:
        agreed = "" if given is None else f"; {OPTION} {given} agrees"
        return BatchChoice(logged, log_source(report),
                           evidence(report, f"the log's {report.strength} number used{agreed}"))
    if report.strength is BatchStrength.DEFINITIVE:
        return BatchChoice(logged, log_source(report),
                           evidence(report, f"the log's definitive number used over {OPTION} {given}"),
                           note=f"{OPTION} {given} differs from the {logged} images per iteration {log} says "
                                f"at line {line}; using the log's {logged}")
    overruled = f"the log's inferred {logged} images/iteration (line {line})"
    return BatchChoice(given, f"{OPTION} option; it overrules {overruled}",
                       evidence(report, f"{OPTION} {given} used: an inferred number never overrules the "
                                        "option"),
                       note=f"using {OPTION} {given} over {overruled}: {report.rule}")
