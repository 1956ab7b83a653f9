"""bench's roots (results, cache, recipes, patches) pointed at a test's own folder: the `bench_env` fixture."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class BenchEnv:
    """bench's roots for one test, each a folder under the test's tmp_path (bench creates them when it writes).

    results and cache are always set; recipes and patches only after use_recipes() / use_patches(), so that a
    test keeps the real recipes unless it asks for its own."""

    root: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def runs(self) -> Path:
        return self.results / "runs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def recipes(self) -> Path:
        return self.root / "recipes"

    @property
    def patches(self) -> Path:
        return self.root / "patches"

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
        self.monkeypatch.setenv(variable, str(directory))
        return directory
