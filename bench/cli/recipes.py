"""`bench list` and `bench show`."""

import json
from typing import TYPE_CHECKING

import typer

from bench.cli.output import console as new_console

if TYPE_CHECKING:
    from bench.recipes.schema import Recipe


def recipe_summary(recipe: "Recipe") -> dict:
    """The fields `bench list --json` prints for one recipe."""
    return {
        "name": recipe.name, "title": recipe.title, "family": recipe.family, "variant": recipe.variant,
        "framework": recipe.framework.name, "framework_version": recipe.framework.version,
        "repo": recipe.source.repo if recipe.source else None,
        "commit": recipe.source.commit if recipe.source else None,
        "patches": len(recipe.patches), "log_format": recipe.log.format,
        "images_per_iter": recipe.images_per_iter, "gpus": recipe.gpus,
        "window": [recipe.window.start, recipe.window.end], "image": recipe.stack.image,
        "reference_img_s": recipe.reference.img_s if recipe.reference else None,
        "reference_source": recipe.reference.source if recipe.reference else None,
    }


def list_recipes(json_output: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List the recipes."""
    from rich.table import Table

    from bench.recipes.loader import load_all

    recipes = sorted(load_all(),
                     key=lambda r: (-(r.reference.img_s if r.reference else -1), r.family, r.name))
    if json_output:
        typer.echo(json.dumps([recipe_summary(r) for r in recipes], indent=2))
        return
    table = Table(title="bench recipes (published img/s: 8x V100, detectron2 docs/notes/benchmarks.md)")
    for column in ("name", "variant", "framework", "commit", "patches", "log format", "published img/s"):
        table.add_column(column, no_wrap=column in ("name", "commit"),
                         justify="right" if column in ("patches", "published img/s") else "left")
    for r in recipes:
        table.add_row(r.name, r.variant, r.framework.name, r.source.commit[:10] if r.source else "(built in)",
                      str(len(r.patches)), r.log.format, f"{r.reference.img_s:g}" if r.reference else "-")
    new_console().print(table)


def show(name: str = typer.Argument(..., help="Recipe name (see `bench list`)."),
         json_output: bool = typer.Option(False, "--json",
                                          help="Print the whole validated recipe as JSON.")) -> None:
    """Show one recipe."""
    from rich.table import Table
    from rich.text import Text

    from bench.recipes.loader import find_recipe

    recipe = find_recipe(name)
    if json_output:
        typer.echo(recipe.model_dump_json(indent=2))
        return
    console = new_console()
    console.print(Text(f"{recipe.name}: {recipe.title}  ({recipe.variant}, family {recipe.family})",
                       style="bold"))
    rows = [("framework", f"{recipe.framework.name} {recipe.framework.version}")]
    if recipe.source:
        rows += [("repo", recipe.source.repo), ("commit", recipe.source.commit)]
        if recipe.source.subdir:
            rows.append(("runs in", recipe.source.subdir))
    for number, step in enumerate(recipe.patches, 1):
        if step.kind == "diff":
            text = (f"git apply patches/{step.file}"
                    + (" (--ignore-whitespace)" if step.ignore_whitespace else ""))
            if step.expected_blobs:
                text += "; blobs " + ", ".join(f"{k}={v}" for k, v in step.expected_blobs.items())
        else:
            text = (f"s/{step.pattern}/{step.replacement}/ expecting "
                    + ", ".join(f"{n} in {g}" for g, n in step.expected.items()))
        rows.append((f"patch {number}", text))
    rows += [(f"env {k}", v) for k, v in recipe.env.items()]
    rows += [(f"install {i}", step) for i, step in enumerate(recipe.install, 1)]
    rows += [(f"before launch {i}", step) for i, step in enumerate(recipe.prepare_run, 1)]
    if recipe.published_command:
        rows.append(("published command", recipe.published_command))
    rows += [("command", recipe.command),
             ("log", f"{recipe.log.stream}{' ' + recipe.log.path if recipe.log.path else ''}, "
                     f"format {recipe.log.format}"),
             ("images/iteration", f"{recipe.images_per_iter} (= {recipe.planned_images(recipe.gpus)} "
                                  f"on {recipe.gpus} GPUs)"),
             ("window", f"iterations {recipe.window.start}-{recipe.window.end}"),
             ("stack", f"Python {recipe.stack.python}, {recipe.stack.framework}, "
                       f"CUDA {recipe.stack.cuda or '-'}, cuDNN {recipe.stack.cudnn or '-'}"),
             ("image", recipe.stack.image
                       + (f" ({recipe.stack.dockerfile})" if recipe.stack.dockerfile else ""))]
    if recipe.reference:
        ref = recipe.reference
        rows.append(("published", f"{ref.img_s:g} img/s on {ref.gpus}x {ref.gpu_model} ({ref.source})"))
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(Text(key), Text(value))
    console.print(table)
    if recipe.notes:
        console.print(Text("notes", style="bold"))
        console.print(recipe.notes.strip(), markup=False, highlight=False)
