"""The compliance check and the parsers' robustness (issues 12 and 13): a window is `ok` only when it holds
training and nothing else; a malformed line, an overlong line or a damaged gzip file is counted, skipped or
reported, never a traceback, and reading stays linear in the line length with bounded memory."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.logs.lines import MAX_LINE
from bench.logs.registry import new_parser
from bench.vocabulary import ParseStatus, WarningCode
from bench.measure.assess import measure, parse_file
from parser_cases import (detectron2_lines, expected_img_s, maskrcnn_benchmark_lines, mmdet_v2_lines,
                          mmengine_lines, step_times, torchvision_lines)
from writers import write_log

ROOT = Path(__file__).resolve().parents[1]
D2_PROGRESS = ("[05/14 10:02:11 d2.utils.events]:  eta: 6:31:05  iter: {k}  total_loss: 1.532  time: {t}  "
               "data_time: 0.0093  lr: 0.001998  max_mem: 3105M")


def d2_parse(lines: list[str]):
    parser = new_parser("detectron2")
    for line in lines:
        parser.feed(line + "\n")
    return parser, measure(parser, 16, (100, 500))


def with_line_after(lines: list[str], iteration: int, extra: str) -> list[str]:
    """`extra` inserted right after the detectron2 progress line of 0-based `iter: iteration`."""
    at = next(i for i, line in enumerate(lines) if f"iter: {iteration} " in line)
    return lines[:at + 1] + [extra] + lines[at + 1:]


def test_clean_log_is_ok_and_matches_the_hand_computation() -> None:
    times = step_times()
    _, m = d2_parse(detectron2_lines(times))
    assert m.status is ParseStatus.OK
    assert abs(m.throughput_img_s - expected_img_s(times, 100, 500)) / m.throughput_img_s < 1e-3


def test_a_single_progress_line_does_not_cover_the_window() -> None:
    """Only `iter: 499` (mean over iterations 3-500): the window 100:500 is not measured."""
    parser, m = d2_parse(["[05/14 10:02:11 d2.engine.train_loop]: Starting training from iteration 0",
                          D2_PROGRESS.format(k=499, t="0.2641")])
    assert m.status is ParseStatus.INCOMPLETE and m.throughput_img_s is None
    assert "window-covered" in m.reason and "3-500" in m.reason


@pytest.mark.parametrize("text", ["nan", "inf", "1e308", "-0.2641", "0"])
def test_absurd_printed_time_inside_the_window_is_not_ok(text: str) -> None:
    lines = detectron2_lines(step_times())
    at = next(i for i, line in enumerate(lines) if "iter: 299 " in line)
    lines[at] = D2_PROGRESS.format(k=299, t=text)
    parser, m = d2_parse(lines)
    assert (m.status is ParseStatus.NONCOMPLIANT and "finite-times" in m.reason
            and f"line {at + 1}" in m.reason)
    assert parser.malformed_count == 1
    json.dumps(m.to_json(), allow_nan=False)


@pytest.mark.parametrize(("extra", "rule"), [
    ("[05/14 10:03:00 fvcore.common.checkpoint]: Saving checkpoint to /out/model_0000299.pth",
     "no-checkpoint"),
    ("[05/14 10:03:00 d2.engine.train_loop]: Starting training from iteration 0", "no-restart"),
])
def test_checkpoint_or_restart_inside_the_window(extra: str, rule: str) -> None:
    _, m = d2_parse(with_line_after(detectron2_lines(step_times()), 299, extra))
    assert m.status is ParseStatus.NONCOMPLIANT and rule in m.reason


# ---- an evaluation inside the window (issue 23, item 3): the framework's timer decides ------------------
def test_an_evaluation_detectron2_times_out_keeps_the_window_ok_with_a_warning() -> None:
    """detectron2's IterationTimer stores each step's time before EvalHook runs: the training throughput is
    the clean log's, and a warning says the harness clock holds the evaluation."""
    extra = "[05/14 10:03:00 d2.evaluation.evaluator]: Start inference on 5000 batches"
    lines = with_line_after(detectron2_lines(step_times()), 299, extra)
    _, m = d2_parse(lines)
    assert m.status is ParseStatus.OK
    assert abs(m.throughput_img_s - expected_img_s(step_times(), 100, 500)) / m.throughput_img_s < 1e-3
    warned = [w for w in m.warnings if w.code is WarningCode.EVALUATION_IN_WINDOW]
    assert len(warned) == 1 and f"line {lines.index(extra) + 1}:" in warned[0].message
    assert "harness clock includes it" in warned[0].message and "IterationTimer" in warned[0].message


