"""Runs of a comparison suite (`bench run --suite NAME`) as data: the records that share `extra.suite.id`,
their members' throughputs over the repeats, and the ranking table of a run with two or more measured members
(ranked by median img/s). The results page leads with such a ranking (bench.report.answer); the suites page
lists the others (bench.report.suites_page).

Significance: a two-sided Mann-Whitney U test over the repeats (bench.measure.stats: exact for small untied
samples; no SciPy). With 3 repeats each the smallest possible p is 0.1 (complete separation), so SAME marks a
member whose repeats are not completely separated from the next-ranked one's (p > ALPHA)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import cached_property

from bench.errors import BenchError
from bench.measure.stats import mann_whitney_two_sided
from bench.numbers import sig3
from bench.protocol.suite import Suite, load_suite
from bench.recipes import Recipe
from bench.records.schema import RunRecord
from bench.report.comparability import not_comparable_because
from bench.report.document import Code, Part, Table, Text, paragraph
from bench.report.rows import hardware_label, hardware_of
from bench.vocabulary import RunStatus

ALPHA = 0.1
SAME = "≈"  # in the "vs next" column: not distinguishable from the next-ranked member


@dataclass
class SuiteRun:
    """The records of one suite run (one `extra.suite.id`), oldest first."""

    id: str
    name: str
    preset: str
    records: list[RunRecord]

    @cached_property
    def definition(self) -> Suite | str:
        """The suite's definition, or why there is none (a suite this bench does not ship)."""
        try:
            return load_suite(self.name)
        except BenchError as exc:
            return str(exc)

    @property
    def suite(self) -> Suite | None:
        return self.definition if isinstance(self.definition, Suite) else None

    @cached_property
    def values(self) -> dict[str, list[float]]:
        """The ok throughputs of each member, fastest member (by median) first."""
        out: dict[str, list[float]] = {}
        for r in self.records:
            value = r.framework_timing.throughput_img_s
            if r.status is RunStatus.OK and value is not None:
                out.setdefault(r.implementation, []).append(value)
        return dict(sorted(out.items(), key=lambda item: (-statistics.median(item[1]), item[0])))

    @property
    def ranked(self) -> bool:
        """Two or more members measured, of a suite this bench knows: a ranking (one member is a measurement,
        never a ranking)."""
        return self.suite is not None and len(self.values) >= 2

    @property
    def hardware(self) -> tuple[int, str]:
        return hardware_of(self.records[0])

    @property
    def hardware_label(self) -> str:
        return hardware_label(*self.hardware)

    @property
    def day(self) -> str:
        return max(r.created for r in self.records)[:10]

    @property
    def baseline(self) -> str | None:
        return self.suite.baseline if self.suite else None

    @property
    def ok_records(self) -> list[RunRecord]:
        return [r for r in self.records if r.status is RunStatus.OK]

    def not_comparable(self, recipes: dict[str, Recipe]) -> list[str]:
        """Why its measurements cannot stand beside the published table (each reason once; empty when they
        can)."""
        reasons: dict[str, None] = {}
        for record in self.ok_records:
            reasons.update(dict.fromkeys(not_comparable_because(record, recipes)))
        return list(reasons)

    def ratio(self, name: str) -> tuple[float, float | None] | None:
        """A member's ratio to the baseline member, with its standard error; None without the baseline."""
        if self.baseline not in self.values or name not in self.values:
            return None
        return ratio_with_error(self.values[name], self.values[self.baseline])


def suite_runs(records: list[RunRecord]) -> list[SuiteRun]:
    """Every suite run among the records, newest first."""
    grouped: dict[str, list[RunRecord]] = {}
    for r in sorted(records, key=lambda r: (r.created, r.run_id)):
        suite = (r.extra or {}).get("suite")
        if suite:
            grouped.setdefault(suite["id"], []).append(r)
    runs = [SuiteRun(run_id, members[0].extra["suite"]["name"], members[0].extra["suite"]["preset"], members)
            for run_id, members in grouped.items()]
    return sorted(runs, key=lambda run: (max(r.created for r in run.records), run.id), reverse=True)


def ratio_with_error(values: list[float], base: list[float]) -> tuple[float, float | None]:
    """Median ratio and its standard error, from the relative standard errors of the two means (delta
    method)."""
    ratio = statistics.median(values) / statistics.median(base)
    if len(values) < 2 or len(base) < 2:
        return ratio, None
    rel = math.hypot(statistics.stdev(values) / statistics.mean(values) / math.sqrt(len(values)),
                     statistics.stdev(base) / statistics.mean(base) / math.sqrt(len(base)))
    return ratio, ratio * rel


def ratio_text(run: SuiteRun, name: str) -> str:
    if name == run.baseline:
        return "1 (baseline)"
    ratio = run.ratio(name)
    if ratio is None:
        return "-"
    return sig3(ratio[0]) + (f" ± {sig3(ratio[1])}" if ratio[1] is not None else "")


def ranking_table(run: SuiteRun) -> Table:
    """rank, member, median img/s, range, n, CV, ratio to the baseline, and whether it is distinguishable
    from the next-ranked member."""
    names = list(run.values)
    rows = []
    for rank, name in enumerate(names, 1):
        v = run.values[name]
        cv = f"{100 * statistics.stdev(v) / statistics.mean(v):.1f} %" if len(v) > 1 else "-"
        mark = "-"
        if rank < len(names):
            p = mann_whitney_two_sided(v, run.values[names[rank]])
            mark = f"{SAME} (p = {p:.2f})" if p > ALPHA else f"faster (p = {p:.2f})"
        rows.append((str(rank), name, sig3(statistics.median(v)), f"{sig3(min(v))}–{sig3(max(v))}",
                     str(len(v)), cv, ratio_text(run, name), mark))
    return Table(("rank", "implementation", "median img/s", "range", "n", "CV", "ratio", "vs next"),
                 tuple(rows), left=2)


def about(run: SuiteRun) -> Text:
    """Which run this is: suite, preset, hardware, day, id."""
    return ("suite ", Code(run.name), ", preset ", Code(run.preset), ", on ", run.hardware_label,
            f", {run.day} (suite run {run.id})")


def legend(run: SuiteRun) -> list[Part]:
    """How the run was made and how to read its table: repeats, the suite's own deviations, the test."""
    if run.suite is None:
        return [paragraph("Not ranked: ", (str(run.definition),))]
    deviations = "; ".join(run.suite.deviations)
    return [paragraph("Ratio: to ", Code(run.suite.baseline), ", the suite's baseline, ± its standard error "
                      f"(delta method on the means). {SAME}: not distinguishable from the next-ranked member "
                      f"(two-sided Mann-Whitney U over the repeats, p above {ALPHA}). Members' repeats "
                      f"interleaved. Whole-comparison deviation: {deviations}.")]
