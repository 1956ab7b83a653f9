"""Telemetry beside a run (bench.telemetry, bench.measure.telemetry, bench.measure.diagnosis): a real sampler
process beside a real stand-in trainer whose CPU time the test knows; the series' bounds; window summaries and
diagnoses from series whose truth is known; the sampler never outliving a run is checked with every ending in
test_containment.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench_roots import BenchEnv
from bench_runs import run_in_process
from writers import write_standin_recipe

LOOPS = 150_000  # the stand-in's CPU work per iteration (~10 ms of one core), in it and in each worker


def known_cpu_percent(cpu_file: Path, t0: float, t1: float) -> float:
    """The stand-in's own CPU use over [t0, t1] (100 = one core), from the CPU seconds it wrote after each
    iteration (it and its reaped workers, os.times()), interpolated at the window's ends."""
    points = [tuple(map(float, line.split())) for line in cpu_file.read_text().splitlines()]

    def at(t: float) -> float:
        for (ta, ca), (tb, cb) in zip(points, points[1:]):
            if ta <= t <= tb:
                return ca + (cb - ca) * (t - ta) / (tb - ta)
        raise AssertionError(f"the stand-in wrote no CPU time around {t}")
    return 100 * (at(t1) - at(t0)) / (t1 - t0)


def test_a_cpu_bound_trainer_that_forks_workers_shows_the_cpu_it_used(tmp_path, bench_env: BenchEnv) -> None:
    """Done when: the record's host CPU is within 15 points of the stand-in's own CPU time (it and one worker
    forked and reaped every iteration, so most of it is in processes that ended between two samples), from a
    series of 10 samples a second or more; and without a GPU, no GPU number at all."""
    cpu_file = tmp_path / "cpu.txt"
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 140),
                                  args=f"--busy {LOOPS} --workers 1 --cpu-file {cpu_file}")
    run_dir, record = run_in_process(bench_env, recipe)
    assert record["status"] == "ok", record["reason"]
    telemetry = record["telemetry"]
    window = telemetry["window"]
    assert window is not None, telemetry["window_missing"]
    assert (window["t0"], window["t1"]) == pytest.approx(
        (window["t0"], window["t0"] + record["harness_clock"]["seconds"]), abs=1e-6)
    expected = known_cpu_percent(cpu_file, window["t0"], window["t1"])
    assert expected > 10, "the stand-in did not work: nothing to measure"
    assert window["host"]["cpu_percent_mean"] == pytest.approx(expected, abs=15)
    assert window["host"]["rss_mb_max"] > 5
    sampler = telemetry["sampler"]
    assert sampler["rate"] >= 10 and sampler["samples"] >= 10 * window["seconds"] - 1
    assert sampler["sources"] == ["psutil"] and sampler["series"] == ["telemetry.csv"]
    # no GPU: why, and no GPU number anywhere
    assert "GPU" in telemetry["gpu_unavailable"] or "NVML" in telemetry["gpu_unavailable"]
    assert window["gpus"] == [] and window["energy_j"] is None and window["images_per_joule"] is None
    header = (run_dir / "telemetry.csv").read_text().splitlines()[0].split(",")
    assert not [name for name in header if name.startswith("gpu")]
    meta = json.loads((run_dir / "telemetry.meta.json").read_text())
    assert meta["ended"] is not None and meta["rows"] == meta["samples"] <= meta["max_rows"]


def test_the_series_keeps_every_sample_then_thins_then_stops_at_its_cap(tmp_path) -> None:
    from bench.telemetry.series import SeriesWriter, read_series, write_meta

    writer = SeriesWriter(tmp_path / "s.csv", ["t", "cpu_s"], full_rows=4, max_rows=10)
    kept = [t for t in range(40) if writer.offer({"t": float(t), "cpu_s": t / 2})]
    writer.close()
    # 4 rows of every sample, 4 of every 2nd, then every 4th until 10 rows: t = 0-3, 4 6 8 10, 12 16
    assert kept == [0, 1, 2, 3, 4, 6, 8, 10, 12, 16]
    bounds = writer.bounds()
    assert bounds["capped_at"] == 17.0 and bounds["levels"] == [[0.0, 1], [3.0, 2], [10.0, 4]]
    assert bounds["samples"] == 40 and bounds["rows"] == 10
    write_meta(tmp_path / "s.meta.json", {"format": "bench-telemetry", **writer.bounds()})
    with open(tmp_path / "s.csv", "a") as handle:
        handle.write("99,4")  # a row cut short by a kill: skipped
    series = read_series(tmp_path / "s.csv", tmp_path / "s.meta.json")
    assert series.columns["t"] == [float(t) for t in kept]
