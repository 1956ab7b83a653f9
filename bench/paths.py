"""Where bench keeps its things. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def recipes_dir() -> Path:
    return _env_path("BENCH_RECIPES", REPO_ROOT / "recipes")


def patches_dir() -> Path:
    return _env_path("BENCH_PATCHES", REPO_ROOT / "patches")


def results_dir() -> Path:
    return _env_path("BENCH_RESULTS", REPO_ROOT / "results")


def runs_dir() -> Path:
    return results_dir() / "runs"


def cache_dir() -> Path:
    """Source trees, virtual environments and synthetic datasets, keyed by what pins them."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bench"
    return _env_path("BENCH_CACHE", default)


def repo_relative(path: Path) -> str:
    """A path as records store it: relative to the repository when inside it (records travel between machines)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
