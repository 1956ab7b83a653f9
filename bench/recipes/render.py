"""Rendering a recipe's launch command and environment. The runner and the Kubernetes code import these.

Placeholders: {gpus} {data} {output} {source} {python} {nodes} {port} {patches} {procs} (see
`schema.PLACEHOLDERS`), and in launch commands {images_per_iter}: the recipe's formula at the run's GPUs (or
CPU processes) and nodes.
Values are shell-quoted before substitution, so a path with spaces stays one argument after `shlex.split`."""

from __future__ import annotations

import shlex
import string
from pathlib import Path

from bench.errors import RecipeError
from bench.paths import IMPORT_ROOT, patches_dir
from bench.recipes.schema import PLACEHOLDERS, Recipe, placeholders_in, processes_per_node
from bench.security import shell_quote

# A filled template longer than this is refused before it is built: Linux takes at most 128 KiB per argument
# and 2 MiB for all of them, and a template that repeats {data} a hundred thousand times would otherwise grow
# to hundreds of megabytes.
MAX_RENDERED = 128 * 1024


def recipe_patches_dir(recipe: Recipe) -> Path:
    """What {patches} stands for: the recipe's folder under patches/ (diffs and overlay files shipped with
    bench)."""

    return patches_dir() / recipe.name


def _bench_root() -> Path:
    """What {bench} stands for: the folder bench is imported from (its checkout, or the site-packages holding
    it)."""
    return IMPORT_ROOT


def placeholder_values(*, gpus: int, data: str | Path, output: str | Path,
                       source_dir: str | Path | None = None, python: str | Path = "python", nodes: int = 1,
                       port: int = 29500, patches: str | Path = "patches",
                       images_per_iter: int | None = None, procs: int = 1) -> dict[str, str]:
    """The text each placeholder stands for ({source} is '.' when no checkout is known yet; {procs} is one
    process per GPU, or `procs` CPU processes where gpus is 0)."""
    values = {"gpus": str(gpus), "data": str(data), "output": str(output),
              "source": str(source_dir) if source_dir is not None else ".", "python": str(python),
              "nodes": str(nodes), "port": str(port), "patches": str(patches), "bench": str(_bench_root()),
              "procs": str(processes_per_node(gpus, procs))}
    if images_per_iter is not None:
        values["images_per_iter"] = str(images_per_iter)
    return values


def render_template(template: str, values: dict[str, str], *, quote: bool = True) -> str:
    """`template` with its placeholders filled (shell-quoted unless `quote` is False). Unknown ones are an
    error."""
    unknown = placeholders_in(template) - PLACEHOLDERS
    if unknown:
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in {template!r}")
    missing = placeholders_in(template) - values.keys()
    if missing:
        raise ValueError(f"placeholder {{{sorted(missing)[0]}}} has no value here, in {template!r}")
    filled = {k: shell_quote(v) if quote else v for k, v in values.items()}
    size = len(template) + sum(len(filled[name]) for _, name, _, _ in string.Formatter().parse(template)
                               if name is not None)
    if size > MAX_RENDERED:
        raise RecipeError(f"{template[:60]!r}...: filled in, it would be {size} characters long (at most "
                          f"{MAX_RENDERED}); a command or step that long is refused")
    return template.format(**filled)


def render_command_line(recipe: Recipe, *, gpus: int, data: str | Path, output: str | Path,
                        source_dir: str | Path | None = None, python: str | Path = "python", nodes: int = 1,
                        port: int = 29500, patches: str | Path | None = None, procs: int = 1) -> str:
    """The launch command as one shell line (what `bench plan` prints)."""
    values = placeholder_values(gpus=gpus, data=data, output=output, source_dir=source_dir, python=python,
                                nodes=nodes, port=port, patches=patches or recipe_patches_dir(recipe),
                                images_per_iter=recipe.planned_images(gpus, nodes, procs), procs=procs)
    return " ".join(render_template(recipe.command, values).split())


def render_command(recipe: Recipe, *, gpus: int, data: str | Path, output: str | Path,
                   source_dir: str | Path | None = None, python: str | Path = "python", nodes: int = 1,
                   port: int = 29500, patches: str | Path | None = None, procs: int = 1) -> list[str]:
    """The launch command as an argv list (shlex-split after filling the placeholders)."""
    return shlex.split(render_command_line(recipe, gpus=gpus, data=data, output=output, source_dir=source_dir,
                                           python=python, nodes=nodes, port=port, patches=patches,
                                           procs=procs))


def render_env(recipe: Recipe, **values: object) -> dict[str, str]:
    """The environment variables the recipe sets for its launch (on top of the inherited environment).

    Values may use placeholders; pass their values as keywords (gpus=, data=, output=, source_dir=, ...), as
    for `render_command`. A placeholder used without a value is an error (no published recipe uses one)."""
    if not values:  # only {bench} (bench's own root) is known without a run's values
        known = {"bench": str(_bench_root())}
        for key, value in recipe.env.items():
            if placeholders_in(value) - known.keys():
                raise ValueError(f"env {key} of recipe {recipe.name!r} uses placeholders; pass their values")
        return {key: render_template(value, known, quote=False) for key, value in recipe.env.items()}
    filled = placeholder_values(**values)  # type: ignore[arg-type]
    return {key: render_template(value, filled, quote=False) for key, value in recipe.env.items()}


def image_env(recipe: Recipe) -> dict[str, str]:
    """The recipe's environment variables for a trainer in an image (a container, a Kubernetes pod): without
    those that name {bench}, bench's folder on this host, which the image does not have (it installs
    bench)."""
    return {key: value for key, value in render_env(recipe).items()
            if "bench" not in placeholders_in(recipe.env[key])}


def render_steps(templates: list[str], *, gpus: int = 8, data: str | Path = "DATA",
                 output: str | Path = "OUTPUT", source_dir: str | Path | None = None,
                 python: str | Path = "python", nodes: int = 1, port: int = 29500,
                 patches: str | Path = "patches", procs: int = 1) -> list[str]:
    """Shell steps (recipe.install, recipe.prepare_run) with their placeholders filled and shell-quoted."""
    values = placeholder_values(gpus=gpus, data=data, output=output, source_dir=source_dir, python=python,
                                nodes=nodes, port=port, patches=patches, procs=procs)
    return [render_template(step, values) for step in templates]
