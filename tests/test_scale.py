"""Scale is a count (fast tier): `bench run NAME --scale` plans one run per device count (GPUs, or CPU
processes on a CPU run) and refuses what it cannot run before anything starts; the results' scaling view
computes img/s per device and the efficiency against the smallest count from the records alone (expected
values worked out here by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.paths import recipes_dir
from bench.pipeline.run import RunOptions
from bench.pipeline.scale import parse_counts, scale_plans
from bench.recipes.loader import find_recipe
from bench.report.scaling_section import render_scaling_section
from bench.vocabulary import MLPERF_FAMILY, RunStatus
from table_records import make_record


def test_counts_are_distinct_positive_integers() -> None:
    assert parse_counts("1,2,4,8") == [1, 2, 4, 8]
    for bad in ("0,1", "1,1", "1,x", ""):
        with pytest.raises(BenchError, match="--scale"):
            parse_counts(bad)


def test_a_cpu_preset_scales_processes_and_a_gpu_preset_gpus() -> None:
    recipe = find_recipe("builtin")
    path = recipes_dir() / "builtin.toml"
    cpu = scale_plans(recipe, path, RunOptions(preset="smoke"), [1, 2, 4], check=False)
    assert [(p.gpus, p.procs, p.world_size, p.images_per_iter) for p in cpu] == [(0, 1, 1, 2), (0, 2, 2, 4),
                                                                                  (0, 4, 4, 8)]
    groups = {p.options.scale_group for p in cpu}
    assert len(groups) == 1 and None not in groups
    assert len({p.options.repeat_group for p in cpu}) == 3
    gpu = scale_plans(recipe, path, RunOptions(preset="full"), [1, 8], check=False)
    assert [(p.gpus, p.world_size, p.images_per_iter) for p in gpu] == [(1, 1, 2), (8, 8, 16)]


def test_a_count_the_recipe_cannot_honour_stops_before_any_run() -> None:
    with pytest.raises(BenchError, match=r"^torchvision \(preset smoke\): --procs 2"):
        scale_plans(find_recipe("torchvision"), recipes_dir() / "torchvision.toml",
                    RunOptions(preset="smoke"), [1, 2], check=False)
    with pytest.raises(BenchError, match="leave out --gpus N and --procs"):
        scale_plans(find_recipe("builtin"), recipes_dir() / "builtin.toml",
                    RunOptions(preset="smoke", procs=2), [1, 2], check=False)


def scaled(tmp: Path, run_id: str, img_s: float | None, devices: int, group: str, **more):
    record = make_record(tmp, run_id, "builtin", img_s, created="2026-12-07T00:00:00Z", gpus=0,
                         gpu_model=None, preset="smoke", environment={"cpu": {"model": "Xeon", "logical": 2}},
                         status=RunStatus.OK if img_s else RunStatus.FAILED)
    return record.model_copy(update={"extra": {"scale": {"group": group, "world_size": devices}},
                                     "images_per_iter": 2 * devices, **more})


def mlperf(tmp: Path, run_id: str, img_s: float, gpus: int, nodes: int):
    record = make_record(tmp, run_id, "mlperf-x", img_s, created="2026-12-07T00:00:00Z", gpus=gpus,
                         gpu_model="A100", family=MLPERF_FAMILY, protocol=None)
    return record.model_copy(update={"nodes": nodes, "extra": {"mlperf": {"version": "1.1"}},
                                     "environment": {"submitter": "S", "framework": "PyTorch"}})


def test_the_scaling_view_divides_per_device_rates(tmp_path: Path) -> None:
    # 1 device: 1.0 img/s; 2: median of 1.5 and 1.7 = 1.6 (0.8 per device); 4: 2.4 (0.6 per device)
    records = [scaled(tmp_path, "a1", 1.0, 1, "g"), scaled(tmp_path, "a2", 1.5, 2, "g"),
               scaled(tmp_path, "a3", 1.7, 2, "g"), scaled(tmp_path, "a4", 2.4, 4, "g"),
               scaled(tmp_path, "a5", None, 4, "g"),  # a failed run: counted in n, not in the median
               mlperf(tmp_path, "m1", 640.0, 8, 1), mlperf(tmp_path, "m2", 2048.0, 32, 4),
               mlperf(tmp_path, "m3", 9000.0, 64, 8).model_copy(update={"gpu_model": "H100"})]  # alone
    text = "\n".join(render_scaling_section(records))
    rows = [line for line in text.splitlines() if line.startswith("|") and "---" not in line]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    measured = [c for c in cells if c[2] in ("1", "2", "4") and c[0] != "Implementation"]
    assert [(c[2], c[5], c[6], c[7], c[8]) for c in measured] == [
        ("1", "1.00", "1.00", "1.00 (vs 1)", "1/1"), ("2", "1.60", "0.800", "0.80 (vs 1)", "2/2"),
        ("4", "2.40", "0.600", "0.60 (vs 1)", "1/2")]
    assert measured[0][0] == "builtin, preset smoke" and measured[0][1].startswith("CPU process (Xeon, 2")
    # MLPerf: 80 img/s per accelerator at 8, 64 at 32: 0.80 against the smallest system; H100 alone: no curve
    systems = [c for c in cells if c[2] in ("8", "32", "64")]
    assert [(c[2], c[3], c[6], c[7]) for c in systems] == [("8", "1", "80.0", "1.00 (vs 8)"),
                                                           ("32", "4", "64.0", "0.80 (vs 8)")]
    assert render_scaling_section(records[:1]) == []  # one count: nothing to show
