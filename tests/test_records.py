"""Run records: `bench parse --record` (imported logs), the schema, and the atomic store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bench.vocabulary import RunStatus
from bench import files
from bench.records.schema import RunRecord
from bench.errors import BenchError
from bench.records.store import load_record, save_record
from bench.report.generate import build
from bench_roots import BenchEnv
from table_records import PUBLISHED_SOURCE, make_record
from writers import write_torchvision_log


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True)


def step_time(i: int) -> float:
    return 0.25 if i < 300 else 0.35


@pytest.fixture
def tv_log(tmp_path: Path) -> Path:
    log = tmp_path / "source" / "train.log"
    log.parent.mkdir()
    write_torchvision_log(log, step_time, iterations=560)
    os.utime(log, (1_600_000_000, 1_600_000_000))
    return log


def test_parse_record_writes_a_valid_record_and_leaves_the_log_alone(tv_log: Path, tmp_path: Path) -> None:
    before = tv_log.read_bytes(), tv_log.stat().st_mtime
    run_dir = tmp_path / "results" / "runs" / "imported-tv"
    out = bench("parse", str(tv_log), "--format", "torchvision", "--record", str(run_dir), "--gpus", "8",
                "--gpu-model", "Tesla V100-SXM2-16GB", "--name", "my-torchvision", "--json")
    assert out.returncode == 0, out.stderr
    assert (tv_log.read_bytes(), tv_log.stat().st_mtime) == before  # the source is only read
    assert (run_dir / "train.log").read_bytes() == before[0]  # the copy is byte for byte
    record = load_record(run_dir)
    expected = 6400 / sum(step_time(i) for i in range(101, 501))  # iterations 102..501, see test_window_core
    assert record.status is RunStatus.OK and record.origin == "imported"
    assert abs(record.throughput_img_s - expected) / expected < 1e-3
    assert record.throughput_img_s == json.loads(out.stdout)["throughput_img_s"]
    assert record.framework_timing.window == [101, 501] and record.window_requested == [100, 500]
    assert record.run_id == "imported-tv" and record.implementation == "my-torchvision"
    assert (record.gpus, record.gpu_model, record.images_per_iter) == (8, "Tesla V100-SXM2-16GB", 16)
    assert record.log_format == "torchvision" and record.last_iteration == 541
    assert record.log_files == {"log": "train.log"} and record.log_tail == []
    assert record.extra["imported"]["log_sha256"] and record.comparable and record.preset is None
    # the series: mean seconds per iteration of each printed 20-iteration interval
    series = dict((int(i), s) for i, s in record.series)
    assert series[121] == pytest.approx(0.25) and series[341] == pytest.approx(0.35)
    assert len(record.series) == 28


def test_imported_record_lands_in_the_table(tv_log: Path, tmp_path: Path, bench_env: BenchEnv) -> None:
    bench_env.use_recipes()
    runs = tmp_path / "results" / "runs"
    assert bench("parse", str(tv_log), "-f", "torchvision", "--record", str(runs / "a"), "--gpus", "8",
                 "--gpu-model", "V100").returncode == 0
    text = build(runs, tmp_path / "results" / "README.md", recipes=[], with_images=False).pages[
        tmp_path / "results" / "all-runs.md"]
    # an imported log does not say what data it trained on: listed, never ranked
    part = text[text.index("## Not comparable"):]
    assert "dataset not recorded" in part and "runs/a/record.json" in part and "plots/a.png" in part
    assert "## Protocol version not recorded" not in text


def test_name_of_a_recipe_fills_framework_reference_and_gpus(tv_log: Path, tmp_path: Path,
                                                             published_recipes: Path) -> None:
    run_dir = tmp_path / "runs" / "d2"
    out = bench("parse", str(tv_log), "-f", "torchvision", "--record", str(run_dir), "--name", "detectron2")
    assert out.returncode == 0, out.stderr
    record = load_record(run_dir)
    assert record.framework == "detectron2 1.0" and record.title == "Detectron2" and record.gpus == 8
    assert record.reference == {"img_s": 62.0, "gpus": 8, "gpu_model": "V100", "source": PUBLISHED_SOURCE}
    assert record.provenance.recipe == "detectron2" and record.provenance.commit == "b" * 40
    assert len(record.provenance.recipe_sha256) == 64


def test_without_gpus_it_is_a_usage_error(tv_log: Path, tmp_path: Path) -> None:
    out = bench("parse", str(tv_log), "-f", "torchvision", "--record", str(tmp_path / "r"))
    assert out.returncode == 2 and "--gpus" in out.stderr
    assert not (tmp_path / "r" / "record.json").exists()


def test_incomplete_log_still_records_with_its_tail(tmp_path: Path) -> None:
    log = tmp_path / "short.log"
    write_torchvision_log(log, lambda i: 0.3, iterations=330)
    out = bench("parse", str(log), "-f", "torchvision", "--record", str(tmp_path / "r"), "--gpus", "2",
                "--preset", "smoke")
    assert out.returncode == 1
    record = load_record(tmp_path / "r")
    assert record.status is RunStatus.INCOMPLETE and record.throughput_img_s is None
    assert "321" in record.reason and record.last_iteration == 321
    assert record.log_tail and record.log_tail[-1].startswith("Epoch: [0]  [ 320/")
    assert record.framework_timing.window is None and record.series
    assert record.preset == "smoke" and not record.comparable


def test_reimport_replaces_an_imported_record_but_never_a_measured_run(tv_log: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    args = ["parse", str(tv_log), "-f", "torchvision", "--record", str(run_dir), "--gpus", "8"]
    assert bench(*args).returncode == 0
    assert bench(*args).returncode == 0  # importing again is fine
    measured = load_record(run_dir).model_copy(update={"origin": "run"})
    save_record(measured, run_dir)
    out = bench(*args)
    assert out.returncode == 2 and "measured run" in out.stderr
    assert load_record(run_dir).origin == "run"


def test_log_inside_the_run_directory_is_not_copied_onto_itself(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    log = run_dir / "train.log"
    write_torchvision_log(log, lambda i: 0.5, iterations=520)
    data = log.read_bytes()
    assert bench("parse", str(log), "-f", "torchvision", "--record", str(run_dir),
                 "--gpus", "8").returncode == 0
    assert log.read_bytes() == data and load_record(run_dir).log_files == {"log": "train.log"}


def test_schema_round_trip_and_extra_fields_refused(tmp_path: Path) -> None:
    record = make_record(tmp_path, "r1", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    assert load_record(tmp_path / "r1") == record
    data = json.loads((tmp_path / "r1" / "record.json").read_text())
    assert data["schema_version"] == 3 and data["origin"] == "run" and data["gpu_model"]
    with pytest.raises(ValidationError):
        RunRecord.model_validate({**data, "unknown_field": 1})


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_keeps_the_old_record_when_serialisation_fails(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    old = make_record(tmp_path, "r1", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    old_text = (tmp_path / "r1" / "record.json").read_text()
    new = old.model_copy(update={"framework": "changed"})

    def broken_dump(self, **kwargs):
        raise RuntimeError("serialisation failed")

    monkeypatch.setattr(RunRecord, "model_dump_json", broken_dump)
    with pytest.raises(RuntimeError):
        save_record(new, tmp_path / "r1")
    assert (tmp_path / "r1" / "record.json").read_text() == old_text


def test_atomic_write_keeps_the_old_record_when_writing_fails(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after half the bytes are on disk: the target still holds the old record, no temp file
    stays."""
    old = make_record(tmp_path, "r1", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    old_text = (tmp_path / "r1" / "record.json").read_text()
    new = old.model_copy(update={"framework": "changed"})

    def crash_before_rename(handle_fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(files.os, "fsync", crash_before_rename)
    with pytest.raises(BenchError, match="disk gone; nothing was changed"):
        save_record(new, tmp_path / "r1")
    assert (tmp_path / "r1" / "record.json").read_text() == old_text
    assert load_record(tmp_path / "r1") == old
    assert _leftovers(tmp_path / "r1") == []