def test_an_evaluation_maskrcnn_benchmark_times_in_is_noncompliant() -> None:
    """do_train sets `end` before the periodic evaluation: the next iteration's time holds it."""
    lines = maskrcnn_benchmark_lines(step_times())
    at = next(i for i, line in enumerate(lines) if "iter: 300 " in line)
    lines.insert(at + 1, "2020-05-14 10:06:00,001 maskrcnn_benchmark.inference INFO: Start evaluation on "
                         "coco_2017_val dataset(5000 images).")
    parser = new_parser("maskrcnn-benchmark")
    for line in lines:
        parser.feed(line + "\n")
    m = measure(parser, 16, (100, 500))
    assert m.status is ParseStatus.NONCOMPLIANT and "no-evaluation" in m.reason


@pytest.mark.parametrize(("after", "status"), [
    ("Epoch [1][250/250]", ParseStatus.OK),  # between epochs: IterTimerHook.before_epoch restarts the clock
    ("Epoch [1][150/250]", ParseStatus.NONCOMPLIANT),  # inside an epoch: the next iteration's time holds it
])
def test_an_mmdet_evaluation_is_untimed_only_between_epochs(after: str, status: ParseStatus) -> None:
    times = step_times()
    lines = mmdet_v2_lines(times, length=250)
    at = next(i for i, line in enumerate(lines) if after in line)
    lines.insert(at + 1, "Evaluating bbox...")
    parser = new_parser("mmdet-v2")
    for line in lines:
        parser.feed(line + "\n")
    m = measure(parser, 16, (100, 500))
    assert m.status is status, m.reason
    if status is ParseStatus.OK:
        assert abs(m.throughput_img_s - expected_img_s(times, 100, 500)) / m.throughput_img_s < 2e-3
        assert [w.code for w in m.warnings] == [WarningCode.EVALUATION_IN_WINDOW]


@pytest.mark.parametrize("by_epoch", [True, False])
def test_an_mmengine_evaluation_is_untimed_only_in_an_epoch_loop(by_epoch: bool) -> None:
    """EpochBasedTrainLoop validates between epochs (IterTimerHook restarts at the next epoch);
    IterBasedTrainLoop between two iterations, whose next time then holds the metric computation."""
    lines = mmengine_lines(step_times(), length=250, by_epoch=by_epoch)
    head = "Epoch(train)  [1][250/250]" if by_epoch else "Iter(train) [  250/90000]"
    at = next(i for i, line in enumerate(lines) if head in line)
    val = "Epoch(val)  [1][50/625]" if by_epoch else "Iter(val) [50/625]"
    lines.insert(at + 1, f"2023/03/13 10:40:00 - mmengine - INFO - {val}    eta: 0:01:10  time: 0.1000  "
                         "data_time: 0.0050  memory: 1000")
    parser = new_parser("mmengine")
    for line in lines:
        parser.feed(line + "\n")
    m = measure(parser, 16, (100, 500))
    assert m.status is (ParseStatus.OK if by_epoch else ParseStatus.NONCOMPLIANT), m.reason


def test_evaluation_after_the_window_is_fine() -> None:
    extra = "[05/14 10:03:00 d2.evaluation.evaluator]: Start inference on 5000 batches"
    _, m = d2_parse(with_line_after(detectron2_lines(step_times()), 519, extra))
    assert m.status is ParseStatus.OK


def test_negative_images_per_iter_is_refused() -> None:
    from bench.errors import BenchError

    parser, _ = d2_parse(detectron2_lines(step_times()))
    with pytest.raises(BenchError):
        measure(parser, -200, (100, 500))


# ---- malformed lines ---------------------------------------------------------------------------------------
def test_torchvision_time_1_2_3_is_counted_and_skipped() -> None:
    lines = torchvision_lines(step_times())
    lines[3] = lines[3][:lines[3].index("time: ")] + "time: 1.2.3  data: 0.0112  max mem: 4412"
    parser = new_parser("torchvision")
    for line in lines:
        parser.feed(line + "\n")
    assert parser.malformed_count == 1 and parser.malformed[0][0] == 4


