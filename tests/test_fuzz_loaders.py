"""Property-based fuzzing (hypothesis) of the recipe loader, the record loader and the COCO loaders with
generated hostile input: whatever the bytes, the only exception is bench's own `BenchError`, its message is
one line, and each example finishes within the profile's deadline. The `bench-fast` profile runs in the fast
tier (seconds, derandomized so that a failure reproduces); `bench-deep` explores far more examples and is
marked slow."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.coco.evaluate import evaluate
from bench.coco.stats import dataset_stats
from bench.errors import BenchError
from bench.recipes.loader import load_recipe
from bench.records.store import load_record

settings.register_profile("bench-fast", max_examples=25, deadline=timedelta(seconds=3), derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow], database=None)
settings.register_profile("bench-deep", max_examples=600, deadline=timedelta(seconds=10),
                          suppress_health_check=[HealthCheck.too_slow])
FAST, DEEP = settings.get_profile("bench-fast"), settings.get_profile("bench-deep")

RECIPE_TEXT = Path("recipes/torchvision.toml").read_text(encoding="utf-8")
RECORD = json.loads(sorted(Path("results/runs").glob("*/record.json"))[0].read_text())

# Values a hostile file may put anywhere: wrong types, non-finite and huge numbers, path and shell syntax,
# nesting.
HOSTILE_TEXT = st.one_of(st.text(max_size=40), st.sampled_from([
    "../../etc/passwd", "/etc/passwd", "$(touch x)", "a\nb", "A=B", "(unclosed", "\\9", "HTTP://u:TOKEN@h/x",
    "2 *", "gpus // 0", "", "\x00", "é", "{output}", "{unknown}", "}{"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), HOSTILE_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(HOSTILE_TEXT, inner, max_size=4)),
                           max_leaves=12)


def assert_one_line_bench_error(call) -> object:
    """Run `call`; a BenchError with a one-line message is fine, any other exception fails the property."""
    try:
        return call()
    except BenchError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, message
        return None


@contextmanager
def written(*contents: bytes, name: str = "input") -> Iterator[list[Path]]:
    """Each of `contents` in a file of its own (named `name`), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as directory:
        paths = []
        for index, data in enumerate(contents):
            path = Path(directory) / str(index) / name
            path.parent.mkdir()
            path.write_bytes(data)
            paths.append(path)
        yield paths


# -- recipes -------------------------------------------------------------------------------------------------
def _toml_value(value) -> str:
    """`value` as TOML where TOML can say it (JSON strings, numbers and arrays mostly are); otherwise raw
    text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


@st.composite
def recipe_bytes(draw) -> bytes:
    """A real recipe with one line's value replaced, or raw bytes inserted somewhere, or random bytes."""
    lines = RECIPE_TEXT.splitlines()
    kind = draw(st.sampled_from(["value", "insert", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    index = draw(st.integers(0, len(lines) - 1))
    if kind == "value" and " = " in lines[index]:
        key = lines[index].split(" = ", 1)[0]
        lines[index] = f"{key} = {_toml_value(draw(JSON_VALUES))}"
        return "\n".join(lines).encode("utf-8", "surrogatepass")
    text = "\n".join(lines).encode()
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.binary(max_size=40)) + text[at:]


def check_recipe(data: bytes) -> None:
    with written(data, name="fuzz.toml") as (path,):
        assert_one_line_bench_error(lambda: load_recipe(path))


# -- records -------------------------------------------------------------------------------------------------
def _replace_at(document, path: list, value):
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def _paths(document, prefix=()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document[:3]):
            found += _paths(value, prefix + (index,))
    return found


RECORD_PATHS = _paths(RECORD)


@st.composite
def record_bytes(draw) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    document = json.loads(json.dumps(RECORD))
    for _ in range(draw(st.integers(1, 3))):
        where = list(draw(st.sampled_from(RECORD_PATHS)))
        try:
            _replace_at(document, where, draw(JSON_VALUES))
        except (KeyError, IndexError, TypeError):  # an earlier replacement removed the parent
            pass
    return json.dumps(document).encode()


def check_record(data: bytes) -> None:
    with written(data, name="record.json") as (path,):
        assert_one_line_bench_error(lambda: load_record(path.parent))


# -- COCO ----------------------------------------------------------------------------------------------------
IDS = st.one_of(st.integers(0, 3), SCALARS, st.lists(st.integers(), max_size=2))
NUMBERS = st.one_of(st.floats(-1e3, 1e5), st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-5, 10**5), SCALARS)
BOXES = st.one_of(st.lists(NUMBERS, min_size=4, max_size=4),
                  st.lists(st.floats(0, 50), min_size=4, max_size=4), JSON_VALUES)


@st.composite
def coco_pair(draw) -> tuple[dict | object, object]:
    images = [{"id": draw(IDS), "width": draw(st.one_of(st.just(64), NUMBERS)),
               "height": draw(st.one_of(st.just(48), NUMBERS))} for _ in range(draw(st.integers(0, 3)))]
    categories = [{"id": draw(IDS)} for _ in range(draw(st.integers(0, 2)))]
    annotations = [{"id": draw(IDS), "image_id": draw(IDS), "category_id": draw(IDS), "area": draw(NUMBERS),
                    "bbox": draw(BOXES), "iscrowd": draw(st.sampled_from([0, 1, 2, None, True, "0"]))}
                   for _ in range(draw(st.integers(0, 4)))]
    gt = {"images": images, "categories": categories, "annotations": annotations}
    if draw(st.integers(0, 9)) == 0:
        gt = draw(JSON_VALUES)
    detections = [{"image_id": draw(IDS), "category_id": draw(IDS), "score": draw(NUMBERS),
                   "bbox": draw(BOXES)}
                  for _ in range(draw(st.integers(0, 4)))]
    return gt, detections if draw(st.integers(0, 9)) else draw(JSON_VALUES)


def check_coco(pair: tuple) -> None:
    gt, dt = pair
    with written(json.dumps(gt).encode(), json.dumps(dt).encode(), name="coco.json") as (gt_path, dt_path):
        assert_one_line_bench_error(lambda: dataset_stats(gt_path))
        block = assert_one_line_bench_error(lambda: evaluate(gt_path, dt_path, "bbox", "coco"))
    if block is not None:  # what it printed is valid JSON (no NaN smuggled in)
        json.loads(json.dumps(block, allow_nan=False))


# -- the fast tier and the deep profile ----------------------------------------------------------------------
@FAST
@given(recipe_bytes())
def test_recipe_loader_fast(data: bytes) -> None:
    check_recipe(data)


@FAST
@given(record_bytes())
def test_record_loader_fast(data: bytes) -> None:
    check_record(data)


@FAST
@given(coco_pair())
def test_coco_loaders_fast(pair: tuple) -> None:
    check_coco(pair)


@pytest.mark.slow
@DEEP
@given(recipe_bytes())
def test_recipe_loader_deep(data: bytes) -> None:
    check_recipe(data)


@pytest.mark.slow
@DEEP
@given(record_bytes())
def test_record_loader_deep(data: bytes) -> None:
    check_record(data)


@pytest.mark.slow
@DEEP
@given(coco_pair())
def test_coco_loaders_deep(pair: tuple) -> None:
    check_coco(pair)


# -- the quoting helper --------------------------------------------------------------------------------------
@FAST
@given(st.text().filter(lambda s: "\x00" not in s))
def test_a_quoted_value_is_one_shell_word_that_stands_for_itself(value: str) -> None:
    import shlex

    from bench.security import shell_comment, shell_quote

    assert shlex.split(shell_quote(value)) == [value]
    assert len(shell_comment(value).splitlines()) <= 1
