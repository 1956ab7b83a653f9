"""all-runs.md: every measured row as a pure function of the run records (and the recipes' published
references), the page behind the results README's answer.

Per section (protocol or preset) and hardware: the settings stated once above a table of at most seven
columns (implementation, img/s median with its range, n, ratio to Detectron2 with its uncertainty,
published, deviations as a count linking the row's details, record), then the rows' details. Which rows are
shown is bench.report.rows'; what a block holds is bench.report.blocks'; this module only writes markdown.
Same records -> byte-identical text: no generation time, stable sorts, fixed number formats; prose is wrapped
so that no line is wider than WIDTH unless a single word (a link) is.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.recipes import Recipe
from bench.report.blocks import Block, Detail, blocks, commit_of, img_s_text, published_of, ratio_text
from bench.report.context import GENERATED_NOTE, Context, Page
from bench.report.document import settings, shorten
from bench.report.markdown import References, cell, inline, link_target, markdown, relative, wrap
from bench.report.plots import THROUGHPUT_PNG
from bench.report.rows import Row, hardware_label

NAME = "all-runs.md"
TITLE = "All runs by hardware"
REASON_WIDTH = 36  # characters of a failed attempt's reason in its table (the record holds it whole)
INTRO = ("Training throughput of Mask R-CNN R-50-FPN in images per second: images processed in the window "
         "divided by the window's wall time, from each implementation's own log. Every number comes from a "
         "run record under `runs/`. One row per implementation and hardware: the latest record, or the "
         "median of its repeat group with its range and n. The ratio to Detectron2 is given only against "
         "Detectron2 measured on the same hardware in the same section, ± one standard deviation propagated "
         "from both groups' spreads. Numbers have three significant digits; ⚠ marks a measurement warning, "
         "listed in the row's details; (busy host): other processes kept the machine busy around the run, "
         "which may have slowed it (the details say how busy).")


def published_cell(reference: dict | None, links: References) -> str:
    if not reference:
        return ""
    value = f"{float(reference['img_s']):g}"
    source = str(reference.get("source", ""))
    shown = links.link(value, source) if source.startswith(("http://", "https://")) else value
    return f"{shown} on {cell(hardware_label(int(reference['gpus']), str(reference['gpu_model'])))}"


def block_lines(block: Block, out_dir: Path, recipes: dict[str, Recipe], links: References,
                records: References, plotted: set[str]) -> list[str]:
    lines = [f"### {cell(block.title)}", ""]
    lines += wrap(inline(settings(block.settings), links))
    table = []
    for row, detail in zip(block.rows, block.details):
        name = row.record.implementation + (" (stale)" if row.stale else "")
        table.append(dict(zip(block.columns, block.cells(row, [
            cell(f"{row.rank}. {name}" if row.rank else name), img_s_text(row), str(row.n), ratio_text(row),
            published_cell(published_of(row.record, recipes), links),
            f"[{len(row.record.deviations)}](#{detail.anchor})",
            records.link("record", relative(row.directory / "record.json", out_dir))]))))
    lines += ["", markdown(pd.DataFrame(table)), ""]
    for detail in block.details:
        lines += detail_lines(detail, out_dir, links, plotted)
    return lines + [""]


def detail_lines(detail: Detail, out_dir: Path, links: References, plotted: set[str]) -> list[str]:
    row, record = detail.row, detail.row.record
    sha, url = commit_of(record)
    facts = [record.created[:10], f"commit `{sha}`" if not url else links.link(f"`{sha}`", url)] if sha else \
        [record.created[:10]]
    if row.n > 1:
        facts.append(f"repeat group of {row.n}: " + ", ".join(cell(member) for member in row.members))
    if record.run_id in plotted:
        facts.append(f"[timeline]({link_target(f'plots/{record.run_id}.png')})")
    head = f'- <a id="{detail.anchor}"></a>**{cell(record.implementation)}**: {cell(record.title)} · ' + \
        " · ".join(facts)
    lines = wrap(head)
    for kind, text in detail.items:  # the stale note is bench's own markdown; the rest come from the record
        lines += wrap(f"- {kind}: {text if kind == 'stale' else cell(text)}", "  ")
    return lines


def unmeasured_lines(rows: list[Row], out_dir: Path, records: References) -> list[str]:
    table = [{"Implementation": cell(row.record.implementation), "Section": cell(row.section.title),
              "Hardware": cell(hardware_label(*row.hardware)), "Status": row.record.status.value,
              "Reason": cell(shorten(row.record.reason, REASON_WIDTH)),
              "Record": records.link("record", relative(row.directory / "record.json", out_dir))}
             for row in rows]
    return ["## Latest attempts without a measurement", "",
            *wrap("The newest record of these implementations measured nothing; the rows above (if any) show "
                  "the last measurement. The record holds the whole reason and the log's tail."), "",
            markdown(pd.DataFrame(table), left=6), ""]


def section_lines(ctx: Context, links: References, records: References) -> list[str]:
    """Each section (protocol versions, then the not comparable presets) with a table per hardware."""
    out, section = [], None
    for block in blocks(ctx.rows[0], ctx.by_name):
        if block.section != section:
            section = block.section
            out += [f"## {cell(section.title)}", "", *wrap(section.intro), ""]
        out += block_lines(block, ctx.out_dir, ctx.by_name, links, records, ctx.plotted)
    return out


def page(ctx: Context, throughput_plot: str | None = THROUGHPUT_PNG) -> Page | None:
    measured, unmeasured = ctx.rows
    if not measured and not unmeasured:
        return None
    links, record_links = References("s"), References("r")
    out = [GENERATED_NOTE, "", "# All runs, by section and hardware", "", *wrap(INTRO), ""]
    if throughput_plot:
        out += [f"![Measured beside published throughput, img/s per GPU]({throughput_plot})", ""]
    out += section_lines(ctx, links, record_links)
    if unmeasured:
        out += unmeasured_lines(unmeasured, ctx.out_dir, record_links)
    definitions = links.render() + record_links.render()
    text = "\n".join(out + definitions).rstrip("\n") + "\n"
    about = ("every row, by section (a protocol version, or a preset that is not comparable: smoke, full, "
             "...) and hardware, each with its deviations, warnings, record and timeline; the attempts that "
             "measured nothing")
    return Page(NAME, TITLE, about, text)
