"""MLPerf Training logs: both event generations, tracked_stats and trainer lines, multi-node, TPU-style logs
without steps; `bench import mlperf` and the table section. Every log is written here from the documented
formats with per-iteration times chosen by the test; expected values are computed from those times, not by
bench."""

from __future__ import annotations

import json
import time
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import cli
from bench.logs.detect import detect_format
from bench.records.builder import measured_segment, quality_warnings
from bench.records.mlperf import measure_run, parse_log
from bench.records.store import load_records
from bench.report.mlperf_section import generation, system_rows
from bench.report.rows import select_rows
from parser_cases import mllog
from table_records import rendered_pages

START_S = 1_684_011_440.0  # run_start of the synthetic runs, epoch seconds
COMMIT = "63e326c400f5d8bb8c6070a9ab08332d4931152e"


def step_times(total: int) -> list[float]:
    """Seconds of iterations 1..total: slow warm-up, then two steady phases (chosen, not measured)."""
    return [0.5 if i <= 100 else 0.25 if i <= 300 else 0.2 for i in range(1, total + 1)]


def expected_window(times: list[float], images: int, a: int = 100, b: int = 500) -> float:
    return (b - a) * images / sum(times[a:b])


def mll(key: str, value, t_s: float, **metadata) -> str:
    return f":::MLL {t_s:.3f} {key}: " + json.dumps({"value": value,
                                                      "metadata": {"file": "t.py", **metadata}})


def tracked_stats_log(batch: int, times: list[float], prefixes: tuple[str, ...] = ("",),
                      clock_scale: float = 1.0) -> str:
    """v0.7+ events; tracked_stats every 50 steps: value.time is the running mean since the start,
    value.throughput the images per batch over it (a mean since the start, deliberately not a window value).
    `prefixes` repeats each line as printed by several ranks (`srun --label`); `clock_scale` stretches the
    event timestamps only."""
    lines = [mllog("submission_org", "Testorg", START_S - 60),
             mllog("submission_division", "closed", START_S - 60),
             mllog("submission_status", "onprem", START_S - 60),
             mllog("global_batch_size", batch, START_S - 30), mllog("run_start", None, START_S)]
    elapsed = 0.0
    for step, seconds in enumerate(times, 1):
        elapsed += seconds
        if step % 50 == 0:
            mean = elapsed / step
            lines.append(mllog("tracked_stats", {"time": mean, "data": 0.001, "loss": 1.0,
                                                 "throughput": batch / mean}, START_S + clock_scale * elapsed,
                               step=step))
    lines.append(mllog("run_stop", None, START_S + elapsed + 1, status="success"))
    return "".join(f"{prefix}{line}\n" for line in lines for prefix in prefixes)


def asctime(t_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t_s)) + f",{int(round(t_s * 1000)) % 1000:03d}"


def v06_log(batch: int, times: list[float]) -> str:
    """v0.6 `:::MLL` events and maskrcnn-benchmark trainer lines every 20 iterations (asctime stamp, median
    and running mean of `time`), with the config dump's DTYPE line."""
    lines = [mll("submission_org", "NVIDIA", START_S - 60), mll("global_batch_size", batch, START_S - 30),
             "  DTYPE: float16", mll("run_start", None, START_S),
             asctime(START_S) + " maskrcnn_benchmark.trainer INFO: Start training"]
    elapsed = 0.0
    for it, seconds in enumerate(times, 1):
        elapsed += seconds
        if it % 20 == 0:
            lines.append(f"{asctime(START_S + elapsed)} maskrcnn_benchmark.trainer INFO: eta: 1:00:00  "
                         f"iter: {it}  loss: 1.0000 (1.2000)  time: {seconds:.4f} ({elapsed / it:.6f})  "
                         f"data: 0.0010 (0.0010)  lr: 0.010000  max mem: 9000")
    lines.append(mll("run_stop", None, START_S + elapsed + 1, status="success"))
    return "\n".join(lines) + "\n"


def tpu_log() -> str:
    """A TPU submission: run, block, epoch and eval events, no step timing."""
    lines = [mllog("submission_org", "Google", START_S - 60), mllog("global_batch_size", 256, START_S - 30),
             mllog("run_start", None, START_S)]
    for epoch in range(1, 4):
        lines += [mllog("epoch_start", None, START_S + 100 * epoch, epoch_num=epoch),
                  mllog("epoch_stop", None, START_S + 100 * epoch + 90, epoch_num=epoch),
                  mllog("eval_accuracy", {"BBOX": 0.1 * epoch, "SEGM": 0.1 * epoch},
                        START_S + 100 * epoch + 95, epoch_num=epoch)]
    lines.append(mllog("run_stop", None, START_S + 400, status="success"))
    return "\n".join(lines) + "\n"


