"""Every `name==version` pin that a recipe's install steps (presets included), its `[stack] wheels` or a
Dockerfile under docker/ hands to pip, with the Python version and glibc of the image it installs into.

Shared by tests/test_package_index.py (text only: every pin is recorded as found on the index, or is a listed
deviation, or sits behind a custom index) and tests/test_package_index_slow.py (asks the index with pip).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.recipes.loader import load_all
from bench.recipes.schema import Recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("package_index.toml")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")
# pip options whose value is the next token; the index ones make a pin "not checkable here".
INDEX_OPTIONS = {"-f", "--find-links", "-i", "--index-url", "--extra-index-url"}
VALUE_OPTIONS = INDEX_OPTIONS | {"-r", "--requirement", "-c", "--constraint", "--global-option",
                                 "--install-option", "-t", "--target", "--prefix", "--root", "-e",
                                 "--editable"}
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}
# glibc of the operating system an image is built FROM (the base's FROM line, build arguments substituted).
GLIBC_OF_OS = {"ubuntu18.04": (2, 27), "ubuntu22.04": (2, 35), "ubuntu24.04": (2, 39), "bookworm": (2, 36)}


@dataclass(frozen=True, order=True)
class Pin:
    name: str
    version: str
    python: str  # "3.7"
    glibc: tuple[int, int]  # (2, 27): manylinux_2_27 and older wheels install
    where: str  # "recipes/x.toml install[1]" or "docker/x/Dockerfile"
    index_url: str | None = None  # a custom index or find-links page, which only pip with that URL can check

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def key(self) -> tuple[str, str, str]:
        """What the index answer depends on: the pin, the interpreter and the platform."""
        return self.requirement, self.python, f"manylinux_{self.glibc[0]}_{self.glibc[1]}_x86_64"


def manylinux_platforms(platform: str) -> list[str]:
    """`manylinux_2_27_x86_64` -> that tag, every older manylinux_2_N and the legacy aliases (pip does not
    expand a given --platform to the older tags a real interpreter accepts)."""
    glibc_minor = int(platform.split("_")[2])
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(glibc_minor, 4, -1)]
    aliases = {17: "manylinux2014_x86_64", 12: "manylinux2010_x86_64", 5: "manylinux1_x86_64"}
    return tags + [alias for minor, alias in aliases.items() if minor <= glibc_minor]


def pip_install_args(command: str) -> list[list[str]]:
    """The arguments of each `pip install` in a shell command (quotes resolved, split at shell operators)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    found, current = [], None
    for i, token in enumerate(tokens):
        if token in OPERATORS:
            current = None
        elif current is not None:
            current.append(token)
        elif token == "install" and i > 0 and (tokens[i - 1] in ("pip", "pip3")
                                               or tokens[i - 1].endswith("/pip")):
            current = []
            found.append(current)
    return found


def pins_in(command: str) -> list[tuple[str, str, str | None]]:
    """(name, version, custom index URL or None) for each `name==version` that a `pip install` receives."""
    out = []
    for args in pip_install_args(command):
        index = None
        positional = []
        skip = False
        for i, arg in enumerate(args):
            if skip:
                skip = False
                continue
            option, eq, value = arg.partition("=")
            if option in VALUE_OPTIONS:
                if option in INDEX_OPTIONS:
                    index = value if eq else args[i + 1]
                skip = not eq
            elif not arg.startswith("-"):
                positional.append(arg)
        out += [(m.group(1), m.group(2), index) for m in map(PIN.match, positional) if m]
    return out


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per Dockerfile instruction: comments dropped, backslash continuations joined."""
    out, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, f"{path}: a continuation runs past the end"
    return out


def base_from(recipe: Recipe) -> str:
    """What the recipe's image is ultimately built FROM: its base Dockerfile's FROM, build arguments
    substituted (or the base image itself when bench makes it without a Dockerfile)."""
    base = recipe.stack.base
    assert base is not None, f"{recipe.name}: [stack] has no base"
    if base.dockerfile is None:
        return base.image
    path = ROOT / base.dockerfile
    defaults = {}
    for keyword, args in instructions(path):
        if keyword == "ARG":
            name, _, default = args.partition("=")
            defaults[name] = default.strip('"')
        elif keyword == "FROM":
            values = {**defaults, **base.args}
            return re.sub(r"\$\{?(\w+)\}?", lambda m, values=values: values.get(m.group(1), m.group(0)), args)
    raise AssertionError(f"{path}: no FROM")


def glibc_of(recipe: Recipe) -> tuple[int, int]:
    image = base_from(recipe).replace("ubuntu:", "ubuntu")
    found = [glibc for os_name, glibc in GLIBC_OF_OS.items() if os_name in image]
    assert len(found) == 1, f"{recipe.name}: no known glibc for the base {image!r} (add it to GLIBC_OF_OS)"
    return found[0]


def recipe_steps(recipe: Recipe) -> list[tuple[str, str]]:
    steps = [(f"install[{i}]", step) for i, step in enumerate(recipe.install)]
    for preset_name, preset in recipe.presets.items():
        steps += [(f"presets.{preset_name}.install[{i}]", step)
                  for i, step in enumerate(preset.install or [])]
    return steps


def recipe_pins(recipe: Recipe) -> list[Pin]:
    python, glibc, where = recipe.stack.python, glibc_of(recipe), f"recipes/{recipe.name}.toml"
    pins = [Pin(name, version, python, glibc, f"{where} {step}", index)
            for step, command in recipe_steps(recipe) for name, version, index in pins_in(command)]
    for wheel in recipe.stack.wheels:
        match = PIN.match(wheel)
        assert match, f"{where}: [stack] wheels entry {wheel!r} is not name==version"
        pins.append(Pin(match.group(1), match.group(2), python, glibc, f"{where} [stack] wheels"))
    return pins


def dockerfile_pins(recipes: list[Recipe]) -> list[Pin]:
    """A child Dockerfile installs for its recipe's Python; a base Dockerfile for each recipe built on it."""
    users: dict[str, list[Recipe]] = {}
    for recipe in recipes:
        if recipe.stack.dockerfile:
            users.setdefault(recipe.stack.dockerfile, []).append(recipe)
        if recipe.stack.base is not None and recipe.stack.base.dockerfile:
            users.setdefault(recipe.stack.base.dockerfile, []).append(recipe)
    pins = []
    for path in (sorted((ROOT / "docker").glob("*/Dockerfile"))
                 + sorted((ROOT / "docker").glob("base/*/Dockerfile"))):
        where = str(path.relative_to(ROOT))
        runs = [args for keyword, args in instructions(path) if keyword == "RUN"]
        found = [pin for run in runs for pin in pins_in(run)]
        assert not found or where in users, f"{where}: pins packages but no recipe builds it"
        targets = {(r.stack.python, glibc_of(r)) for r in users.get(where, [])}
        pins += [Pin(name, version, python, glibc, where, index)
                 for name, version, index in found for python, glibc in sorted(targets)]
    return pins


def all_pins() -> list[Pin]:
    recipes = load_all()
    return sorted({*(pin for recipe in recipes for pin in recipe_pins(recipe)), *dockerfile_pins(recipes)})


def index_pins() -> list[Pin]:
    """The pins the default index answers for (no custom index URL)."""
    return [pin for pin in all_pins() if pin.index_url is None]


def recorded() -> dict[tuple[str, str, str], str]:
    """tests/package_index.toml: what the last run of the slow check found, per (pin, python, platform)."""
    data = tomllib.loads(RECORD.read_text())
    return {(row["requirement"], row["python"], row["platform"]): row["found"] for row in data["pin"]}
