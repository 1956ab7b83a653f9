"""Property-based fuzzing (hypothesis) of what reads records and imports logs: `bench table` (the README
text), `export`, `history` and `baseline save`, `compare`, `report --html` (its pages) and `import mlperf`,
over generated hostile records and inputs: valid records with hostile text and extreme numbers, records with a
field of the wrong type or out of range, MLPerf logs and system descriptions with values of any type.

Whatever they hold: no exception but bench's one-line `BenchError`; a bad record is skipped with one line and
the others are used; every JSON output is strict JSON (and the export matches its schema), every CSV parses
back to one row per record, every markdown table row has as many cells as its header, a verdict follows the
documented rule, and an import writes exactly the records it counts. The fast tier runs a few derandomised
examples of each (`bench-fast`, seconds); `bench-deep` explores far more and is marked slow."""

from __future__ import annotations

import csv
import io
import json
import string
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.records.schema import RunRecord
from bench.records.store import load_records
from bench.report.compare import ALPHA, compare, load_group
from bench.report.export import export_csv, export_json, flat, schema
from bench.report.history import baseline_json, baseline_records, history
from bench.report.html import index_html, run_html
from bench.vocabulary import MAX_IMG_S, RunStatus
from table_records import make_record, rendered_pages
from test_fuzz_loaders import DEEP, FAST, JSON_VALUES, _paths, assert_one_line_bench_error
from test_mlperf import COMMIT, START_S, step_times, tracked_stats_log

QUICK = settings(FAST, max_examples=10)  # each example writes, loads and renders a few records

# Text a careless user or an attacker puts in a name: markdown, TeX, HTML, CSV formulas, shell, quotes.
MARKUP = "|*_`[]()<>#$~\\!&=+-@\"',;:%{}/ "
NAMES = st.one_of(st.text(alphabet=string.ascii_letters + string.digits + MARKUP + "éß€", min_size=1,
                          max_size=40),
                  st.sampled_from(["$\\frac{1}{0}$", "=cmd|' /C calc'!A0", "a|b|c", "[x](http://e)", "<b>",
                                   "x" * 190, "-1", "@SUM(A1)", "# h", "`code`", "\\|"]))
RATES = st.one_of(st.floats(min_value=1e-300, max_value=MAX_IMG_S),
                  st.sampled_from([1e-300, MAX_IMG_S, 62.0]))
DATES = st.sampled_from(["2026-01-01T00:00:00+00:00", "1970-01-01T00:00:00Z",
                         "2026-06-30T23:59:59.999999+05:30"])
SERIES = st.lists(st.tuples(st.integers(0, 600), st.one_of(st.just(0.0), st.floats(0, 1e6))), max_size=30)


@st.composite
def valid_record(draw, index: int) -> dict:
    """A record the schema accepts, with hostile text and extreme numbers where they may be."""
    status = draw(st.sampled_from([RunStatus.OK, RunStatus.OK, RunStatus.CRASHED]))
    img_s = draw(RATES) if status is RunStatus.OK else None
    gpus = draw(st.sampled_from([0, 1, 8, 65_536]))
    with tempfile.TemporaryDirectory() as scratch:
        record = make_record(Path(scratch), f"r{index}", draw(NAMES), img_s,
                             created=draw(DATES),
                             gpus=gpus, gpu_model=draw(st.one_of(st.none(), NAMES)),
                             preset=draw(st.one_of(st.none(), NAMES)), status=status,
                             repeat_group=draw(st.one_of(st.none(), st.just("g"))),
                             deviations=tuple(draw(st.lists(NAMES, max_size=3))), reason=draw(NAMES),
                             series=[[float(i), s] for i, s in draw(SERIES)],
                             environment={"cpu": {"model": draw(NAMES), "logical": 2}})
    return json.loads(record.model_dump_json())


@st.composite
def hostile_record(draw, index: int) -> dict:
    """A valid record, or one with a value anywhere replaced by anything JSON can hold."""
    document = draw(valid_record(index))
    if draw(st.integers(0, 2)) == 0:
        where = draw(st.sampled_from(_paths(document)))
        holder = document
        for key in where[:-1]:
            holder = holder[key]
        holder[where[-1]] = draw(JSON_VALUES)
    return document


RECORD_SETS = st.integers(1, 4).flatmap(lambda n: st.tuples(*(hostile_record(i) for i in range(n))))


def written(directory: Path, documents) -> Path:
    """Each document as runs/<its index>/record.json (NaN and Infinity as Python writes them)."""
    runs = directory / "runs"
    for index, document in enumerate(documents):
        (runs / f"d{index}").mkdir(parents=True)
        (runs / f"d{index}" / "record.json").write_text(json.dumps(document))
    return runs


def strict(text: str):
    def refuse(name: str):
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


def loaded(runs: Path, count: int):
    records = load_records(runs)
    assert len(records) + len(records.skipped) == count  # every record is used or named, none lost
    assert all("\n" not in line and "\r" not in line for line in records.skipped)
    return records


def tables_consistent(text: str) -> None:
    """Every markdown table row has as many unescaped `|` as the table's header (no cell splits or
    leaks)."""
    pipes = None
    for line in text.splitlines():
        if not line.startswith("|"):
            pipes = None
            continue
        count = line.replace("\\\\", "").replace("\\|", "").count("|")
        pipes = count if pipes is None else pipes
        assert count == pipes, line


# -- the checks ----------------------------------------------------------------------------------------------
def check_table_and_report(documents) -> None:
    with tempfile.TemporaryDirectory() as directory:
        records = loaded(written(Path(directory), documents), len(documents))
        for text in rendered_pages(records, [], Path(directory)).values():
            tables_consistent(text)
        index_html(records, [], [])
        for run_dir, record in records:
            run_html(run_dir, record, {})