def write_system(root: Path, submitter: str, system: str, nodes: int, per_node: int, model: str) -> None:
    path = root / submitter / "systems" / f"{system}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"submitter": submitter, "division": "closed", "status": "onprem",
                                "system_name": system, "number_of_nodes": str(nodes),
                                "accelerators_per_node": str(per_node), "accelerator_model_name": model,
                                "host_processor_model_name": "Test CPU 9000",
                                "framework": "PyTorch NVIDIA Release 23.04"}))


def write_run(root: Path, submitter: str, system: str, index: int, text: str) -> Path:
    path = root / submitter / "results" / system / "maskrcnn" / f"result_{index}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- the parser ----------------------------------------------------------------------------------------
def checked(parser, window=(100, 500)):
    """The measurement, and the harness-clock difference and quality warnings the record builder adds to
    it."""
    m = measure_run(parser, window)
    diff, warnings = quality_warnings(measured_segment(parser, m), m)
    return m, diff, warnings


def test_tracked_stats_window_is_exact_and_not_the_printed_throughput(tmp_path):
    times = step_times(600)
    log = tmp_path / "result_0.txt"
    log.write_text(tracked_stats_log(96, times))
    assert detect_format(log) == "mlperf"
    parser = parse_log(log)
    assert parser.batch.images_per_iter == 96 and parser.batch.line_no == 4
    m, diff, warnings = checked(parser)
    expected = expected_window(times, 96)  # 400 * 96 / (200 * 0.25 + 200 * 0.2) = 426.67
    assert expected == pytest.approx(38400 / 90)
    assert m.status.value == "ok"
    assert m.throughput_img_s == pytest.approx(expected, rel=1e-9)
    running_mean_at_500 = 96 * 500 / sum(times[:500])  # what tracked_stats' throughput says at step 500
    assert abs(m.throughput_img_s - running_mean_at_500) > 50
    assert m.clock.throughput_img_s == pytest.approx(expected, rel=1e-4)  # from time_ms (millisecond stamps)
    assert diff < 0.01 and not [w for w in warnings if w.code == "clock-disagrees"]


def test_clock_disagreement_is_flagged(tmp_path):
    times = step_times(600)
    log = tmp_path / "result_0.txt"
    log.write_text(tracked_stats_log(32, times, clock_scale=1.05))  # the events' clock runs 5 % slow
    m, diff, warnings = checked(parse_log(log))
    assert m.throughput_img_s == pytest.approx(expected_window(times, 32))
    assert m.clock.throughput_img_s == pytest.approx(expected_window(times, 32) / 1.05, rel=1e-4)
    assert diff == pytest.approx(100 * (1 - 1 / 1.05), rel=1e-3)
    assert [w.code for w in warnings if w.code == "clock-disagrees"] == ["clock-disagrees"]


def test_v06_events_with_trainer_lines(tmp_path):
    times = step_times(520)
    log = tmp_path / "result_0.txt"
    log.write_text(v06_log(48, times))
    assert detect_format(log) == "mlperf"
    parser = parse_log(log)
    assert parser.batch.images_per_iter == 48 and parser.source == "trainer" and parser.precision == "float16"
    m, diff, warnings = checked(parser)
    assert m.throughput_img_s == pytest.approx(expected_window(times, 48), rel=1e-5)  # 6-digit running means
    assert m.clock.throughput_img_s == pytest.approx(expected_window(times, 48), rel=1e-4)  # asctime, ms


def test_multi_node_labels_and_duplicate_ranks(tmp_path):
    times = step_times(600)
    log = tmp_path / "result_0.txt"
    log.write_text(tracked_stats_log(256, times, prefixes=(" 0: ", " 1: ")))
    parser = parse_log(log)
    assert [r.iteration for r in parser.records] == list(range(50, 601, 50))  # each step once
    m, _, warnings = checked(parser)
    assert m.status.value == "ok" and m.segments == 1
    assert m.throughput_img_s == pytest.approx(expected_window(times, 256))


def test_tpu_log_without_steps_is_not_ok_and_says_why(tmp_path):
    log = tmp_path / "result_0.txt"
    log.write_text(tpu_log())
    assert detect_format(log) == "mlperf"
    m, diff, warnings = checked(parse_log(log))
    assert m.status.value == "no_data" and m.throughput_img_s is None and diff is None
    assert "no per-iteration timing" in m.reason and "TPU" in m.reason


