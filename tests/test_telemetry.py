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
    assert 0 < sampler["own_cpu_percent"] < 25  # what sampling cost, its interpreter's start-up included
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


# -- window summaries and diagnoses from a series whose truth is known ---------------------------------------
def write_gpu_series(directory: Path, node: str | None = None, shift: float = 0.0) -> None:
    """Two GPUs sampled every 0.1 s over t = 100..110 (harness clock + `shift`): GPU 0 draws 200 and 300 W in
    turn and its counter rises 250 J/s; GPU 1's counter rises 100 J/s. The SM clock of GPU 0 drops to 1200 MHz
    with the software power cap set in every 10th sample; a foreign process appears once at t = 104; the
    trainer's tree uses 1.5 CPU s/s and the machine 1.95 busy s/s."""
    from bench.telemetry.series import SeriesWriter, columns_for, series_paths, write_meta

    series, meta = series_paths(directory, node)
    writer = SeriesWriter(series, columns_for([0, 1]))
    for k in range(101):
        t = 100 + k / 10
        capped = k % 10 == 5
        writer.offer({"t": t + shift, "wall": t + shift + 1000.0, "cpu_s": 1.5 * (t - 100), "rss_mb": 100 + k,
                      "machine_busy_s": 1.95 * (t - 100),
                      "gpu0_energy_j": 250 * (t - 100), "gpu0_power_w": 200 + 100 * (k % 2),
                      "gpu0_sm_mhz": 1200 if capped else 1410, "gpu0_temperature_c": 60 + k % 7,
                      "gpu0_utilization_percent": 50, "gpu0_reasons": 0x4 if capped else 0x0,
                      "gpu0_foreign_pids": "4242" if k == 40 else "",
                      "gpu1_energy_j": 100 * (t - 100), "gpu1_power_w": 100, "gpu1_sm_mhz": 1410,
                      "gpu1_utilization_percent": 70, "gpu1_reasons": 0x1})
    writer.close()
    write_meta(meta, {"format": "bench-telemetry", "node": node, "rate_hz": 10.0, "cpus": 2,
                      "wall_minus_monotonic": 1000.0, "sources": ["psutil", "nvml"], **writer.bounds(),
                      "gpus": [{"index": 0, "name": "H100", "uuid": "GPU-0", "energy": "counter",
                                "power": "instant"},
                               {"index": 1, "name": "H100", "uuid": "GPU-1", "energy": "counter",
                                "power": "average-1s"}]})


def test_window_summaries_are_aligned_to_the_window_ends(tmp_path) -> None:
    from bench.measure.telemetry import summarise
    from bench.telemetry.series import find_series

    write_gpu_series(tmp_path)
    telemetry = summarise(find_series(tmp_path), (102.05, 107.05), images=875)
    w = telemetry.window
    gpu0, gpu1 = w.gpus
    # counters read at the window's ends, between samples: 5 s x 250 J/s and 5 s x 100 J/s
    assert gpu0.energy_j == pytest.approx(1250) and gpu1.energy_j == pytest.approx(500)
    assert w.energy_j == pytest.approx(1750) and w.images_per_joule == pytest.approx(875 / 1750)
    # samples t = 102.1 .. 107.0 (50 of them, 25 at 200 W and 25 at 300 W)
    assert telemetry.sampler.samples == 50 and telemetry.sampler.rate == pytest.approx(10)
    assert gpu0.power_w_mean == pytest.approx(250) and gpu0.power_w_p95 == 300
    assert gpu0.sm_clock_mhz_median == 1410 and gpu0.sm_clock_mhz_min == 1200
    assert gpu0.throttle_reasons == ["sw_power_cap"] and gpu0.throttled_share == pytest.approx(5 / 50)
    assert gpu1.throttle_reasons == ["gpu_idle"] and gpu1.power_source == "average-1s"
    assert gpu0.foreign_pids == [4242] and gpu1.foreign_pids == []
    assert w.host.cpu_percent_mean == pytest.approx(150)
    assert w.host.other_cpu_percent_mean == pytest.approx(45)
    assert w.host.rss_mb_max == 100 + 70
    # GPU energy against mean power x window seconds (what the GPU session checks on real counters)
    assert gpu0.energy_j == pytest.approx(gpu0.power_w_mean * w.seconds, rel=0.05)


def test_a_nodes_series_is_laid_on_the_harness_clock_through_the_wall_clock(tmp_path) -> None:
    from bench.measure.telemetry import summarise
    from bench.telemetry.series import find_series

    # at one moment the node's monotonic clock reads 5000 s more than bench's, their wall clocks the same
    # (wall - monotonic: 1000 s on the node, 6000 s for bench)
    write_gpu_series(tmp_path, node="gpu-node-1", shift=5000.0)
    telemetry = summarise(find_series(tmp_path), (102.05, 107.05), images=875,
                          bench_wall_minus_monotonic=6000.0)
    assert telemetry.window.gpus[0].node == "gpu-node-1"
    assert telemetry.window.energy_j == pytest.approx(1750)


