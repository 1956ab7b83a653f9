"""bench's roots (results, cache, recipes, patches) pointed at a test's own folder: the `bench_env`
fixture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


class BenchEnv:
    """bench's roots for one test, each a folder under the test's tmp_path (bench creates them when it
    writes).

    The bench_env fixture sets BENCH_RESULTS and BENCH_CACHE; BENCH_RECIPES and BENCH_PATCHES only after
    use_recipes() / use_patches(), so that a test keeps the real recipes unless it asks for its own."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.results = root / "results"
        self.runs = self.results / "runs"
        self.cache = root / "cache"
        self.recipes = root / "recipes"
        self.patches = root / "patches"
        self._monkeypatch = monkeypatch

    def use_recipes(self, directory: Path | None = None) -> Path:
        """BENCH_RECIPES at `directory` (default: recipes/ under the test's folder); returns it."""
        return self._point("BENCH_RECIPES", directory or self.recipes)

    def use_patches(self, directory: Path | None = None) -> Path:
        """BENCH_PATCHES at `directory` (default: patches/ under the test's folder); returns it."""
        return self._point("BENCH_PATCHES", directory or self.patches)

    def environ(self, **extra: str) -> dict[str, str]:
        """The environment for a bench subprocess: this process's (with the variables above) plus `extra`."""
        return {**os.environ, **extra}

    def _point(self, variable: str, directory: Path) -> Path:
        self._monkeypatch.setenv(variable, str(directory))
        return directory
