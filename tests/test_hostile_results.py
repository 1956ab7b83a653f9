"""Issue 26: `compare`, `baseline`, `export`, `history`, `report`, `import mlperf` and `table` with hostile
records and inputs, one section per family of failure (wrong verdicts, hangs, invalid output, silent loss,
one bad record breaking everyone's table, half-written results, import, what was left from the last round).
Every case must end in a result, a warning line or one error line (exit status 2): never a traceback, a hang,
a write outside the roots, a lost run or a wrong verdict. Expected values are computed here, independently of
bench."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
from collections import Counter
from pathlib import Path
from statistics import NormalDist

import jsonschema
import numpy as np
import pytest

from bench.cli import app
from bench.errors import BenchError
from bench.files import json_text, read_input, staged_writes
from bench.measure.stats import bootstrap_medians, mann_whitney_less, smallest_p
from bench.records.store import load_records
from bench.report.export import export_csv, export_json, flat, schema
from bench_runs import invoke
from table_records import V100, make_record, rendered_pages, runs_page
from test_mlperf import COMMIT, START_S, step_times, tracked_stats_log, write_run, write_system


def strict_json(text: str):
    """JSON as RFC 8259 has it: NaN, Infinity and -Infinity are not numbers."""
    def refuse(name: str):
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


def record_json(tmp_path: Path, **changes) -> dict:
    """A valid record (built by bench's schema), as the JSON a file holds, with `changes` applied."""
    record = make_record(tmp_path / "proto", "proto", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    data = json.loads(record.model_dump_json())
    for dotted, value in changes.items():
        target, *path = dotted.split("__")
        holder = data
        for key in path:
            holder = holder[target]
            target = key
        holder[target] = value
    return data


def write_json_record(runs: Path, run_dir: str, data: dict) -> Path:
    (runs / run_dir).mkdir(parents=True, exist_ok=True)
    path = runs / run_dir / "record.json"
    path.write_text(json.dumps(data))  # NaN and Infinity as Python writes them: what a hostile file holds
    return path


def finishes(call, seconds: float = 20.0):
    """`call()`'s result, or a failure when it has not returned after `seconds` (a hang)."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: a hang"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def one_error_line(args: list, *expected: str) -> str:
    code, _, err = invoke(app, [str(a) for a in args])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) >= 1 and lines[-1].startswith("bench: error: "), (code, err)
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[-1], lines[-1]
    return lines[-1]


# -- wrong verdicts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [-5.0, 0.0, float("nan"), float("inf")])
def test_a_baseline_without_a_finite_positive_throughput_is_refused(tmp_path: Path, value: float) -> None:
    bad = write_json_record(tmp_path, "bad", record_json(tmp_path, framework_timing__throughput_img_s=value))
    make_record(tmp_path, "new", "detectron2", 50.0, created="2026-01-02T00:00:00+00:00")
    one_error_line(["compare", bad, tmp_path / "new"], str(bad), "framework_timing.throughput_img_s")


@pytest.mark.parametrize("other, what", [
    ({"name": "mmdetection"}, "implementation 'detectron2' against 'mmdetection'"),
    ({"preset": "smoke"}, "preset 'no preset' against 'smoke'"),
    ({"gpu_model": "H100"}, f"hardware '8 × {V100}' against '8 × H100'"),
])
def test_a_baseline_of_another_kind_is_refused_unless_allowed(tmp_path: Path, other: dict, what: str) -> None:
    make_record(tmp_path, "base", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    name = other.pop("name", "detectron2")
    make_record(tmp_path, "new", name, 30.0, created="2026-01-02T00:00:00+00:00", **other)
    one_error_line(["compare", tmp_path / "base", tmp_path / "new"], what, "--allow-mismatch")
    code, out, _ = invoke(app, ["compare", str(tmp_path / "base"), str(tmp_path / "new"), "--allow-mismatch"])
    assert code == 0 and "compared across a mismatch" in out and what in out


def test_too_few_samples_follow_the_documented_rule_every_time(tmp_path: Path) -> None:
    """3 runs a side, all 20 % slower: the smallest p the test can give is 1 / C(6, 3) = 0.05, not below
    0.05, so by the README's rule (beyond the threshold AND p < 0.05) it is not a regression, and it says
    why; 4 runs a side can (1 / C(8, 4) = 0.014)."""
    for side, factor, n in (("base3", 1.0, 3), ("new3", 0.8, 3), ("base4", 1.0, 4), ("new4", 0.8, 4)):
        for k in range(n):
            make_record(tmp_path / side, f"{side}{k}", "detectron2", 100.0 * factor + k,
                        created=f"2026-01-0{k + 1}T00:00:00+00:00", repeat_group=side)
    code, out, _ = invoke(app, ["compare", str(tmp_path / "base3"), str(tmp_path / "new3"), "--json"])
    result = strict_json(out)
    assert code == 0 and result["regression"] is False and result["verdict"].startswith("slower, untestable")
    assert "cannot reach p < 0.05" in result["note"] and "0.05" in result["note"]
    code, out, _ = invoke(app, ["compare", str(tmp_path / "base4"), str(tmp_path / "new4")])
    assert code == 1 and "REGRESSION" in out and f"p = {1 / math.comb(8, 4):.3g}" in out
    assert smallest_p(3, 3) == pytest.approx(1 / math.comb(6, 3)) and smallest_p(1, 1) == 0.5


def pair_count_p(new: list[float], base: list[float]) -> float:
    """The one-sided normal approximation from U counted pair by pair (ties 1/2) and the tie correction from
    counting equal values: independent of bench's ranks."""
    a, b = np.asarray(new)[:, None], np.asarray(base)[None, :]
    u = float(np.sum(a < b) + 0.5 * np.sum(a == b))
    n1, n2 = len(new), len(base)
    n = n1 + n2
    ties = sum(t ** 3 - t for t in Counter([*new, *base]).values())
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    # bench's U counts NEW's rank sum: U_bench = n1 n2 - u here (u counts NEW below BASE)
    return NormalDist().cdf((n1 * n2 - u - n1 * n2 / 2 + 0.5) / sigma)


def test_mann_whitney_by_sorting_matches_pair_counting_with_ties() -> None:
    rng = np.random.default_rng(3)
    new = [float(v) for v in np.round(rng.normal(99.0, 2.0, 3000))]
    base = [float(v) for v in np.round(rng.normal(100.0, 2.0, 2500))]
    assert mann_whitney_less(new, base) == pytest.approx(pair_count_p(new, base), rel=1e-9)
    assert mann_whitney_less(base, new) == pytest.approx(pair_count_p(base, new), rel=1e-9)


def test_bootstrap_medians_have_the_distribution_of_resampled_medians() -> None:
    """Drawn from order statistics, against numpy's median of explicit resamples (odd and even sizes)."""
    rng = np.random.default_rng(5)
    for n in (31, 40):
        sample = rng.normal(0.0, 1.0, n)
        drawn = bootstrap_medians(sample, 40_000, np.random.default_rng(6))
        explicit = np.median(np.random.default_rng(7).choice(sample, (40_000, n)), axis=1)
        assert np.percentile(drawn, [2.5, 25, 50, 75, 97.5]) == pytest.approx(
            np.percentile(explicit, [2.5, 25, 50, 75, 97.5]), abs=0.03)


# -- hangs ---------------------------------------------------------------------------------------------------
def test_a_fifo_record_is_skipped_without_blocking(tmp_path: Path) -> None:
    make_record(tmp_path, "good", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "record.json")
    records = finishes(lambda: load_records(tmp_path))
    assert [r.run_id for _, r in records] == ["good"] and "not a regular file" in records.skipped[0]
    one_error_line(["compare", tmp_path / "fifo" / "record.json", tmp_path / "good"], "not a regular file")


def test_inputs_that_are_devices_or_links_out_of_the_root_are_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "root" / "zero").symlink_to("/dev/zero")
    (tmp_path / "root" / "out").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(BenchError, match="not a regular file"):
        finishes(lambda: read_input(tmp_path / "root" / "zero", 100, "log"))
    with pytest.raises(BenchError, match="leaves"):
        read_input(tmp_path / "root" / "out", 100, "log", root=tmp_path / "root")
    assert read_input(tmp_path / "root" / "out", 100, "log") == b"secret"  # no root named: a link is fine
    with pytest.raises(BenchError, match="larger than 3 bytes"):
        read_input(tmp_path / "outside.txt", 3, "log")


def test_a_mlperf_log_linked_to_an_endless_device_is_rejected_not_read(tmp_path: Path) -> None:
    repo = tmp_path / "training_results_v3.0"
    write_system(repo, "Org", "sys", 1, 8, "NVIDIA H100")
    write_run(repo, "Org", "sys", 0, tracked_stats_log(64, step_times(600)))
    (repo / "Org" / "results" / "sys" / "maskrcnn" / "result_1.txt").symlink_to("/dev/zero")
    os.mkfifo(repo / "Org" / "results" / "sys" / "maskrcnn" / "result_2.txt")
    args = ["import", "mlperf", str(repo), "--runs", str(tmp_path / "r"), "--repo",
            "https://x/training_results_v3.0", "--commit", COMMIT]
    code, out, err = finishes(lambda: invoke(app, args))
    assert code == 0 and "imported 1 runs of 1 systems; rejected 2" in out
    rejected = sorted(line for line in err.splitlines() if line.startswith("rejected "))
    assert "result_1.txt: " in rejected[0] and "leaves" in rejected[0]  # a link out of the repository
    assert "result_2.txt: " in rejected[1] and "not a regular file" in rejected[1]


def test_a_trainer_line_of_100_mb_without_a_newline_is_one_pass(tmp_path: Path) -> None:
    from bench.launch.base import MAX_PENDING, Launcher

    class Capture(Launcher):
        start = poll = _alive = _reap = lambda self, *a: None  # noqa: E731 - only the line splitting is used

        def _signal_all(self, sig: int) -> None:
            pass

    capture = Capture(tmp_path)
    capture._open_stream("stdout")
    chunk, pending = b"x" * 65536, b""

    def feed() -> bytes:
        rest = b""
        for _ in range(1600):  # 100 MiB in pipe-sized reads, then the line ends
            rest = capture._split("stdout", rest, chunk, 0.0)
        return capture._split("stdout", rest, b"end\nnext", 0.0)

    pending = finishes(feed, seconds=10)  # a copy per read took minutes
    first = capture._queue.get_nowait()
    assert pending == b"next" and len(first.raw) == MAX_PENDING + 1 and capture.line_counts() == {"stdout": 1}


# -- invalid output ------------------------------------------------------------------------------------------
def hostile_text_records(runs: Path) -> None:
    make_record(runs, "a", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00",
                deviations=("=HYPERLINK(\"http://x\")", "a\rb", "c\nd \"quoted\", comma", "+1", "@SUM(A1)"))
    make_record(runs, "b", "=cmd|' /C calc'!A0", 50.0, created="2026-01-02T00:00:00+00:00",
                reason="-2+3", gpu_model="V100 | x")


def test_csv_is_rfc_4180_and_neutralises_formulas(tmp_path: Path) -> None:
    hostile_text_records(tmp_path)
    records = load_records(tmp_path)
    text = export_csv([flat(d, r, {}) for d, r in records])
    assert text.endswith("\r\n") and "\r\n" in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 2  # a bare CR or LF in a field never splits a row
    by_id = {row["run_id"]: row for row in rows}
    assert by_id["a"]["deviations"] == ("'=HYPERLINK(\"http://x\"); a\rb; c\nd \"quoted\", comma; +1; "
                                        "@SUM(A1)")
    assert by_id["b"]["implementation"] == "'=cmd|' /C calc'!A0"
    for row in rows:
        assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in row.values()), row


