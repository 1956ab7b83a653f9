"""The slow tier: `bench run NAME --preset smoke` on the real frameworks, end to end, on CPU.

Selected by `pytest -m slow` (the default addopts deselect it); CI's .ci/run runs it after the fast tier.

- mmdetection-current needs only the package index: the first run builds its environment (torch 2.9.1
  download, mmcv 2.1.0 compiled with its ops, mmengine, mmdet 3.3.0) under BENCH_CACHE, which takes most of
  the time.
- detectron2-current needs its source: set BENCH_DETECTRON2_SOURCE to a clone or mirror of
  facebookresearch/detectron2 that has the pinned commit; without it the test is skipped.

Each asserts what a GPU run would: status ok, the framework's own throughput and the harness clock's within
5 %, the record labelled smoke and not comparable, with the environment's package versions and a table row.
Then the same preset in two CPU processes (`--procs 2`, through the framework's own launcher with gloo, a
short window): world size 2 and 4 images per iteration, read from the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 80 * 60  # a first run compiles mmcv (about 10-25 minutes on 2 cores) or detectron2


def run_smoke(tmp_path: Path, name: str, *extra: str) -> dict:
    results = tmp_path / "results"
    env = {**os.environ, "BENCH_RESULTS": str(results)}
    done = subprocess.run([sys.executable, "-m", "bench.cli", "run", name, "--preset", "smoke",
                           "--no-progress", "--timeout", "1800", *extra], capture_output=True, text=True,
                          env=env, timeout=BUILD_TIMEOUT)
    print(done.stdout)
    print(done.stderr[-6000:], file=sys.stderr)
    records = sorted(results.glob("runs/*/record.json"))
    assert records, f"no record written (exit status {done.returncode}): {done.stderr[-2000:]}"
    record = json.loads(records[-1].read_text())
    assert done.returncode == 0, f"{record['status']}: {record.get('reason')}"
    table = subprocess.run([sys.executable, "-m", "bench.cli", "table"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert table.returncode == 0, table.stderr
    # every row is on the all-runs page (the results README leads with suite rankings only)
    record["_table"] = ((results / "all-runs.md").read_text() if (results / "all-runs.md").is_file()
                        else table.stdout)
    return record


def check_smoke_record(record: dict, name: str, packages: tuple[str, ...]) -> None:
    assert record["status"] == "ok", record.get("reason")
    assert record["implementation"] == name and record["preset"] == "smoke" and record["comparable"] is False
    assert record["gpus"] == 0 and record["images_per_iter"] == 2
    framework = record["framework_timing"]["throughput_img_s"]
    harness = record["harness_clock"]["throughput_img_s"]
    assert framework > 0 and harness > 0
    assert abs(framework - harness) / harness <= 0.05, (framework, harness)
    assert record["extra"]["harness"]["stop_reason"] == "window"  # stopped by bench after the window
    installed = record["environment"].get("packages", {})
    for package in packages:
        assert package in {k.lower() for k in installed}, sorted(installed)
    assert name in record["_table"]


def test_mmdetection_current_smoke(tmp_path):
    record = run_smoke(tmp_path, "mmdetection-current")
    check_smoke_record(record, "mmdetection-current", ("torch", "mmcv", "mmengine", "mmdet"))
    packages = {k.lower(): v for k, v in record["environment"]["packages"].items()}
    assert packages["mmdet"] == "3.3.0" and packages["mmcv"] == "2.1.0" \
        and packages["torch"].startswith("2.9.1")


@pytest.mark.skipif(not os.environ.get("BENCH_DETECTRON2_SOURCE"),
                    reason="detectron2-current needs its source: set BENCH_DETECTRON2_SOURCE to a clone or "
                           "mirror of facebookresearch/detectron2 that has the pinned commit")
def test_detectron2_current_smoke(tmp_path):
    record = run_smoke(tmp_path, "detectron2-current", "--source", os.environ["BENCH_DETECTRON2_SOURCE"])
    check_smoke_record(record, "detectron2-current", ("torch", "detectron2"))


def check_two_processes(record: dict) -> None:
    """What the trainer printed about itself: 2 processes of 2 images (the planned batch agrees, or the run
    would have stopped with batch_mismatch)."""
    assert record["status"] == "ok", record.get("reason")
    assert record["images_per_iter"] == 4 and record["images_per_iter_source"].startswith("log line ")
    scale = record["extra"]["scale"]
    assert scale["device"] == "cpu" and scale["processes_per_node"] == 2
    assert scale["world_size"] == 2 and scale["world_size_in_log"] == 2


def test_mmdetection_current_two_cpu_processes(tmp_path):
    # one progress line per iteration: a 5-iteration window, stopped after iteration ~12
    record = run_smoke(tmp_path, "mmdetection-current", "--procs", "2", "--window", "5:10")
    check_two_processes(record)


@pytest.mark.skipif(not os.environ.get("BENCH_DETECTRON2_SOURCE"),
                    reason="detectron2-current needs its source: set BENCH_DETECTRON2_SOURCE")
def test_detectron2_current_two_cpu_processes(tmp_path):
    # detectron2 prints every 20 iterations, its times a running mean from iteration 3: the window 2:20
    record = run_smoke(tmp_path, "detectron2-current", "--procs", "2", "--window", "2:20", "--source",
                       os.environ["BENCH_DETECTRON2_SOURCE"])
    check_two_processes(record)
    log = (tmp_path / "results" / "runs" / record["run_id"] / "stdout.log").read_text()
    assert "World size: 2" in log and "device_ids=None" in log  # bench's CPU DDP note, printed once
