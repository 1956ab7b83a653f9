"""Loading recipes from TOML files, with errors that name the file and the field."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import ValidationError

from bench.errors import RecipeError
from bench.files import file_sha256, read_bounded_text
from bench.paths import recipes_dir
from bench.recipes.schema import RECIPE_NAME, Recipe
from bench.recipes.stacks import fill_stack_pins
from bench.vocabulary import EnvVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _first_error(path: Path, exc: ValidationError) -> RecipeError:
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "(top level)"
    message = " ".join(err["msg"].removeprefix("Value error, ").split())  # one line, whatever the value held
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return RecipeError(f"{path}: field '{field}': {message}{more}")


# a recipe is a page of TOML; anything far larger is not one (and is not read whole)
MAX_RECIPE_BYTES = 1 << 20


def read_recipe_text(path: Path) -> str:
    """The recipe file's text, or a one-line `RecipeError` naming the file (missing, a directory, not
    UTF-8)."""
    return read_bounded_text(path, MAX_RECIPE_BYTES, "recipe file", RecipeError)


def load_recipe(path: Path | str, pins: dict[str, str] | None = None) -> Recipe:
    """The recipe in `path`; `pins` replace its stack's torch pins (see `fill_stack_pins`)."""
    path = Path(path)
    text = read_recipe_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise RecipeError(f"{path}: not valid TOML: nested too deeply") from None
    data = fill_stack_pins(data, path, pins)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise _first_error(path, exc) from None
    except RecursionError:
        raise RecipeError(f"{path}: nested too deeply to be a recipe") from None


def recipe_files(directory: Path | None = None) -> list[Path]:
    """The recipe files of `directory` (default: recipes_dir()); none at all is an error naming where bench
    looked (a wrong $BENCH_RECIPES, or an installation without its recipes), never an empty list."""
    root = directory or recipes_dir()
    files = sorted(root.glob("*.toml"))
    if not files:
        origin = " ($BENCH_RECIPES)" if directory is None and os.environ.get(EnvVar.RECIPES) else ""
        raise RecipeError(f"no recipe files (*.toml) in {root}{origin}")
    return files


def load_all(directory: Path | None = None) -> list[Recipe]:
    return [load_recipe(path) for path in recipe_files(directory)]


def recipe_path(name: str, directory: Path | None = None) -> Path:
    """Where the recipe called `name` lives (whether or not it exists): `<recipes>/<name>.toml`."""
    return (directory or recipes_dir()) / f"{name}.toml"


def find_recipe(name: str, directory: Path | None = None, pins: dict[str, str] | None = None) -> Recipe:
    """A recipe by name (the file `recipes/<name>.toml`), or a clear error listing the names that exist."""
    path = recipe_path(name, directory)
    if RECIPE_NAME.fullmatch(name) and path.is_file():  # a name, never a path that leaves recipes/
        recipe = load_recipe(path, pins)
        if recipe.name != name:
            raise RecipeError(f"{path}: field 'name': is {recipe.name!r} but the file is named {name!r}")
        return recipe
    names = ", ".join(p.stem for p in recipe_files(directory))
    raise RecipeError(f"no recipe named {name!r} in {directory or recipes_dir()}; known: {names}")


def recipe_hash(path: Path) -> str:
    """sha256 of the recipe file's bytes: what the record's provenance and staleness checks compare."""
    return file_sha256(path)
