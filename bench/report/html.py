"""`bench report --html OUT/`: a static site, no server and no external asset: index.html (the results page's
answer first, from the same parts as results/README.md, then the other pages as sections, with the plots) and
runs/<run-id>.html per record (settings, warnings, deviations, environment, timeline as inline SVG,
so that pages for ~900 imported records take seconds, not a matplotlib render each)."""

from __future__ import annotations

import json
from html import escape
from urllib.parse import quote
from pathlib import Path

from bench.errors import BenchError
from bench.files import staged_writes
from bench.recipes import Recipe
from bench.records.schema import RunRecord
from bench.report.blocks import (Block, blocks, commit_of, framework_of, img_s_text, published_of,
                                 ratio_text, sig3)
from bench.report.comparability import not_comparable_because
from bench.report.context import Context
from bench.report.document import (Code, Heading, Items, Link, PageLink, Paragraph, Part, Strong, Table,
                                   Text, anchor_of, prose, spans)
from bench.report.mlperf_page import NAME as MLPERF_PAGE, TITLE as MLPERF_TITLE
from bench.report.mlperf_section import PLOT_NAME, system_rows
from bench.report.plots import THROUGHPUT_PNG
from bench.report.results_page import INTRO as RESULTS_INTRO, lead_parts
from bench.report.rows import hardware_label, hardware_of
from bench.report.runs_page import INTRO, NAME as RUNS_PAGE, TITLE as RUNS_TITLE
from bench.report.suites_page import NAME as SUITES_PAGE, TITLE as SUITES_TITLE, suite_page_parts
from bench.report.telemetry_html import telemetry_html

STYLE = ("body{font-family:sans-serif;max-width:72rem;margin:1rem auto;padding:0 1rem;color:#222}"
         "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
         "td.n,th.n{text-align:right}pre{background:#f6f6f6;padding:.5rem;overflow:auto}"
         ".settings{color:#444}img{max-width:100%}")


