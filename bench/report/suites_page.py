"""suites.md: the suite runs the results page does not lead with: older rankings (and rankings on more
hardware than it shows), each with its telemetry, and the suite runs that rank nothing (one member measured),
in one table of measurements: one member is never a ranking."""

from __future__ import annotations

import statistics

from bench.numbers import sig3
from bench.report.answer import SUITES_PAGE, ranking_parts, shown_runs
from bench.report.context import GENERATED_NOTE, Context, Page
from bench.report.document import Heading, PageLink, Part, Table, heading, paragraph
from bench.report.markdown import References, render_parts
from bench.report.runs_page import NAME as RUNS_PAGE
from bench.report.suite_runs import SuiteRun

NAME = SUITES_PAGE
TITLE = "Suite runs"


def unranked_table(runs: list[SuiteRun]) -> list[Part]:
    """One row per member of each suite run that ranks nothing: one member measured (or none), or a suite
    this bench does not ship."""
    rows = []
    for run in runs:
        for member, values in (run.values or {"(none measured)": []}).items():
            spread = f"{sig3(min(values))}–{sig3(max(values))}" if len(values) > 1 else "-"
            rows.append((run.id, run.preset, run.hardware_label, run.day, member,
                         sig3(statistics.median(values)) if values else "-", spread, str(len(values))))
    return [heading(2, "Suite runs with one member (measurements, not rankings)"),
            paragraph("A suite run that measured one member (or none), or of a suite this bench does not "
                      "ship, ranks nothing: its members' median img/s over the repeats, with the range and "
                      "n. Their rows, with every detail, are also on the ",
                      PageLink("all-runs page", RUNS_PAGE), "."),
            Table(("suite run", "preset", "hardware", "day", "member", "median img/s", "range", "n"),
                  tuple(rows), left=5)]


def suite_page_parts(ctx: Context) -> list[Part]:
    """The page's parts below its title (empty when every suite run is on the results page)."""
    shown = {run.id for run in shown_runs(ctx.suite_runs)}
    parts: list[Part] = []
    for run in ctx.suite_runs:
        if run.ranked and run.id not in shown:
            parts += [Heading(2, (run.name, " · ", run.preset, " · ", run.hardware_label, " · ", run.day)),
                      *ranking_parts(run, ctx, "Ranking of ")]
    unranked = [run for run in ctx.suite_runs if not run.ranked]
    return parts + (unranked_table(unranked) if unranked else [])


def page(ctx: Context) -> Page | None:
    parts = suite_page_parts(ctx)
    if not parts:
        return None
    links = References("s")
    intro = paragraph("Every run of a comparison suite (`bench run --suite NAME`) that the results page does "
                      "not lead with, newest first: older rankings, rankings on more hardware, and the runs "
                      "that measured one member.")
    lines = [GENERATED_NOTE, "", *render_parts([heading(1, TITLE), intro, *parts], links), *links.render()]
    about = ("older suite rankings, rankings on more hardware, and the suite runs that measured one member "
             "(measurements, not rankings)")
    return Page(NAME, TITLE, about, "\n".join(lines).rstrip("\n") + "\n")
