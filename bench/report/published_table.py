"""The published 2020 table, labelled as published: each recipe's `reference` (img/s, hardware, source), never
a measurement. The framework text is cut to keep the table within a terminal's width; a cut one is given whole
beside its source."""

from __future__ import annotations

from bench.numbers import sig3
from bench.recipes import Recipe
from bench.report.document import Code, Link, Part, Items, Table, Text, heading, paragraph, shorten
from bench.report.rows import BASELINE_FAMILY, hardware_label

FRAMEWORK_WIDTH = 40


def _source(recipe: Recipe, framework: str) -> Text:
    source = str(recipe.reference.source)
    shown = Link("source", source) if source.startswith(("http://", "https://")) else source
    whole = ("framework ", framework, "; ") if len(framework) > FRAMEWORK_WIDTH else ()
    return (Code(recipe.name), ": ", *whole, shown)


def published_parts(recipes: list[Recipe]) -> list[Part]:
    with_reference = sorted((r for r in recipes if r.reference is not None),
                            key=lambda r: (-r.reference.img_s, r.name))
    if not with_reference:
        return []
    base = next((r for r in with_reference if r.family == BASELINE_FAMILY and r.variant == "published"), None)
    hardware = {(r.reference.gpus, r.reference.gpu_model) for r in with_reference}
    shared = len(hardware) == 1
    rows, sources = [], []
    for recipe in with_reference:
        ref = recipe.reference
        framework = f"{recipe.framework.name} {recipe.framework.version}"
        same = base is not None and (ref.gpus, ref.gpu_model) == (base.reference.gpus,
                                                                  base.reference.gpu_model)
        rows.append(((Code(recipe.name),), shorten(framework, FRAMEWORK_WIDTH),
                     *(() if shared else (hardware_label(ref.gpus, ref.gpu_model),)),
                     f"{ref.img_s:g}", sig3(ref.img_s / base.reference.img_s) if same else ""))
        sources.append(_source(recipe, framework))
    header = ("recipe", "framework", *(() if shared else ("hardware",)), "img/s", "vs Detectron2")
    on = f" Every row on {hardware_label(*next(iter(hardware)))}." if shared else ""
    return [heading(2, "Published table (2020)"),
            paragraph("As published, not measured here: training img/s from the recipes' `reference` fields, "
                      f"each with its source below.{on}"),
            Table(header, tuple(rows), left=2 if shared else 3), paragraph("Sources:"), Items(tuple(sources))]
