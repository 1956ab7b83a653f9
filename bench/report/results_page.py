"""The results README (results/README.md, or the file `bench table --out` names): the answer first, in a
terminal's width. The newest suite ranking on the best hardware (bench.report.answer), the one then-and-now
table from that same ranking (bench.report.then_and_now), the published 2020 table
(bench.report.published_table), real hardware from MLPerf as a summary (bench.report.mlperf_section), then
links to the pages that hold everything else (bench.report.pages)."""

from __future__ import annotations

from bench.report.answer import answer_parts, leading_runs
from bench.report.context import GENERATED_NOTE, Context, Page
from bench.report.document import Items, PageLink, Part, heading, paragraph
from bench.report.markdown import References, render_parts
from bench.report.mlperf_page import NAME as MLPERF_PAGE
from bench.report.mlperf_section import summary_parts
from bench.report.published_table import published_parts
from bench.report.then_and_now import then_and_now

INTRO = ("Training throughput of Mask R-CNN R-50-FPN in images per second: the images of the measured window "
         "divided by its wall time, from each implementation's own log. Every measured number comes from a "
         "run record (under `runs/`); published numbers are labelled as published, with their source. Three "
         "significant digits.")


def lead_parts(ctx: Context) -> list[Part]:
    """What the page says before its links: also the HTML report's opening (bench.report.html)."""
    leads = leading_runs(ctx.suite_runs)
    answer = answer_parts(ctx) if ctx.records else [
        paragraph("No run records yet: run `bench run NAME`, or import a log with "
                  "`bench parse LOG --record results/runs/<run-id>`.")]
    return [*answer, *then_and_now(leads[0] if leads else None, ctx.recipes), *published_parts(ctx.recipes),
            *summary_parts(ctx.mlperf, MLPERF_PAGE)]


def render(ctx: Context, pages: list[Page]) -> str:
    parts: list[Part] = [heading(1, "Results"), paragraph(INTRO)]
    if pages:
        links = [PageLink(p.title, p.name) for p in pages]
        parts.append(paragraph("More: ", *[part for link in links for part in (" · ", link)][1:]))
    parts += lead_parts(ctx)
    if pages:
        parts += [heading(2, "Everything else"),
                  Items(tuple((PageLink(p.title, p.name), ": ", p.about) for p in pages))]
    links = References("s")
    lines = [GENERATED_NOTE, "", *render_parts(parts, links), *links.render()]
    return "\n".join(lines).rstrip("\n") + "\n"