def page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def table_html(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Cells are HTML already (escaped by the caller); the columns after the first `left` are
    right-aligned."""
    def row(cells: list[str], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}{' class=n' if i >= left else ''}>{c}</{tag}>"
                                for i, c in enumerate(cells)) + "</tr>"
    return ("<table>" + row([escape(h) for h in header], "th") + "".join(row(r, "td") for r in rows)
            + "</table>")


def run_link(record: RunRecord, text: str, prefix: str = "runs/") -> str:
    return f'<a href="{prefix}{escape(quote(record.run_id))}.html">{escape(text)}</a>'


def block_html(block: Block, recipes: dict[str, Recipe]) -> list[str]:
    settings = " · ".join(f"<b>{escape(k)}:</b> {escape(v)}" for k, v in block.settings)
    rows = []
    for row in block.rows:
        reference = published_of(row.record, recipes)
        rows.append(block.cells(row, [
            escape(f"{row.rank}. " if row.rank else "") + run_link(row.record, row.record.implementation),
            escape(img_s_text(row)), str(row.n), escape(ratio_text(row)),
            escape(f"{float(reference['img_s']):g} on "
                   f"{hardware_label(reference['gpus'], reference['gpu_model'])}") if reference else "",
            str(len(row.record.deviations)), run_link(row.record, "record")]))
    return [f"<h3>{escape(block.title)}</h3>", f"<p class=settings>{settings}</p>",
            table_html(list(block.columns), rows)]


def inline_html(text: str | Text) -> str:
    """Spans as HTML: plain text escaped, code as <code>, links as <a>; a link to another results page goes to
    its section of index.html."""
    out = []
    for span in spans(text):
        if isinstance(span, Code):
            out.append(f"<code>{escape(span.text)}</code>")
        elif isinstance(span, Strong):
            out.append(f"<b>{escape(span.text)}</b>")
        elif isinstance(span, Link):
            out.append(f'<a href="{escape(span.target)}">{escape(span.text)}</a>')
        elif isinstance(span, PageLink):
            out.append(f'<a href="#{escape(span.anchor)}">{escape(span.text)}</a>')
        else:
            out.append(escape(span))
    return "".join(out)


def parts_html(parts: list[Part], shift: int = 0) -> list[str]:
    """The parts (bench.report.document) as HTML, headings `shift` levels deeper."""
    out = []
    for part in parts:
        if isinstance(part, Heading):
            level = min(part.level + shift, 6)
            out.append(f"<h{level}>{inline_html(part.text)}</h{level}>")
        elif isinstance(part, Paragraph):
            out.append(f"<p>{inline_html(part.text)}</p>")
        elif isinstance(part, Items):
            out.append("<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in part.items) + "</ul>")
        elif isinstance(part, Table):
            out.append(table_html(list(part.header), [[inline_html(c) for c in row] for row in part.rows],
                                  left=part.left))
        else:
            out.append(f'<img src="{escape(part.target)}" alt="{escape(part.alt)}">')
    return out


def section_html(anchor: str, title: str, body: list[str]) -> list[str]:
    """A results page as a section of index.html (the target of links to that page)."""
    return [f'<h2 id="{escape(anchor)}">{escape(title)}</h2>', *body] if body else []


def mlperf_html(records: list[RunRecord]) -> list[str]:
    if not records:
        return []
    rows = [[run_link(r.record, r.record.title), escape(f"v{r.record.extra['mlperf']['version']}"),
             escape(hardware_label(*hardware_of(r.record))), escape(sig3(r.img_s)), f"{r.n}/{r.runs}",
             escape(sig3(r.per_accelerator))] for r in system_rows(records)]
    return [f'<img src="{PLOT_NAME}" alt="MLPerf img/s per accelerator">',
            table_html(["System", "Round", "Accelerators", "img/s", "n", "per accelerator"], rows, left=3)]


def runs_html(ctx: Context, images: list[str]) -> list[str]:
    """The all-runs page's content: the plot, each section's tables per hardware, the attempts that measured
    nothing."""
    measured, unmeasured = ctx.rows
    if not measured and not unmeasured:
        return []
    body = [f"<p>{inline_html(prose(INTRO))}</p>"]
    if THROUGHPUT_PNG in images:
        body.append(f'<img src="{THROUGHPUT_PNG}" alt="measured beside published throughput">')
    section = None
    for block in blocks(measured, ctx.by_name):
        if block.section != section:
            section = block.section
            body += [f"<h3>{escape(section.title)}</h3>", f"<p>{inline_html(prose(section.intro))}</p>"]
        body += block_html(block, ctx.by_name)
    if unmeasured:
        body += ["<h3>Latest attempts without a measurement</h3>", table_html(
            ["Implementation", "Section", "Hardware", "Status"],
            [[run_link(r.record, r.record.implementation), escape(r.section.title),
              escape(hardware_label(*r.hardware)), escape(r.record.status.value)] for r in unmeasured],
            left=4)]
    return body


def index_html(records: list[tuple[Path, RunRecord]], recipes: list[Recipe], images: list[str]) -> str:
    """The results page's answer first (the same parts as results/README.md), then each page beside it as a
    section."""
    ctx = Context(records, recipes, Path("."))
    body = ["<h1>Results</h1>", f"<p>{inline_html(prose(RESULTS_INTRO))}</p>", *parts_html(lead_parts(ctx))]
    body += section_html(anchor_of(SUITES_PAGE), SUITES_TITLE, parts_html(suite_page_parts(ctx), shift=1))
    body += section_html(anchor_of(RUNS_PAGE), RUNS_TITLE, runs_html(ctx, images))
    body += section_html(anchor_of(MLPERF_PAGE), MLPERF_TITLE, mlperf_html(ctx.mlperf))
    return page("bench results", body)


def timeline_svg(record: RunRecord, width: int = 640, height: int = 200) -> str:
    """Seconds per iteration against iteration, the window shaded; scaled to the window (start-up is
    slower)."""
    points = [(float(i), float(s)) for i, s in record.series]
    if len(points) < 2:
        return "<p>No per-iteration series in this record.</p>"
    window = record.framework_timing.window or record.window_requested
    inside = [s for i, s in points if window[0] <= i <= window[1]] or [s for _, s in points]
    x0, x1 = points[0][0], points[-1][0]
    top = 1.5 * max(inside) or 1.0  # an all-zero series still gets an axis
    def x(i: float) -> float:
        return 40 + (i - x0) / ((x1 - x0) or 1) * (width - 50)
    def y(s: float) -> float:
        return height - 20 - min(s, top) / top * (height - 30)
    line = " ".join(f"{x(i):.1f},{y(s):.1f}" for i, s in points)
    shade = (f'<rect x="{x(max(window[0], x0)):.1f}" y="10" '
             f'width="{x(min(window[1], x1)) - x(max(window[0], x0)):.1f}"'
             f' height="{height - 30}" fill="#1f77b4" opacity="0.12"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="seconds per iteration">{shade}'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{line}"/>'
            f'<text x="40" y="{height - 4}" font-size="10">iteration {x0:g} to {x1:g}; '
            f'0 to {top:.3g} s / iteration; shaded: the window</text></svg>')


def run_html(directory: Path, record: RunRecord, recipes: dict[str, Recipe]) -> str:
    ft = record.framework_timing
    sha, url = commit_of(record)
    facts = [("Implementation", record.implementation), ("Title", record.title),
             ("Status", record.status.value),
             ("Reason", record.reason), ("img/s", sig3(record.throughput_img_s)),
             ("Window", f"{ft.window[0] + 1}–{ft.window[1]}" if ft.window else ""),
             ("Hardware", hardware_label(*hardware_of(record))), ("Nodes", str(record.nodes)),
             ("Images per iteration",
              f"{record.images_per_iter} ({record.images_per_iter_source or 'source not recorded'})"),
             ("Stack", framework_of(record)), ("Framework (as the recipe says)", record.framework),
             ("Preset", record.preset or ""), ("Repeat group", record.repeat_group or ""),
             ("Created", record.created), ("Commit", sha), ("Origin", record.origin)]
    body = ['<p><a href="../index.html">← all results</a></p>', f"<h1>{escape(record.run_id)}</h1>",
            table_html(["Setting", "Value"], [[escape(k), escape(v)] for k, v in facts if v], left=2)]
    if url:
        body.append(f'<p>Source: <a href="{escape(url)}">{escape(url)}</a></p>')
    for title, items in (("Not comparable because", not_comparable_because(record, recipes)),
                         ("Warnings", [f"{w.message} ({w.remedy})" for w in record.warnings]),
                         ("Deviations", record.deviations)):
        body += [f"<h2>{title}</h2>", "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
                 if items else "<p>None.</p>"]
    body += ["<h2>Timeline</h2>", timeline_svg(record), *telemetry_html(directory, record, table_html),
             "<h2>Environment</h2>",
             f"<pre>{escape(json.dumps(record.environment, indent=1, sort_keys=True))}</pre>"]
    if record.log_tail:
        body += ["<h2>Log tail</h2>", f"<pre>{escape(chr(10).join(record.log_tail))}</pre>"]
    return page(record.run_id, body)


SITE_MARK = ".bench-report"  # in every site bench writes: a directory without it is never replaced


def write_site(out: Path, records: list[tuple[Path, RunRecord]], recipes: list[Recipe],
               images: dict[str, bytes]) -> list[Path]:
    """index.html, the plots named in `images` and runs/<run-id>.html, built in a directory beside `out` and
    swapped in whole (`out` is either new, empty, or a site bench wrote); returns the paths written."""
    if out.is_dir() and any(out.iterdir()) and not (out / SITE_MARK).is_file():
        raise BenchError(f"--html {out}: holds files that are not a site bench wrote; name a new or empty "
                         "directory")
    by_name = {r.name: r for r in recipes}
    files = {**images, "index.html": index_html(records, recipes, list(images)).encode("utf-8")}
    for directory, record in records:
        files[f"runs/{record.run_id}.html"] = run_html(directory, record, by_name).encode("utf-8")
    files[SITE_MARK] = b"written by bench report\n"
    with staged_writes(out.parent) as staging:
        staging.directory(out, files)
    return [out / name for name in files]
