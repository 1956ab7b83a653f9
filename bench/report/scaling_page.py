"""scaling.md: img/s per device and scaling efficiency over device and node counts (issue 28), for bench's
`bench run NAME --scale ...` groups beside the imported MLPerf systems at several sizes
(bench.report.scaling_section computes and renders the tables)."""

from __future__ import annotations

from bench.report.context import GENERATED_NOTE, Context, Page
from bench.report.scaling_section import render_scaling_section

NAME = "scaling.md"
TITLE = "Scaling"


def page(ctx: Context) -> Page | None:
    lines = render_scaling_section([r for _, r in ctx.records])
    if not lines:
        return None
    lines[0] = "# Scaling: img/s per device and efficiency"  # the section's heading, as the page's title
    about = "img/s per device and scaling efficiency at several device and node counts, beside MLPerf's"
    return Page(NAME, TITLE, about, "\n".join([GENERATED_NOTE, "", *lines]).rstrip("\n") + "\n")