def check_export(documents) -> None:
    with tempfile.TemporaryDirectory() as directory:
        records = loaded(written(Path(directory), documents), len(documents))
        rows = [flat(d, r, {}) for d, r in records]
        jsonschema.validate(strict(export_json(rows)), schema())
        parsed = list(csv.DictReader(io.StringIO(export_csv(rows), newline="")))
        assert [row["run_id"] for row in parsed] == [row["run_id"] for row in rows]


def check_history_and_baseline(documents) -> None:
    with tempfile.TemporaryDirectory() as directory:
        records = loaded(written(Path(directory), documents), len(documents))
        for name in {record.implementation for _, record in records}:
            assert_one_line_bench_error(lambda name=name: history(records, name, None))
            saved = assert_one_line_bench_error(lambda name=name: baseline_records(records, name, None))
            if saved:
                data = strict(baseline_json(name, saved))
                assert [RunRecord.model_validate(r).run_id for r in data["records"]] == [r.run_id
                                                                                          for r in saved]


def check_compare(documents, threshold: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        runs = written(Path(directory), documents)
        base = assert_one_line_bench_error(lambda: load_group(runs / "d0"))
        new = assert_one_line_bench_error(lambda: load_group(runs))
        if not base or not new:
            return
        result = assert_one_line_bench_error(lambda: compare(base, new, threshold, allow_mismatch=True))
        if result is None:
            return
        data = strict(result.as_json())
        assert data["regression"] == (result.change < -threshold and result.p_value is not None
                                      and result.p_value < ALPHA)
        assert (data["verdict"] == "REGRESSION") == data["regression"]


# -- import ----------------------------------------------------------------------------------------------
EVENT_VALUES = st.one_of(JSON_VALUES, st.integers(-10**400, 10**400), st.just("[" * 3000 + "]" * 3000))
SYSTEM_KEYS = ["number_of_nodes", "accelerators_per_node", "accelerator_model_name", "system_name",
               "framework", "submitter", "host_processors_per_node", "entry"]


@st.composite
def mlperf_repository(draw) -> tuple[dict, str]:
    """A system description and a log: real ones, with values of any type put in their fields."""
    system = {"submitter": "Org", "division": "closed", "status": "onprem", "system_name": "s",
              "number_of_nodes": "1", "accelerators_per_node": "8", "accelerator_model_name": "NVIDIA H100",
              "framework": "PyTorch NVIDIA Release 23.04"}
    for key in draw(st.lists(st.sampled_from(SYSTEM_KEYS), max_size=3)):
        system[key] = draw(EVENT_VALUES)
    lines = tracked_stats_log(64, step_times(300)).splitlines()
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        event = json.loads(lines[at].removeprefix(":::MLLOG "))
        field = draw(st.sampled_from(["value", "time_ms", "metadata", "key"]))
        event[field] = draw(EVENT_VALUES)
        try:
            lines[at] = ":::MLLOG " + json.dumps(event)
        except (ValueError, RecursionError):
            lines[at] = ":::MLLOG {" + "[" * 3000
    return system, "\n".join(lines) + "\n"


def check_import(repository: tuple[dict, str]) -> None:
    from bench.records.mlperf import import_results

    system, log = repository
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "training_results_v3.0"
        (root / "Org" / "systems").mkdir(parents=True)
        try:
            text = json.dumps(system)
        except (ValueError, RecursionError):
            text = "[" * 5000
        (root / "Org" / "systems" / "s.json").write_text(text)
        run = root / "Org" / "results" / "s" / "maskrcnn"
        run.mkdir(parents=True)
        (run / "result_0.txt").write_text(log)
        runs = Path(directory) / "runs"
        report = assert_one_line_bench_error(lambda: import_results(
            root, runs, repo="https://x/training_results_v3.0", commit=COMMIT, version="3.0"))
        if report is None:
            return
        assert len(report.written) + len(report.rejected) == 1
        on_disk = load_records(runs) if runs.exists() else []
        assert len(on_disk) == len(report.written) and not getattr(on_disk, "skipped", [])
        for _, record in on_disk:
            assert record.gpus >= 1 and record.created >= "1970" and START_S > 0


THRESHOLDS = st.sampled_from([0.0, 0.05, 0.5])


# -- the fast tier and the deep profile ----------------------------------------------------------------------
@QUICK
@given(RECORD_SETS)
def test_table_and_report_fast(documents) -> None:
    check_table_and_report(documents)


@QUICK
@given(RECORD_SETS)
def test_export_fast(documents) -> None:
    check_export(documents)


@QUICK
@given(RECORD_SETS)
def test_history_and_baseline_fast(documents) -> None:
    check_history_and_baseline(documents)


@QUICK
@given(RECORD_SETS, THRESHOLDS)
def test_compare_fast(documents, threshold: float) -> None:
    check_compare(documents, threshold)


@QUICK
@given(mlperf_repository())
def test_import_fast(repository) -> None:
    check_import(repository)


@pytest.mark.slow
@DEEP
@given(RECORD_SETS)
def test_table_and_report_deep(documents) -> None:
    check_table_and_report(documents)


@pytest.mark.slow
@DEEP
@given(RECORD_SETS)
def test_export_deep(documents) -> None:
    check_export(documents)


@pytest.mark.slow
@DEEP
@given(RECORD_SETS)
def test_history_and_baseline_deep(documents) -> None:
    check_history_and_baseline(documents)


@pytest.mark.slow
@DEEP
@given(RECORD_SETS, THRESHOLDS)
def test_compare_deep(documents, threshold: float) -> None:
    check_compare(documents, threshold)


@pytest.mark.slow
@DEEP
@given(mlperf_repository())
def test_import_deep(repository) -> None:
    check_import(repository)
