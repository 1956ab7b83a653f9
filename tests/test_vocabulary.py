"""The shared vocabulary: closed, each word defined once, and the rules in it used by everyone who needs
them."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.k8s.render import check_image
from bench.logs.registry import parser_class
from bench.measure.warnings import warning
from bench.recipes.schema import Stack
from bench.records.store import load_record
from bench.vocabulary import (EnvVar, EventKind, LogFormat, ParseStatus, RunStatus, WarningCode,
                              image_pin_problem)

ROOT = Path(__file__).resolve().parents[1]


def test_a_parse_status_is_a_run_status_and_only_the_harness_adds_the_rest() -> None:
    assert {s.value for s in ParseStatus} < {s.value for s in RunStatus}
    assert {s.value for s in RunStatus} - {s.value for s in ParseStatus} == \
        {"timeout", "interrupted", "failed", "batch_mismatch"}
    assert all(RunStatus.of(s).value == s.value for s in ParseStatus)


def test_words_read_as_their_values() -> None:
    assert (f"{RunStatus.BATCH_MISMATCH}" == "batch_mismatch"
            and str(LogFormat.MMDET_V2_JSON) == "mmdet-v2-json")
    assert json.dumps([EventKind.START]) == '["start"]' and RunStatus.OK == "ok"


def test_every_log_format_has_its_parser() -> None:
    for fmt in LogFormat:
        assert parser_class(fmt).format == fmt.value


def test_the_after_window_warnings_are_words_of_their_own() -> None:
    assert WarningCode.after_window(EventKind.DIVERGED) is WarningCode.DIVERGED_AFTER_WINDOW
    assert WarningCode.after_window(EventKind.TRACEBACK) is WarningCode.TRACEBACK_AFTER_WINDOW
    with pytest.raises(ValueError):
        WarningCode.after_window(EventKind.CHECKPOINT)  # no such warning: a checkpoint is not a failure


def test_a_warning_code_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError):
        warning("made-up", "message", "remedy")  # type: ignore[arg-type]


def test_a_record_with_an_unknown_warning_code_is_one_line(tmp_path: Path) -> None:
    source = next(p.parent for p in sorted((ROOT / "results" / "runs").glob("*/record.json")))
    shutil.copytree(source, tmp_path / "r")
    data = json.loads((tmp_path / "r" / "record.json").read_text())
    data["warnings"] = [{"code": "made-up", "message": "m", "remedy": "r"}]
    (tmp_path / "r" / "record.json").write_text(json.dumps(data))
    with pytest.raises(BenchError) as caught:
        load_record(tmp_path / "r")
    assert "warnings.0.code" in str(caught.value) and "\n" not in str(caught.value)


PINS = [  # image, pinned?
    ("nvcr.io/nvidia/pytorch:24.05-py3", True),
    ("localhost:5000/bench/detectron2:current", True),
    ("ghcr.io/x/y@sha256:" + "a" * 64, True),
    ("ghcr.io/x/y:1.0@sha256:" + "0" * 64, True),
    ("ghcr.io/x/y", False),  # no tag
    ("localhost:5000/bench/detectron2", False),  # the port is not a tag
    ("ghcr.io/x/y:latest", False),
    ("ghcr.io/x/y@sha256:abc", False),  # a short digest
    ("ghcr.io/x/y@sha256:" + "A" * 64, False),  # digests are lower-case hex
    ("ghcr.io/x/y@sha256:" + "a" * 64 + "x", False),
]


@pytest.mark.parametrize("image, pinned", PINS)
def test_one_pin_rule_for_recipes_and_manifests(image: str, pinned: bool) -> None:
    assert (image_pin_problem(image) is None) == pinned
    stack = {"python": "3.11", "framework": "torch 2.9.1", "image": image}
    if pinned:
        assert check_image(image) == image and Stack.model_validate(stack).image == image
    else:
        with pytest.raises(BenchError):
            check_image(image)
        with pytest.raises(ValueError):
            Stack.model_validate(stack)


def _environment_reads(tree: ast.AST) -> list[str]:
    """String constants given to os.environ.get / os.environ[...] / os.getenv."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = ast.unparse(node.func)
            if name in ("os.environ.get", "os.getenv", "environ.get"):
                found.append(node.args[0].value)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ") \
                and isinstance(node.slice, ast.Constant):
            found.append(node.slice.value)
    return found


def test_bench_settings_are_read_through_the_vocabulary() -> None:
    """A BENCH_* variable read by its literal name would escape the list users read (EnvVar)."""
    literal = {str(path.relative_to(ROOT)): name for path in (ROOT / "bench").rglob("*.py")
               for name in _environment_reads(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(name, str) and name.startswith("BENCH_")}
    assert literal == {}
    assert all(v.value.startswith("BENCH_") for v in EnvVar)


def test_parse_lists_every_format_with_what_its_time_means() -> None:
    from typer.testing import CliRunner

    from bench.cli import cli

    result = CliRunner().invoke(cli, ["parse", "--list-formats"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for fmt in LogFormat:
        parser = parser_class(fmt)
        row = next(line for line in result.output.splitlines() if line.startswith(f"│ {fmt.value} "))
        assert parser.semantics.value in row and parser.time_meaning[:60] in row