def test_json_outputs_are_strict_and_match_the_export_schema(tmp_path: Path) -> None:
    hostile_text_records(tmp_path)
    rows = [flat(d, r, {}) for d, r in load_records(tmp_path)]
    jsonschema.validate(strict_json(export_json(rows)), schema())
    rows[0]["img_s"], rows[1]["seconds"] = float("nan"), float("inf")  # what no record holds, but a sum might
    data = strict_json(export_json(rows))
    jsonschema.validate(data, schema())
    assert data["rows"][0]["img_s"] is None and data["rows"][1]["seconds"] is None
    assert data["notes"] == ["rows.0.img_s: nan is not a JSON number; written as null",
                             "rows.1.seconds: inf is not a JSON number; written as null"]
    assert strict_json(json_text([1.0, float("-inf")])) == [1.0, None]


def test_compare_and_baseline_json_are_strict(tmp_path: Path, bench_env) -> None:
    for k in range(5):
        make_record(bench_env.runs, f"g{k}", "detectron2", 60.0 + k,
                    created=f"2026-01-0{k + 1}T00:00:00+00:00", repeat_group="g")
    code, _, _ = invoke(app, ["baseline", "save", "detectron2"])
    saved = bench_env.results / "baselines" / "detectron2.json"
    assert code == 0 and len(strict_json(saved.read_text())["records"]) == 5
    code, out, _ = invoke(app, ["compare", str(saved), str(bench_env.runs / "g0"), "--json"])
    assert code == 0 and strict_json(out)["baseline_img_s"] == 62.0


