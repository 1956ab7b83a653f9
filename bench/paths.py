"""Where bench keeps its things. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import BenchError
from bench.vocabulary import EnvVar

# the folder `bench` is imported from: a checkout, site-packages
IMPORT_ROOT = Path(__file__).resolve().parents[1]


def source_checkout() -> Path | None:
    """The repository bench runs from (a source checkout or an editable install); None for an installed
    copy."""
    is_checkout = (IMPORT_ROOT / "pyproject.toml").is_file() and (IMPORT_ROOT / "recipes").is_dir()
    return IMPORT_ROOT if is_checkout else None


def data_root() -> Path:
    """The folder holding recipes/, patches/ and docker/: the source checkout, else the copy installed with
    bench."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout
    import importlib.resources  # here: only an installed copy needs it, and it costs every command 0.01 s

    shipped = importlib.resources.files("bench") / "_data"
    if not isinstance(shipped, Path):  # a zip import: Dockerfiles and patches must be files a build can read
        raise BenchError(f"bench's data {shipped} is not on the file system; install bench with pip")
    return shipped.resolve()


def _env_path(var: EnvVar, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def recipes_dir() -> Path:
    return _env_path(EnvVar.RECIPES, data_root() / "recipes")


def patches_dir() -> Path:
    return _env_path(EnvVar.PATCHES, data_root() / "patches")


def results_dir() -> Path:
    """results/ of the working directory (the repository's own when bench runs from its root), or
    $BENCH_RESULTS."""
    return _env_path(EnvVar.RESULTS, Path.cwd() / "results")


def runs_dir() -> Path:
    return results_dir() / "runs"


def cache_dir() -> Path:
    """Source trees, virtual environments and synthetic datasets, keyed by what pins them."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bench"
    return _env_path(EnvVar.CACHE, default)


def repo_relative(path: Path) -> str:
    """A path as records store it: relative to the data root when inside it, `recipes/x.toml` from a checkout
    and an installed copy alike (records travel between machines)."""
    try:
        return str(Path(path).resolve().relative_to(data_root()))
    except ValueError:
        return str(path)


def check_relative(value: str) -> str:
    """A path a recipe or a record names relative to some root: not absolute, no `..`, no empty name, no NUL.
    Raises ValueError (pydantic validators turn it into a field error)."""
    parts = value.replace("\\", "/").split("/")
    if not value or "\0" in value or value.startswith(("/", "~")) or ".." in parts:
        raise ValueError(f"{value!r} must be a relative path inside its directory (no '..', not absolute)")
    return value


def inside(root: Path, path: Path | str, what: str) -> Path:
    """`root / path` resolved (symbolic links followed); a `BenchError` naming `what` when it leaves
    `root`."""
    base = Path(root).resolve()
    target = (base / path).resolve()
    if target != base and base not in target.parents:
        raise BenchError(f"{what}: {str(path)!r} leaves {base}; refused")
    return target


def output_file(path: Path, option: str) -> Path:
    """A file an option names for bench to write: a directory (or a parent that is a file) is refused."""
    path = Path(path)
    if path.is_dir():
        raise BenchError(f"{option} {path}: is a directory; name the file to write")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise BenchError(f"{option} {path}: {parent} is not a directory")
    return path


def output_dir(path: Path, option: str) -> Path:
    """A directory an option names for bench to write into: an existing file (or a parent that is one) is
    refused."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BenchError(f"{option} {path}: is not a directory")
    return output_file(path / "_", option).parent
