"""The answer the results page leads with: which implementation trains fastest, from the newest run of a
comparison suite with two or more measured members on each hardware, best hardware first.

Best hardware first: GPU runs before CPU runs, more GPUs first, then the faster hardware by the suite's
baseline member (its median img/s in that run; the fastest member's where the baseline did not run). The lead
run's ranking is stated in full with whether it may stand beside the published 2020 table; where no GPU run
has two members yet, the page says so and names the command that measures one.
"""

from __future__ import annotations

import statistics

from bench.protocol.suite import load_suite
from bench.report.context import Context
from bench.report.document import Code, Heading, PageLink, Part, Text, heading, paragraph, prose
from bench.report.diagnostics import suite_parts
from bench.report.runs_page import NAME as RUNS_PAGE
from bench.report.suite_runs import SuiteRun, about, legend, ranking_table

SUITES_PAGE = "suites.md"  # bench.report.suites_page.NAME (that module imports this one)
MORE_HARDWARE = 2  # rankings on other hardware shown below the lead; the rest are on the suites page
DEFAULT_SUITE = "current"  # named in the command that measures a first ranking


def _order(run: SuiteRun) -> tuple:
    gpus = run.hardware[0]
    reference = run.values.get(run.baseline) or next(iter(run.values.values()))
    return gpus == 0, -gpus, -statistics.median(reference), run.hardware


def leading_runs(runs: list[SuiteRun]) -> list[SuiteRun]:
    """The newest ranked run on each hardware, best hardware first (`runs`: newest first)."""
    newest: dict[tuple[int, str], SuiteRun] = {}
    for run in runs:
        if run.ranked:
            newest.setdefault(run.hardware, run)
    return sorted(newest.values(), key=_order)


def shown_runs(runs: list[SuiteRun]) -> list[SuiteRun]:
    """The rankings the results page shows: the lead and up to MORE_HARDWARE more."""
    return leading_runs(runs)[:1 + MORE_HARDWARE]


def _kind(run: SuiteRun, ctx: Context) -> Text:
    """"This is a CPU `smoke` run: it is not comparable with the published 2020 table below (why).\""""
    reasons = run.not_comparable(ctx.by_name)
    kind = (*prose(f"This is a {'GPU' if run.hardware[0] else 'CPU'} "), Code(run.preset), " run")
    if not reasons:
        return (*kind, ", comparable with the published 2020 table below.")
    return (*kind, ": it is not comparable with the published 2020 table below (", "; ".join(reasons), ").")


def _gpu_command(name: str) -> str:
    """The command that measures a GPU ranking of suite `name` (its first preset on GPUs)."""
    presets = load_suite(name).presets
    gpu = next((preset for preset, settings in presets.items() if settings.gpus > 0), None)
    if gpu is None:
        return f"bench run --suite {name} --repeat 3"
    return f"bench run --suite {name} --preset {gpu} --gpus {presets[gpu].gpus} --repeat 3"


def _gpu_pending(runs: list[SuiteRun], name: str) -> list[Part]:
    """Said when no GPU run of the suite has two members: that the GPU ranking is pending, how to measure it,
    and which GPU suite runs measured one member (listed on the suites page, never ranked)."""
    parts = [paragraph(f"No GPU run of suite `{name}` with two or more members exists yet: the GPU ranking "
                       "is pending (", Code(_gpu_command(name)), " on a GPU machine measures it).")]
    single: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        if run.name == name and run.hardware[0] and len(run.values) == 1:
            single.setdefault((next(iter(run.values)), run.hardware_label), []).append(run.preset)
    if single:
        measured = "; ".join(f"{member} on {hardware} (preset {', '.join(presets)})"
                             for (member, hardware), presets in single.items())
        parts.append(paragraph("GPU suite runs so far measured one member each: ", (measured,), ". One "
                               "member is a measurement, not a ranking: see ",
                               PageLink("suite runs", SUITES_PAGE), "."))
    return parts


def ranking_parts(run: SuiteRun, ctx: Context, lead: str) -> list[Part]:
    """A ranked suite run: which run it is and whether it is comparable, its table, how to read it, and what
    the hardware did (telemetry, where the members have it)."""
    return [paragraph(lead, about(run), ". ", _kind(run, ctx)), ranking_table(run), *legend(run),
            *suite_parts(run.ok_records, run.baseline or "")]


def answer_parts(ctx: Context) -> list[Part]:
    runs = ctx.suite_runs
    leads = leading_runs(runs)
    parts: list[Part] = [heading(2, "Which implementation trains fastest?")]
    if not leads:
        measured = (" Every run measured so far, per hardware: ", PageLink("all runs", RUNS_PAGE), ".")
        return parts + [paragraph("No suite run with two or more measured members yet: ",
                                  Code(f"bench run --suite {DEFAULT_SUITE} --repeat 3"),
                                  " measures one (the ranking this page leads with).",
                                  measured if ctx.rows[0] else ())]
    parts += ranking_parts(leads[0], ctx, "The newest ranking, on the best hardware measured: ")
    if not any(run.hardware[0] for run in leads):
        parts += _gpu_pending(runs, leads[0].name)
    for run in leads[1:1 + MORE_HARDWARE]:
        parts += [Heading(3, ("Also ranked: ", run.hardware_label)),
                  *ranking_parts(run, ctx, "The newest ranking on this hardware: ")]
    if len(leads) > 1 + MORE_HARDWARE:
        parts.append(paragraph(f"Rankings on {len(leads) - 1 - MORE_HARDWARE} more hardware: ",
                               PageLink("suite runs", SUITES_PAGE), "."))
    return parts