@pytest.mark.parametrize(("name", "line"), [
    ("detectron", 'json_stats: {"iter": 1e999, "time": "0.84", "loss": "1.0"}'),
    ("mmdet-v2-json", '{"mode": "train", "epoch": 1, "iter": 1e999, "lr": 0.02, "time": 0.3, "loss": 1.0}'),
    ("detectron2-metrics-json", '{"iteration": 1e999, "time": 0.3, "data_time": 0.01, "total_loss": 1.0}'),
    ("detectron2", D2_PROGRESS.format(k=99, t="1e999")),
])
def test_iteration_or_time_of_1e999_is_counted_not_raised(name: str, line: str) -> None:
    parser = new_parser(name)
    parser.feed(line + "\n")
    assert parser.records == [] and parser.malformed_count == 1


# ---- linear time, bounded lines and memory -----------------------------------------------------------------
@pytest.mark.parametrize("line", [
    "Epoch: [0]  [ 100/7329]  eta: 0:44:12  " + " " * 40_000 + "x",
    "Epoch: [0]  [ 100/7329]  eta: 0:44:12 " + "  a" * 13_000,
    "x" * 40_000 + ": 1",
])
def test_torchvision_line_of_40_kb_is_parsed_in_linear_time(line: str) -> None:
    parser = new_parser("torchvision")
    started = time.perf_counter()
    parser.feed(line + "\n")
    assert time.perf_counter() - started < 0.5  # quadratic took 25 s on main


def test_an_overlong_line_is_cut_and_counted(tmp_path: Path) -> None:
    times = step_times()
    lines = detectron2_lines(times)
    lines.insert(2, "y" * (3 * MAX_LINE))
    log = write_log(tmp_path / "long.txt", lines)
    parser, m = parse_file(log, "detectron2", 16, (100, 500))
    assert parser.truncated_lines == 1 and any(w.code == "long-lines" for w in m.warnings)
    assert m.status is ParseStatus.OK


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", "parse", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_truncated_gzip_reports_what_was_measured_and_names_the_file(tmp_path: Path) -> None:
    times = step_times(1500)
    text = "\n".join(detectron2_lines(times)) + "\n"
    data = gzip.compress(text.encode())
    log = tmp_path / "cut.log.gz"
    log.write_bytes(data[: len(data) * 3 // 4])
    done = bench(str(log), "-f", "detectron2", "-n", "16", "--json")
    assert "Traceback" not in done.stderr and "cut.log.gz" in done.stderr and "damaged" in done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ok" and result["damage"]
    assert (abs(result["throughput_img_s"] - expected_img_s(times, 100, 500)) / result["throughput_img_s"]
            < 1e-3)


def test_corrupt_gzip_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(("\n".join(detectron2_lines(step_times())) + "\n").encode()))
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    log = tmp_path / "corrupt.log.gz"
    log.write_bytes(bytes(data))
    done = bench(str(log), "-f", "detectron2", "-n", "16", "--json")
    assert "Traceback" not in done.stderr and "corrupt.log.gz" in done.stderr
    json.loads(done.stdout)


def test_gzip_bomb_lines_are_streamed_in_bounded_memory(tmp_path: Path) -> None:
    """50 MB of zeros without a newline, gzipped: the reader never holds more than a capped line."""
    import tracemalloc

    from bench.logs.lines import open_text

    log = tmp_path / "bomb.log.gz"
    with gzip.open(log, "wb", compresslevel=9) as handle:
        for _ in range(50):
            handle.write(b"\0" * (1 << 20))
    text = open_text(log)
    tracemalloc.start()
    count = sum(1 for _ in text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 1 and text.truncated == 1 and peak < 8 * MAX_LINE * 4


@pytest.mark.slow
def test_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """0.5 MB of gzip that inflates to ~500 MB with no newline: streamed line by line, capped."""
    log = tmp_path / "bomb.log.gz"
    with gzip.open(log, "wb", compresslevel=9) as handle:
        block = b"\0" * (1 << 20)
        for _ in range(500):
            handle.write(block)
    assert log.stat().st_size < 600_000
    probe = ("import resource, subprocess, sys; "
             f"subprocess.run([sys.executable, '-m', 'bench.cli', 'parse', {str(log)!r}, '-f', 'detectron2', "
             "'-n', '16', '--json'], capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    peak_kib = int(done.stdout.strip())
    assert peak_kib < 300 * 1024, f"peak {peak_kib / 1024:.0f} MiB"


def test_json_is_valid_even_for_non_finite_values() -> None:
    import dataclasses

    _, m = d2_parse(detectron2_lines(step_times()))
    m.result = dataclasses.replace(m.result, seconds=math.inf, throughput_img_s=math.nan)
    data = json.loads(json.dumps(m.to_json(), allow_nan=False))
    assert data["seconds"] is None and data["throughput_img_s"] is None
