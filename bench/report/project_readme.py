"""The answer in the repository's own README.md: the part of the checkout's README between two markers is the
results page's answer (bench.report.answer), its then-and-now table and the published 2020 table, rendered
from the same records whenever `bench table` writes (or `--check` checks) the checkout's own
results/README.md.

Only then: `bench table --out DIR/README.md` (a user's own table), a results directory elsewhere
(`BENCH_RESULTS`, another working directory) and an installed bench never touch a README, and a README without
the markers is left alone. Only the text between the markers changes; the rest of the README is the project's.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.files import read_bounded_text
from bench.paths import source_checkout
from bench.report.answer import answer_parts, leading_runs
from bench.report.context import Context
from bench.report.document import PageLink, paragraph
from bench.report.markdown import References, render_parts
from bench.report.published_table import published_parts
from bench.report.then_and_now import then_and_now

START = "<!-- bench table writes the answer below from the run records; bench table --check checks it. -->"
END = "<!-- End of what bench table writes. -->"
MAX_README_BYTES = 1 << 20


def project_readme(results_page: Path) -> Path | None:
    """The checkout's README.md, when `results_page` is the checkout's own results/README.md and the README
    holds the start marker; None otherwise."""
    checkout = source_checkout()
    if checkout is None or results_page.resolve() != checkout / "results" / "README.md":
        return None
    readme = checkout / "README.md"
    return readme if readme.is_file() and START in _read(readme) else None


def _read(readme: Path) -> str:
    return read_bounded_text(readme, MAX_README_BYTES, "README", BenchError, root=readme.parent)


def answer_block(ctx: Context, results_dir: str) -> str:
    """The markdown between the markers: the answer, then and now, the published table and where the rest is;
    links to the pages beside the results README are made relative to the README (`results_dir`)."""
    leads = leading_runs(ctx.suite_runs)
    parts = [*answer_parts(ctx), *then_and_now(leads[0] if leads else None, ctx.recipes),
             *published_parts(ctx.recipes),
             paragraph("Written by `bench table` from the run records under `results/runs/`; everything else "
                       "it measured: ", PageLink("the results page", "README.md"), ".")]
    links = References("answer-")
    lines = render_parts(parts, links, page_dir=results_dir)
    return "\n".join([*lines, *links.render()]).strip("\n") + "\n"


def with_answer(readme: Path, block: str) -> str:
    """The README's text with `block` between its markers (a start marker without an end one is an error
    naming the file)."""
    text = _read(readme)
    before, _, rest = text.partition(START)
    if END not in rest:
        raise BenchError(f"{readme}: the marker {START!r} has no {END!r} after it; nothing was written")
    after = rest.partition(END)[2]
    return f"{before}{START}\n\n{block}\n{END}{after}"
