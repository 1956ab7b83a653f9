"""The one "then and now" table: each family's ratio to Detectron2 as published in 2020 beside its ratio
measured now, in the ranking the results page leads with (bench.report.answer). Ratios, not img/s: the two
columns are on different hardware and settings, each ratio within its own."""

from __future__ import annotations

from bench.numbers import sig3
from bench.recipes import Recipe
from bench.report.document import Part, Table, heading, paragraph
from bench.report.rows import BASELINE_FAMILY, hardware_label
from bench.report.suite_runs import SuiteRun, ratio_text


def published_ratios(recipes: list[Recipe]) -> tuple[dict[str, float], str]:
    """Family -> its published img/s over Detectron2's, for the families published on the published
    Detectron2's hardware; and that hardware's label."""
    published = [r for r in recipes if r.variant == "published" and r.reference is not None]
    base = next((r for r in published if r.family == BASELINE_FAMILY), None)
    if base is None:
        return {}, ""
    on = (base.reference.gpus, base.reference.gpu_model)
    return ({r.family: r.reference.img_s / base.reference.img_s for r in published
             if (r.reference.gpus, r.reference.gpu_model) == on}, hardware_label(*on))


def then_and_now(run: SuiteRun | None, recipes: list[Recipe]) -> list[Part]:
    """The section (nothing without a ranking or a published Detectron2)."""
    then, published_on = published_ratios(recipes)
    if run is None or not then:
        return []
    family_of = {r.name: r.family for r in recipes}
    rows = [(family_of.get(name, "(no recipe)"), name,
             sig3(then[family_of[name]]) if family_of.get(name) in then else "not published",
             ratio_text(run, name)) for name in run.values]
    parts = [heading(2, "Then and now: ratio to Detectron2"),
             paragraph("Each family's ratio to Detectron2 as published in 2020 (", (published_on,), ", the "
                       "published table below) beside its ratio measured now in the ranking above (",
                       (run.hardware_label,), ", preset ", (run.preset,), "). Compare ratios, not img/s: the "
                       "two columns are on different hardware and settings."),
             Table(("family", "implementation now", "published 2020", f"measured now (to {run.baseline})"),
                   tuple(rows), left=2)]
    missing = sorted(set(then) - {family_of.get(name) for name in run.values})
    if missing:
        parts.append(paragraph("Published in 2020, without a member in this ranking: ",
                               (", ".join(missing),), "."))
    return parts
