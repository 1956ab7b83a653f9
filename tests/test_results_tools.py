"""`bench export`, `bench history`, `bench baseline save`, `bench compare` and `bench run --json` on records
built here from chosen numbers (and, for the export, on the committed records)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from bench.cli import cli
from bench.measure.stats import mann_whitney_less
from bench_roots import BenchEnv
from table_records import COMMITTED_RUNS, V100, make_record

BASE = [100.0, 101.0, 99.0, 100.5, 99.5]  # a repeat group of five


def bench(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def group(runs: Path, prefix: str, values: list[float], **facts) -> Path:
    for k, value in enumerate(values):
        make_record(runs / prefix, f"{prefix}{k}", "detectron2", value,
                    created=f"2026-01-0{k + 1}T00:00:00+00:00", repeat_group=prefix, **facts)
    return runs / prefix


def test_a_ten_percent_slower_group_fails_the_gate_and_one_percent_noise_does_not(tmp_path: Path) -> None:
    base = group(tmp_path, "base", BASE)
    slower = group(tmp_path, "slower", [v * 0.90 for v in BASE])
    noise = group(tmp_path, "noise", [v * 0.99 for v in BASE])
    code, out = bench("compare", str(base), str(slower), "--threshold", "5%")
    assert code == 1 and "REGRESSION" in out and "-10.0%" in out and "5 vs 5 runs" in out
    # every slower value ranks below every baseline value: exact one-sided p = 1 / C(10, 5)
    assert f"p = {1 / 252:.3g}" in out
    code, out = bench("compare", str(base), str(noise), "--threshold", "5%", "--json")
    result = json.loads(out)
    assert code == 0 and result["regression"] is False and result["change"] == pytest.approx(-0.01)
    low, high = result["interval"]
    assert low <= -0.01 <= high


def test_one_run_each_compares_the_intervals_inside_the_windows_and_says_so(tmp_path: Path) -> None:
    def series(seconds: float) -> list[list[float]]:  # 20 intervals inside the window 100:500, 2 outside
        return [[float(i), seconds + 0.001 * (i % 3)] for i in range(20, 520, 20)]
    make_record(tmp_path, "a", "detectron2", 64.0, created="2026-01-01T00:00:00+00:00", series=series(0.25))
    make_record(tmp_path, "b", "detectron2", 56.0, created="2026-01-02T00:00:00+00:00", series=series(0.2857))
    code, out = bench("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 1 and "per-interval samples inside the windows (20 vs 20; one run each)" in out
    assert "-12.5%" in out and "not independent runs" in out  # 56 / 64 - 1, from the exact window throughputs


def test_mann_whitney_exact_and_tied_against_hand_counts() -> None:
    # new = [1, 2], base = [3, 4]: U = 0, one ordering of C(4, 2) = 6 is this extreme
    assert mann_whitney_less([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1 / 6)
    assert mann_whitney_less([3.0, 4.0], [1.0, 2.0]) == pytest.approx(1.0)
    # ties, few runs: every split of the pooled [1, 1, 1, 1, 2, 2] counted with midranks (2.5 and 5.5). NEW
    # takes k of the two 2s: k = 0 in 4 splits (U = 1.5), k = 1 in 12 (U = 4.5, as observed), k = 2 in 4
    # (U = 7.5)
    assert mann_whitney_less([1.0, 1.0, 2.0], [1.0, 1.0, 2.0]) == pytest.approx(16 / 20)
    # beyond the exact counts: the tie-corrected normal approximation
    large = [float(v % 7) for v in range(30)]
    assert 0.4 < mann_whitney_less(large, large) < 0.6


def test_baseline_save_then_compare_and_bad_input(tmp_path: Path, bench_env: BenchEnv) -> None:
    runs = bench_env.runs
    for k, value in enumerate(BASE):
        make_record(runs, f"g{k}", "detectron2", value, created=f"2026-01-0{k + 1}T00:00:00+00:00",
                    repeat_group="g")
    make_record(runs, "h100", "detectron2", 300.0, created="2026-01-09T00:00:00+00:00", gpu_model="H100")
    code, out = bench("baseline", "save", "detectron2", "--hardware", "V100")
    saved = bench_env.results / "baselines" / "detectron2.json"
    assert code == 0 and saved.is_file() and "5 record(s)" in out
    assert json.loads(saved.read_text())["hardware"] == f"8 × {V100}"
    assert bench("compare", str(saved), str(runs / "g4"))[0] == 0
    result = CliRunner().invoke(cli, ["baseline", "save", "detectron2"])
    assert result.exit_code != 0 and "choose one with --hardware" in str(result.exception)
    (tmp_path / "bad.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "bad.json"), str(saved)])
    assert "bad.json: not a JSON record or baseline" in str(result.exception)
    result = CliRunner().invoke(cli, ["compare", str(saved), str(saved), "--threshold", "x%"])
    assert "--threshold 'x%'" in str(result.exception)


def test_history_lists_every_record_and_plots(tmp_path: Path, bench_env: BenchEnv) -> None:
    runs = bench_env.runs
    make_record(runs, "old", "detectron2", 55.0, created="2026-01-01T00:00:00+00:00")
    make_record(runs, "new", "detectron2", 61.25, created="2026-02-01T00:00:00+00:00")
    make_record(runs, "other", "detectron2", 40.0, created="2026-01-15T00:00:00+00:00", gpu_model="H100")
    code, out = bench("history", "detectron2", "--hardware", "v100")
    lines = out.splitlines()
    assert (code == 0 and [line.split()[1] for line in lines[:2]] == ["old", "new"]
            and "61.2 img/s" in lines[1])
    assert "other" not in out
    assert (tmp_path / "results" / "history" / "detectron2.png").read_bytes().startswith(b"\x89PNG")


def test_export_json_matches_its_schema_and_csv_has_one_row_per_record(tmp_path: Path) -> None:
    code, out = bench("export", "--format", "json", "--runs", str(COMMITTED_RUNS))
    data = json.loads(out)
    from bench.report.export import schema

    jsonschema.validate(data, schema())
    assert (code == 0 and data["version"] == 1
            and len(data["rows"]) == len(list(COMMITTED_RUNS.glob("*/record.json"))))
    row = next(r for r in data["rows"] if r["run_id"] == "20261123T031500-783714-mmdetection-current")
    committed = json.loads((COMMITTED_RUNS / row["run_id"] / "record.json").read_text())
    assert row["img_s"] == committed["framework_timing"]["throughput_img_s"]
    assert row["hardware"] == "CPU only: AMD EPYC, 2 cores" and row["deviations"] == committed["deviations"]
    assert bench("export", "--format", "csv", "--runs", str(COMMITTED_RUNS), "--out",
                 str(tmp_path / "x.csv"))[0] == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "x.csv").read_text())))
    assert len(rows) == len(data["rows"]) and list(rows[0]) == list(data["rows"][0])
    result = CliRunner().invoke(cli, ["export", "--format", "xml"])
    assert "--format 'xml'" in str(result.exception)


def test_run_json_prints_one_object_per_run(tmp_path: Path, bench_env: BenchEnv) -> None:
    from bench_runs import bench_run, load_record, run_dirs
    from writers import write_standin_recipe

    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 40))
    done = bench_run(bench_env, recipe, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    record = load_record(run_dirs(bench_env)[0])
    assert summary["run_id"] == record["run_id"]
    assert summary["img_s"] == record["framework_timing"]["throughput_img_s"]