# -- silent loss ---------------------------------------------------------------------------------------------
def test_systems_whose_names_differ_in_punctuation_stay_two(tmp_path: Path) -> None:
    repo = tmp_path / "training_results_v3.0"
    for system in ("dgx a100", "dgx_a100"):  # one plain name, "dgx_a100", for both
        write_system(repo, "Org", system, 1, 8, "NVIDIA A100")
        write_run(repo, "Org", system, 0, tracked_stats_log(64, step_times(600)))
    args = ["import", "mlperf", str(repo), "--runs", str(tmp_path / "runs"), "--repo",
            "https://x/training_results_v3.0", "--commit", COMMIT]
    for _ in range(2):  # a re-import replaces each run's own record, never the other's
        code, out, _ = invoke(app, args)
        assert code == 0 and "imported 2 runs of 2 systems; rejected 0" in out
        records = load_records(tmp_path / "runs")
        assert len(records) == 2 and not records.skipped
        assert {r.environment["system_name"] for _, r in records} == {"dgx a100", "dgx_a100"}
        assert len({r.repeat_group for _, r in records}) == 2


def test_a_duplicate_run_id_is_skipped_not_plotted_over(tmp_path: Path) -> None:
    make_record(tmp_path / "runs", "x", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    data = record_json(tmp_path, implementation="mmdetection")
    data["run_id"] = "x"
    write_json_record(tmp_path / "runs", "y", data)
    records = load_records(tmp_path / "runs")
    assert [d.name for d, _ in records] == ["x"]
    assert records.skipped == [f"{tmp_path / 'runs' / 'y' / 'record.json'}: field 'run_id': 'x' is also the "
                               f"run id of {tmp_path / 'runs' / 'x' / 'record.json'}"]


# -- one bad record never breaks everyone's table ------------------------------------------------------------
BAD_RECORDS = {  # field changed -> what the warning names
    "environment": ("not an object", "environment"),
    "framework_timing": ("not an object", "framework_timing"),
    "window_requested": ([100], "window_requested"),
    "reference": ({"img_s": "fast", "gpus": 8, "gpu_model": "V100", "source": "x"}, "reference"),
    "run_id": ("r" * 201, "run_id"),
    "created": ("yesterday", "created"),
    "gpus": (-8, "gpus"),
    "implementation": ("a\nb", "implementation"),
    "framework_timing__throughput_img_s": (1e9, "framework_timing"),
    "environment__cpu": ("AMD", "environment.cpu"),
    "dataset__synthetic": ("no", "dataset.synthetic"),
    "extra__suite": ({"id": "s", "name": "../../x", "preset": "p"}, "extra.suite.name"),
}


@pytest.mark.parametrize("field", list(BAD_RECORDS))
def test_a_bad_record_is_skipped_with_one_warning_and_the_rest_render(tmp_path: Path, field: str) -> None:
    value, named = BAD_RECORDS[field]
    runs = tmp_path / "runs"
    make_record(runs, "good", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    path = write_json_record(runs, "bad", record_json(tmp_path, **{field: value}))
    records = load_records(runs)
    assert [r.run_id for _, r in records] == ["good"]
    assert len(records.skipped) == 1 and records.skipped[0].startswith(f"{path}: field '{named}")
    text = "".join(rendered_pages(records, [], tmp_path).values())
    assert "detectron2" in text


def test_table_command_warns_counts_and_renders(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_record(runs, "good", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    write_json_record(runs, "bad", record_json(tmp_path, created="soon"))
    code, _, err = invoke(app, ["table", "--runs", str(runs), "--out", str(tmp_path / "out" / "README.md"),
                                "--check"])
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert code == 1 and len(warnings) == 2 and "field 'created'" in warnings[0]  # 1: README missing
    assert "1 record(s) skipped" in warnings[1]


def unescaped_pipes(line: str) -> int:
    return line.replace("\\|", "").count("|")


def test_markdown_in_names_and_gpu_models_stays_text(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_record(runs, "a", "x|y *b* [l](http://e) <i> `c` $m$", 60.0, created="2026-01-01T00:00:00+00:00",
                gpu_model="V100 | # heading")
    text = runs_page(load_records(runs), [], tmp_path)
    assert "x\\|y \\*b\\* [l\\](http://e) \\<i\\> \\`c\\` \\$m\\$" in text
    assert "### Protocol 1 · 8 × V100 \\| \\# heading" in text
    tables = [line for line in text.splitlines() if line.startswith("|")]
    header_pipes = unescaped_pipes(tables[0])
    assert tables and all(unescaped_pipes(line) == header_pipes for line in tables if "x\\|y" in line)


def test_plots_draw_tex_like_and_long_names_as_text(tmp_path: Path) -> None:
    from bench.report.plots import label, plot_style, timeline_png

    record = make_record(tmp_path, "t", "$\\frac{1}{0}$ \\sqrt{" + "x" * 150, 60.0,
                         created="2026-01-01T00:00:00+00:00",
                         series=[[float(i), 0.0] for i in range(20, 520, 20)])
    assert timeline_png(record).startswith(b"\x89PNG")  # mathtext off, an all-zero series, a long name
    assert len(label("y" * 500)) == 60
    with plot_style():
        import matplotlib
        assert matplotlib.rcParams["text.parse_math"] is False


# -- half-written results ------------------------------------------------------------------------------------
def table_args(results: Path) -> list[str]:
    return ["table", "--runs", str(results / "runs"), "--out", str(results / "README.md")]


@pytest.fixture
def quick_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plots as a few fixed bytes: what is written where matters here, not matplotlib's rendering."""
    from bench.report import plots

    monkeypatch.setattr(plots, "throughput_png", lambda *args: b"\x89PNG throughput")
    monkeypatch.setattr(plots, "timeline_png", lambda *args: b"\x89PNG timeline")


def test_a_failure_while_writing_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 quick_plots) -> None:
    """A plots/ that cannot be written (read-only; as root, made to fail here): README.md stays as it was."""
    import tempfile

    results = tmp_path / "results"
    make_record(results / "runs", "a", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00",
                series=[[float(i), 0.25] for i in range(20, 520, 20)])
    (results / "README.md").write_text("old\n")
    real = tempfile.mkstemp

    def read_only_plots(*args, **kwargs):
        if Path(kwargs.get("dir", "")).name == "plots":
            raise PermissionError(13, "Permission denied", str(kwargs["dir"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only_plots)
    one_error_line(table_args(results), "plots", "Permission denied", "nothing was changed")
    assert (results / "README.md").read_text() == "old\n" and not (results / "throughput.png").exists()
    assert not [p for p in results.rglob(".*.tmp")]


def test_a_plots_link_out_of_the_results_root_is_never_written_through(tmp_path: Path, quick_plots) -> None:
    results, outside = tmp_path / "results", tmp_path / "elsewhere"
    outside.mkdir()
    make_record(results / "runs", "a", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00",
                series=[[float(i), 0.25] for i in range(20, 520, 20)])
    (results / "plots").symlink_to(outside)
    one_error_line(table_args(results), "plots", "leaves")
    assert list(outside.iterdir()) == [] and not (results / "README.md").exists()


def test_staged_writes_put_all_in_place_or_none(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("old a")
    with pytest.raises(RuntimeError), staged_writes(tmp_path) as staging:
        staging.file(tmp_path / "a", "new a")
        staging.directory(tmp_path / "site", {"index.html": b"x", "runs/r.html": b"y"})
        raise RuntimeError("half-way")
    assert (tmp_path / "a").read_text() == "old a" and sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    with staged_writes(tmp_path) as staging:
        staging.file(tmp_path / "a", "new a")
        staging.directory(tmp_path / "site", {"index.html": b"x", "runs/r.html": b"y"})
    assert (tmp_path / "a").read_text() == "new a"
    assert (tmp_path / "site" / "runs" / "r.html").read_bytes() == b"y"


def test_report_swaps_its_site_in_and_never_replaces_a_foreign_folder(tmp_path: Path, quick_plots) -> None:
    runs = tmp_path / "runs"
    make_record(runs, "a", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    one_error_line(["report", "--html", foreign, "--runs", runs], "not a site bench wrote")
    assert (foreign / "notes.txt").read_text() == "keep"
    site = tmp_path / "site"
    for _ in range(2):  # the second run replaces the first site whole
        code, out, _ = invoke(app, ["report", "--html", str(site), "--runs", str(runs)])
        files = sorted(p for p in site.rglob("*") if p.is_file())
        assert code == 0 and f"wrote {len(files)} files" in out
    assert (site / "runs" / "a.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


# -- import --------------------------------------------------------------------------------------------------
def test_import_refuses_absurd_values_as_bad_input(tmp_path: Path) -> None:
    repo = tmp_path / "training_results_v3.0"
    log = tracked_stats_log(64, step_times(600))
    cases = {  # system -> (system description, log text)
        "time": ({}, log.replace(f'"time_ms": {round((START_S - 60) * 1000)}', '"time_ms": ' + "9" * 400,
                                 1)),
        "batch": ({}, log.replace('"value": 64', '"value": ' + "1" * 300, 1)),
        "nested": ({"framework": "[" * 5000},
                   log.replace('"value": 64', '"value": ' + "[" * 5000 + "]" * 5000, 1)),
        "types": ({"framework": {"a": 1}, "accelerator_model_name": ["x"], "system_name": 7}, log),
        "negative": ({"number_of_nodes": "-2"}, log),
    }
    for system, (fields, text) in cases.items():
        write_system(repo, "Org", system, 1, 8, "NVIDIA H100")
        path = repo / "Org" / "systems" / f"{system}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))
        write_run(repo, "Org", system, 0, text)
    (repo / "Org" / "systems" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    write_run(repo, "Org", "deep", 0, log)
    code, out, err = invoke(app, ["import", "mlperf", str(repo), "--runs", str(tmp_path / "runs"), "--repo",
                                  "https://x/training_results_v3.0", "--commit", COMMIT])
    assert code == 0 and "Traceback" not in err
    rejected = {line.split("/")[2]: line for line in err.splitlines() if line.startswith("rejected ")}
    assert set(rejected) == {"negative", "deep"}, err
    assert "number_of_nodes" in rejected["negative"] and "nested too deeply" in rejected["deep"]
    records = {r.environment["system_name"] if "system_name" in r.environment else d.name: r
               for d, r in load_records(tmp_path / "runs")}
    assert records["time"].created == "2023-05-13T20:56:20+00:00"  # the absurd event is not an event
    assert records["time"].throughput_img_s is not None
    # a batch of 300 digits is no batch: the run is recorded as measuring nothing, never with that batch
    assert records["batch"].throughput_img_s is None and records["batch"].images_per_iter == 0
    typed = next(r for r in records.values() if r.repeat_group.endswith("-types"))
    assert typed.gpu_model is None and "framework" not in typed.environment and typed.gpus == 8


# -- left from the last round --------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["run", "builtin", "--dry-run", "--timeout", "nan"], "--timeout nan"),
    (["run", "builtin", "--dry-run", "--timeout", "inf"], "--timeout inf"),
    (["run", "builtin", "--dry-run", "--grace", "-1"], "--grace -1.0"),
    (["run", "builtin", "--dry-run", "--gpus", str(10**9)], "--gpus: 1000000000 is not between 0 and"),
    (["parse", "README.md", "--gpus", "-3"], "--gpus: -3 is not between 1"),
    (["parse", "README.md", "--window", "1:" + "9" * 30], "--window"),
])
def test_options_out_of_range_are_one_line(args: list[str], expected: str) -> None:
    one_error_line(args, expected)


def test_record_into_a_path_under_a_file_is_one_line(tmp_path: Path) -> None:
    from parser_cases import FORMATS, times_for

    log = tmp_path / "train.log"
    log.write_text("\n".join(FORMATS["torchvision"][0](times_for("torchvision"))) + "\n")
    (tmp_path / "afile").write_text("x")
    one_error_line(["parse", log, "-n", "16", "--record", tmp_path / "afile" / "run", "--gpus", "8"],
                   "--record", "afile", "is not a directory")


@pytest.mark.parametrize("formula, expected", [
    ("9" * 5000 + " * gpus", "longer than 200"),
    ("9" * 150 + " * gpus", "is not an integer from 0 to"),
    (" * ".join(["999999"] * 30), "longer than 200"),
    ("999999 * 999999 * gpus", "far out of range"),
    ("10000000 * gpus", "is not an integer from 0 to"),
])
def test_a_formula_out_of_range_is_a_field_error(formula: str, expected: str) -> None:
    from bench.recipes.schema import evaluate_formula

    with pytest.raises(ValueError, match=expected):
        evaluate_formula(formula, gpus=8)


def test_recipe_counts_are_checked(tmp_path: Path) -> None:
    from bench.recipes.loader import load_recipe

    text = Path("recipes/detectron2.toml").read_text()
    for old, new, field in (("gpus = 8", "gpus = 1000000", "gpus"),
                            ("img_s = 62", "img_s = nan", "reference.img_s"),
                            ('name = "detectron2"', f'name = "{"d" * 101}"', "name"),
                            ('title = "', 'title = "line\\nbreak ', "title")):
        path = tmp_path / f"{field}.toml"
        assert old in text
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(BenchError, match=f"field '{field}'"):
            load_recipe(path)


def test_negative_expected_replacements_are_refused() -> None:
    from pydantic import ValidationError

    from bench.recipes.schema import Substitution

    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Substitution(kind="substitute", pattern="a", replacement="b", expected={"x.py": -1})


def test_a_command_that_fills_to_hundreds_of_megabytes_is_refused() -> None:
    from bench.recipes.render import render_template

    with pytest.raises(BenchError, match="characters long"):
        render_template("run " + "{data} " * 100_000, {"data": "/d" * 1000})


def test_data_stats_plot_into_a_missing_folder_and_short_polygons(tmp_path: Path) -> None:
    from coco_cases import make_gt
    from writers import write_json

    gt = make_gt([(10, 10), (40, 40)])
    path = write_json(tmp_path / "gt.json", gt)
    plot = tmp_path / "new" / "dir" / "a.png"
    code, _, err = invoke(app, ["data", "stats", str(path), "--plot", str(plot)])
    assert code == 0 and plot.read_bytes().startswith(b"\x89PNG"), err
    gt["annotations"][0]["segmentation"] = [[1, 2, 3, 4]]
    write_json(path, gt)
    one_error_line(["data", "stats", path], "segmentation polygon 0", "at least three points")
