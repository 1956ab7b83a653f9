"""mlperf.md: every MLPerf Training system imported with `bench import mlperf`, one row per system (a repeat
group: the median of its ok runs, with the range and n), by round and then img/s per accelerator, with the
plot.
These rows are never ranked and never share a table with bench's own runs: their global batch, precision and
accelerator count are MLPerf's, listed as deviations in each record."""

from __future__ import annotations

from bench.numbers import sig3
from bench.report.context import GENERATED_NOTE, Context, Page
from bench.report.document import Image, Link, Paragraph, Part, Table, heading, paragraph, settings
from bench.report.markdown import References, render_parts
from bench.report.mlperf_section import PLOT_NAME, accelerators_of, system_rows, windows_of

NAME = "mlperf.md"
TITLE = "MLPerf systems"


def list_parts(ctx: Context, plot: str | None = PLOT_NAME) -> list[Part]:
    """The settings stated once, the plot, and a table of every system with its latest log."""
    rows = system_rows(ctx.mlperf)
    measured = sum(1 for row in rows if row.n)
    table = []
    for row in rows:
        r, mlperf = row.record, row.record.extra["mlperf"]
        img_s = sig3(row.img_s) + (f" ({sig3(row.low)}–{sig3(row.high)})" if row.n > 1 else "")
        table.append((r.title, f"v{mlperf['version']}", f"{accelerators_of(r)} × {r.gpu_model or '?'}", img_s,
                      f"{row.n}/{row.runs}", sig3(row.per_accelerator),
                      (Link("log", mlperf["log_url"]),) if row.n else r.status.value))
    intro = paragraph(
        "Mask R-CNN runs of the MLPerf Training rounds, imported with `bench import mlperf` from the public "
        f"result repositories ({len(rows)} systems, {len(ctx.mlperf)} runs, {measured} systems measured). "
        "img/s is the median over a system's runs of images in the window divided by its wall time, from the "
        "running means the log prints (trainer lines or tracked_stats), cross-checked against the events' "
        "own timestamps. n is ok runs / runs; the log is the system's latest run (a system without a "
        "measurement shows its status; its records say why). Never ranked, never compared with bench's own "
        "runs.")
    stated = Paragraph(settings([("Window", windows_of(ctx.mlperf)),
                                 ("Data", "the MLPerf benchmark's (not named in the logs)"),
                                 ("Precision and global batch", "MLPerf's, per system (in each record)"),
                                 ("Stack", "the submitter's (in each record)")]))
    image = [Image("img/s per accelerator by accelerator generation", plot)] if plot else []
    return [intro, stated, *image,
            Table(("System", "Round", "Accelerators", "img/s", "n", "per accelerator", "Log"), tuple(table),
                  left=3)]


def page(ctx: Context) -> Page | None:
    if not ctx.mlperf:
        return None
    links = References("m")
    parts = [heading(1, "MLPerf Training systems (imported)"), *list_parts(ctx)]
    lines = [GENERATED_NOTE, "", *render_parts(parts, links), *links.render()]
    about = (f"all {len(system_rows(ctx.mlperf))} imported systems, with the exact accelerator, every round "
             "and the plot")
    return Page(NAME, TITLE, about, "\n".join(lines) + "\n")