def test_diagnoses_from_a_known_series(tmp_path) -> None:
    from bench.measure.diagnosis import diagnose, host_busy, throttled
    from bench.measure.telemetry import GpuWindow, HostWindow, summarise
    from bench.telemetry.series import find_series

    write_gpu_series(tmp_path)
    telemetry = summarise(find_series(tmp_path), (102.05, 107.05), images=875)
    codes = {w.code.value: w for w in diagnose(telemetry, data_share=0.4)}
    assert set(codes) == {"input-bound", "gpu-throttled", "gpu-shared"}
    assert "60 %" in codes["input-bound"].message  # GPUs busy 50 % and 70 %
    assert "sw_power_cap in 10 % of samples" in codes["gpu-throttled"].message
    assert "pid 4242 on GPU 0" in codes["gpu-shared"].message
    assert "input-bound" not in {w.code.value for w in diagnose(telemetry, data_share=0.1)}
    # the power cap at a steady clock is a GPU at work; a thermal slowdown throttles whatever the clock did
    steady = GpuWindow(index=0, name="H100", throttle_reasons=["sw_power_cap"], sm_clock_low_share=0.0)
    assert throttled([steady]) is None
    assert throttled([steady.model_copy(update={"throttle_reasons": ["hw_thermal_slowdown"]})]) is not None
    # host busy: others take a quarter of the machine, or a saturated machine and a core of others
    assert host_busy(HostWindow(cpu_percent_mean=150, other_cpu_percent_mean=45, cpus=2)) is None
    assert host_busy(HostWindow(cpu_percent_mean=50, other_cpu_percent_mean=120, cpus=2)) is not None
    assert host_busy(HostWindow(cpu_percent_mean=700, other_cpu_percent_mean=120, cpus=8)) is not None
    assert host_busy(HostWindow(cpu_percent_mean=100, other_cpu_percent_mean=120, cpus=8)) is None


# -- reports ------------------------------------------------------------------------------------------------
def with_telemetry(record, img_per_joule: float | None, codes: tuple[str, ...] = ()):
    from bench.measure.telemetry import SamplerFacts, Telemetry, TelemetryWindow
    from bench.measure.warnings import warning

    window = TelemetryWindow(t0=0, t1=10, seconds=10, images=100, images_per_joule=img_per_joule,
                             energy_j=100 / img_per_joule if img_per_joule else None)
    return record.model_copy(update={"telemetry": Telemetry(window=window, sampler=SamplerFacts()),
                                     "warnings": [warning(code, "m", "r") for code in codes]})


def test_compare_says_which_diagnoses_differ_and_the_img_per_joule(tmp_path) -> None:
    from bench.report.compare import compare
    from table_records import make_record

    runs = tmp_path / "runs"
    base = [with_telemetry(make_record(runs, f"b{k}", "detectron2", 60 + k, created=f"2026-01-0{k + 1}"), 0.5)
            for k in range(3)]
    new = [with_telemetry(make_record(runs, f"n{k}", "detectron2", 50 + k, created=f"2026-01-0{k + 1}"), 0.4,
                          ("input-bound",) if k else ()) for k in range(3)]
    result = compare(base, new, 0.05, "base", "new")
    assert result.diagnostics == ["input-bound: new only (2 of 3 run(s))", "img/J 0.500 -> 0.400 (-20.0%)"]
    assert "hardware: input-bound: new only" in result.describe()
    plain = [make_record(runs, f"p{k}", "detectron2", 60 + k, created="2026-01-01") for k in range(3)]
    assert compare(plain, plain, 0.05).diagnostics == []  # records without telemetry: nothing added


def test_the_table_shows_img_per_joule_only_where_every_row_has_it(tmp_path) -> None:
    from table_records import make_record, runs_page

    runs = tmp_path / "runs"
    d2 = with_telemetry(make_record(runs, "r1", "detectron2", 60, created="2026-01-01"), 0.25)
    mm = with_telemetry(make_record(runs, "r2", "mmdetection", 50, created="2026-01-01"), 0.2)
    both = runs_page([(runs / "r1", d2), (runs / "r2", mm)], [], tmp_path)
    header = next(line for line in both.splitlines() if line.startswith("| Implementation"))
    assert [c.strip() for c in header.split("|")][2:4] == ["img/s", "img/J"]
    assert "|   0.250 |" in both and "|   0.200 |" in both
    one = runs_page([(runs / "r1", d2), (runs / "r2", mm.model_copy(update={"telemetry": None}))], [],
                    tmp_path)
    assert "img/J" not in one


def test_the_run_page_plots_throughput_power_clock_and_utilisation_on_one_axis(tmp_path) -> None:
    from bench.measure.telemetry import summarise
    from bench.report.html import run_html
    from bench.telemetry.series import find_series
    from table_records import make_record

    record = make_record(tmp_path / "runs", "r1", "detectron2", 60, created="2026-01-01",
                         series=[[float(i), 0.25] for i in range(80, 540, 20)])
    write_gpu_series(tmp_path / "runs" / "r1")
    telemetry = summarise(find_series(tmp_path / "runs" / "r1"), (102.05, 107.05), images=875)
    page = run_html(tmp_path / "runs" / "r1", record.model_copy(update={"telemetry": telemetry}), {})
    assert "<h2>Telemetry</h2>" in page and "0.500 img/J" in page
    svg = page[page.index('aria-label="telemetry"'):]
    svg = svg[:svg.index("</svg>")]
    for title in ("img/s (framework times)", "power, W", "SM clock, MHz", "GPU utilisation, %"):
        assert title in svg
    assert svg.count("<polyline") == 1 + 3 * 2  # throughput, then each panel's two GPUs
    assert "Telemetry" not in run_html(tmp_path / "runs" / "r1", record, {})  # a record without: unchanged
