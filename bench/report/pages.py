"""Every page `bench table` writes: the results README and, beside it, the pages it links, in the order it
lists them. A page is a module with `page(ctx) -> Page | None` (None: nothing to show, no file); adding one is
a module and a line in PAGES.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.recipes import Recipe
from bench.records.schema import RunRecord
from bench.report import mlperf_page, results_page, runs_page, scaling_page, suites_page
from bench.report.context import Context
from bench.report.markdown import relative
from bench.report.project_readme import answer_block, project_readme, with_answer

PAGES = (suites_page.page, scaling_page.page, runs_page.page, mlperf_page.page)
# every name a page may have
PAGE_NAMES = (suites_page.NAME, scaling_page.NAME, runs_page.NAME, mlperf_page.NAME)


def render_pages(records: list[tuple[Path, RunRecord]], recipes: list[Recipe], readme: Path,
                 plotted: set[str] | None = None) -> dict[Path, str]:
    """Every page's path (the README's and those beside it) and markdown; and the repository's own README.md,
    with the answer between its markers, when `readme` is the checkout's results/README.md
    (bench.report.project_readme)."""
    if readme.name in PAGE_NAMES:
        raise BenchError(f"--out {readme}: {readme.name} is the name of a page written beside the results "
                         "table; name the table otherwise (e.g. README.md)")
    ctx = Context(records, recipes, readme.parent, plotted or set())
    pages = [page for build in PAGES if (page := build(ctx)) is not None]
    rendered = {readme: results_page.render(ctx, pages), **{readme.parent / p.name: p.text for p in pages}}
    project = project_readme(readme)
    if project is not None:
        page_dir = relative(readme.parent, project.parent) + "/"
        rendered[project] = with_answer(project, answer_block(ctx, page_dir))
    return rendered
