"""bench's import graph: the layers and the no-cycle rule declared in pyproject.toml ([tool.importlinter])
hold, and the same contracts do catch an upward import and a cycle when one is added to the real graph."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
from importlinter.application.use_cases import read_user_options
from importlinter.configuration import configure
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_TYPES = {"layers": LayersContract, "acyclic_siblings": AcyclicSiblingsContract}


def contracts() -> list:
    """The contracts as `lint-imports` reads them from pyproject.toml (with its own reader)."""
    configure()
    options = read_user_options(str(ROOT / "pyproject.toml"))
    return [CONTRACT_TYPES[o["type"]](o["name"], options.session_options, o)
            for o in options.contracts_options]


def broken(graph: grimp.ImportGraph) -> list[str]:
    return [c.name for c in contracts() if not c.check(graph, verbose=False).kept]


@pytest.fixture
def graph() -> grimp.ImportGraph:
    """A fresh graph per test (a check may change it; building one takes about 0.1 s)."""
    return grimp.build_graph("bench", cache_dir=None)


def test_both_contracts_are_declared() -> None:
    assert sorted(type(c).__name__ for c in contracts()) == ["AcyclicSiblingsContract", "LayersContract"]


def test_the_graph_keeps_every_contract(graph: grimp.ImportGraph) -> None:
    assert broken(graph) == []


def test_the_vocabulary_imports_nothing_of_bench(graph: grimp.ImportGraph) -> None:
    """Not even the package root, which the layers contract leaves out."""
    imported = graph.find_modules_directly_imported_by("bench.vocabulary")
    assert sorted(m for m in imported if m == "bench" or m.startswith("bench.")) == []


@pytest.mark.parametrize("importer, imported", [
    ("bench.vocabulary", "bench.errors"),  # the leaf imports nothing of bench
    ("bench.logs.base", "bench.cli.parse"),  # a parser reaching up into the CLI
    ("bench.measure.window", "bench.report.table"),
    ("bench.recipes.schema", "bench.launch.base"),
])
def test_an_upward_import_breaks_the_layers(graph: grimp.ImportGraph, importer: str, imported: str) -> None:
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import")
    assert "bench's packages are layered: nothing imports upwards" in broken(graph)


def test_a_cycle_between_packages_is_caught(graph: grimp.ImportGraph) -> None:
    graph.add_import(importer="bench.logs.types", imported="bench.measure.window", line_number=1,
                     line_contents="import")  # measure already imports logs
    assert "no cycle between bench's packages" in broken(graph)


def test_only_the_cli_imports_typer() -> None:
    """Read from the source (grimp leaves out third-party packages): typer is the CLI's, nobody else's."""
    users = set()
    for path in (ROOT / "bench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(name.split(".")[0] == "typer" for name in names):
                users.add(path.relative_to(ROOT / "bench").parts[0])
    assert users == {"cli"}
