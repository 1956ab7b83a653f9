"""`bench check NAME|all`: a recipe's deviations from the benchmark protocol, one line each, with the
evidence.

Exit status 0 when there are only deviations (facts to show), 1 when a recipe contradicts itself or leaves
protocol settings undeclared (the lines starting with `error:` say which file and setting)."""

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.protocol.check import CheckResult


def check_files(paths: list[Path], preset: str | None = None,
                suite: str = "current") -> "tuple[list[CheckResult], list[str]]":
    """Check each recipe file (with `preset`: against the suite's protocol for that preset); a file that does
    not load is an error line, not an exception."""
    from bench.protocol.check import check_recipe
    from bench.recipes.loader import load_recipe

    results, load_errors = [], []
    for path in paths:
        try:
            recipe = load_recipe(path)
            if preset is not None:
                results.append(check_preset(recipe, path, preset, suite))
                continue
        except BenchError as exc:
            load_errors.append(str(exc))
            continue
        results.append(check_recipe(recipe, path))
    return results, load_errors


def check_preset(recipe, path: Path, preset: str, suite: str) -> "CheckResult":
    """The recipe with `preset` applied, its preset's declarations over its own, against the suite's
    protocol."""
    from bench.protocol.check import check_recipe
    from bench.protocol.suite import load_suite

    from dataclasses import replace

    chosen = load_suite(suite)
    protocol = chosen.protocol_for(preset)
    try:
        applied = recipe.with_preset(preset)
    except ValueError as exc:
        raise BenchError(f"{path}: {exc}") from None
    result = check_recipe(applied.model_copy(update={"presets": {}}), path, protocol)
    why = chosen.inherent.get(recipe.name, {})
    result.deviations = [replace(d, inherent=why.get(d.setting, "")) for d in result.deviations]
    return result


def report_lines(results: "list[CheckResult]", load_errors: list[str],
                 against: str | None = None) -> list[str]:
    from bench.protocol.spec import format_value, load_protocol

    protocol = load_protocol()
    against = against or f"protocol {protocol.version}"
    lines = []
    for result in results:
        if not result.deviations and result.ok:
            lines.append(f"{result.recipe}: no deviations from {against}")
        for d in result.deviations:
            lines.append(f"{result.recipe}: {d.setting} = {format_value(d.value)} "
                         f"({against}: {format_value(d.expected)}) -- "
                         + (f"inherent: {d.inherent} -- " if d.inherent else "") + d.evidence)
        lines += [f"note: {n}" for n in result.notes]
        lines += [f"error: {e}" for e in result.errors]
    lines += [f"error: {e}" for e in load_errors]
    return lines


def check(name: str = typer.Argument(..., help="a recipe name, or 'all'"),
          recipes: Path = typer.Option(None, "--recipes", help="recipe directory (default: recipes/ or "
                                       "$BENCH_RECIPES)"),
          preset: str = typer.Option(None, "--preset", help="check this preset against the suite's protocol "
                                     "for it (smoke, full, full-amp): every setting the suite compares, "
                                     "declared"),
          suite: str = typer.Option("current", "--suite", help="with --preset: the comparison suite"),
          ) -> None:
    """Print a recipe's deviations from the benchmark protocol, one line each, with the evidence."""
    from bench.paths import recipes_dir
    from bench.recipes.loader import recipe_files, recipe_path

    directory = recipes or recipes_dir()
    if name == "all":
        paths = recipe_files(directory)  # none at all is an error naming the directory
    else:
        path = recipe_path(name, directory)
        if not path.exists():
            known = ", ".join(p.stem for p in recipe_files(directory)) or "none"
            raise BenchError(f"no recipe named {name!r} in {directory}; known: {known}")
        paths = [path]
    results, load_errors = check_files(paths, preset, suite)
    against = f"suite {suite} preset {preset}" if preset else None
    for line in report_lines(results, load_errors, against):
        typer.echo(line)
    if load_errors or any(not r.ok for r in results):
        raise typer.Exit(1)