def test_bench_parse_reads_the_global_batch_not_16(tmp_path):
    """The issue's case: a DGX-2H-like log with global batch 96 was measured with 16 images per iteration."""
    times = step_times(600)
    log = tmp_path / "result_0.txt"
    log.write_text(v06_log(96, times))
    parser = parse_log(log)
    m, _, warnings = checked(parser)
    assert m.images_per_iter == 96
    assert m.throughput_img_s == pytest.approx(expected_window(times, 96), rel=1e-5)


# -- the importer and the table ------------------------------------------------------------------------
def make_repository(root: Path) -> None:
    write_system(root, "Testorg", "big_n4", 4, 8, "NVIDIA H100-SXM5-80GB")
    for index, scale in enumerate((1.0, 1.1, 0.9)):
        times = [t * scale for t in step_times(600)]
        write_run(root, "Testorg", "big_n4", index, tracked_stats_log(256, times, prefixes=(" 0: ",)))
    write_system(root, "Google", "tpu-v4-16", 1, 8, "TPU-v4")
    write_run(root, "Google", "tpu-v4-16", 0, tpu_log())
    write_run(root, "Nosys", "orphan", 0, tracked_stats_log(16, step_times(600)))  # no systems/orphan.json


def test_import_mlperf_records_groups_and_table(tmp_path):
    repo = tmp_path / "training_results_v3.0"
    make_repository(repo)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["import", "mlperf", str(repo), "--runs", str(runs), "--repo",
                                      "https://github.com/mlcommons/training_results_v3.0", "--commit",
                                      COMMIT])
    assert result.exit_code == 0, result.output
    assert "imported 4 runs of 2 systems; rejected 1" in result.output
    assert "rejected Nosys/results/orphan/maskrcnn/result_0.txt: no system description" in result.output
    records = [r for _, r in load_records(runs)]
    big = sorted((r for r in records if r.environment["system_name"] == "big_n4"), key=lambda r: r.run_id)
    assert len(big) == 3 and {r.repeat_group for r in big} == {"mlperf-v3.0-Testorg-big_n4"}
    first = big[0]
    assert ((first.gpus, first.nodes, first.gpu_model, first.comparable)
            == (32, 4, "NVIDIA H100-SXM5-80GB", False))
    assert first.environment["mlperf_version"] == "3.0" and first.environment["host_cpu"] == "Test CPU 9000"
    assert first.deviations == ["global batch 256 (protocol 16)", "img/GPU 8 (protocol 2)",
                                "GPUs 32 (protocol 8)"]
    assert first.extra["mlperf"]["log_url"] == ("https://github.com/mlcommons/training_results_v3.0/blob/"
                                                f"{COMMIT}/Testorg/results/big_n4/maskrcnn/result_0.txt")
    assert first.provenance.commit == COMMIT and len(first.extra["mlperf"]["log_sha256"]) == 64
    values = sorted(expected_window([t * s for t in step_times(600)], 256) for s in (1.0, 1.1, 0.9))
    rows = {row.record.repeat_group: row for row in system_rows(records)}
    row = rows["mlperf-v3.0-Testorg-big_n4"]
    assert (row.img_s, row.low, row.high, row.n) == (pytest.approx(values[1]), pytest.approx(values[0]),
                                                     pytest.approx(values[2]), 3)
    assert row.per_accelerator == pytest.approx(values[1] / 32)
    assert rows["mlperf-v3.0-Google-tpu-v4-16"].img_s is None
    loaded = load_records(runs)
    assert select_rows(loaded, []) == ([], [])  # never among the protocol rows, measured or not
    pages = rendered_pages(loaded, [], tmp_path)
    assert "## Real hardware: MLPerf Training (imported)" in pages["README.md"]  # the summary, linking:
    assert "[MLPerf systems](mlperf.md)" in pages["README.md"]
    text = pages["mlperf.md"]  # three significant digits
    assert "# MLPerf Training systems (imported)" in text and f" {float(f'{values[1]:.3g}'):g} (" in text
    assert "4 × 8" in text and re.search(r"\|\s+no_data \|", text)


def test_import_of_a_path_without_logs_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(cli, ["import", "mlperf", str(tmp_path)])
    assert result.exit_code != 0 and isinstance(result.exception, Exception)
    assert "no MLPerf Mask R-CNN log" in str(result.exception)


def test_generation_names():
    assert generation("Tesla V100-SXM2-16GB") == "V100 (Volta)"
    assert generation("NVIDIA L40S") == "L40S (Ada)" and generation("NVIDIA L40") == "L40 (Ada)"
    assert generation("NVIDIA H100-SXM5-80GB") == "H100 (Hopper)" and generation("TPU-v4") == "TPU v4"
