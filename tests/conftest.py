"""Fixtures shared by the test files. Plain helpers live in modules not named test_* beside this one:
writers.py (recipe, log and JSON files), parser_cases.py (log lines of every format), table_records.py (run
records and the published implementations' recipes), coco_cases.py (COCO annotations), bench_runs.py (bench
run by the tests, and what their records hold), bench_roots.py (BenchEnv, what bench_env returns).

tests/ has no __init__.py: pytest puts this folder on sys.path, so test files import those modules by their
bare names (`from writers import write_log`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_roots import BenchEnv
from table_records import write_recipes


@pytest.fixture
def bench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BenchEnv:
    """bench writes its results and cache under tmp_path (tmp_path/results, tmp_path/cache), never the
    repo's."""
    env = BenchEnv(tmp_path, monkeypatch)
    monkeypatch.setenv("BENCH_RESULTS", str(env.results))
    monkeypatch.setenv("BENCH_CACHE", str(env.cache))
    return env


@pytest.fixture
def published_recipes(bench_env: BenchEnv) -> Path:
    """BENCH_RECIPES at tmp_path/recipes, holding table_records' recipes of the published implementations."""
    write_recipes(bench_env.use_recipes())
    return bench_env.recipes
