"""Every log format: logs written in exactly that format from chosen per-iteration times give the throughput
computed by hand (within 0.1 %), `--format auto` recognises them, and the robustness and status cases hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.logs.detect import detect_format
from bench.vocabulary import ParseStatus
from bench.measure.assess import parse_file
from parser_cases import (FORMATS, detectron2_lines, detectron_lines, expected_img_s, keras_lines,
                                  mmdet_v2_lines, mmengine_lines, step_times, tensorpack_lines, times_for)
from writers import write_log

NAMES = sorted(FORMATS)
SUFFIX = {"detectron2-metrics-json": ".json", "mmdet-v2-json": ".log.json"}


def measure(path: Path, name: str, images: int | None = None):
    return parse_file(path, name, images or FORMATS[name][2], (100, 500))[1]


def assert_throughput(m, times: list[float], window: tuple[int, int], images: int) -> None:
    assert m.status is ParseStatus.OK, m.reason
    assert (m.result.start, m.result.end) == window
    expected = expected_img_s(times, *window, images)
    assert abs(m.throughput_img_s - expected) / expected < 1e-3, (m.throughput_img_s, expected)


def write_format(tmp_path: Path, name: str, lines: list[str] | None = None, **kw) -> Path:
    writer = FORMATS[name][0]
    return write_log(tmp_path / f"log{SUFFIX.get(name, '.txt')}", lines or writer(times_for(name)), **kw)


@pytest.mark.parametrize("name", NAMES)
def test_window_throughput_matches_hand_computation(tmp_path: Path, name: str) -> None:
    _, window, images = FORMATS[name]
    m = measure(write_format(tmp_path, name), name)
    assert_throughput(m, times_for(name), window, images)
    assert m.result.exact is (name != "detectron2-metrics-json")


@pytest.mark.parametrize("name", NAMES)
def test_auto_detects_format(tmp_path: Path, name: str) -> None:
    assert detect_format(write_format(tmp_path, name)) == name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("variant", ["crlf", "gzip", "truncated", "other-loggers"])
def test_robust_input(tmp_path: Path, name: str, variant: str) -> None:
    writer, window, images = FORMATS[name]
    times = times_for(name)
    lines = writer(times)
    kw: dict = {}
    if variant == "crlf":
        kw["newline"] = "\r\n"
    elif variant == "gzip":
        kw["compress"] = True
    elif variant == "truncated":
        kw["tail"] = lines[-1][: len(lines[-1]) // 2]  # a last line cut in the middle, no newline
    else:
        noise = ["WARNING:root:some other logger said something: iter 7", "[W accumulate_grad.h:170] Warning",
                 "  0%|          | 0/5000 [00:00<?, ?it/s]", "{\"other\": 1}", "Epoch 7 of a different thing"]
        lines = [x for i, line in enumerate(lines) for x in ([line, noise[i % len(noise)]] if i else [line])]
    m = measure(write_format(tmp_path, name, lines, **kw), name)
    assert_throughput(m, times, window, images)


@pytest.mark.parametrize("name", NAMES)
def test_two_runs_in_one_file_are_mixed(tmp_path: Path, name: str) -> None:
    lines = FORMATS[name][0](times_for(name))
    m = measure(write_format(tmp_path, name, lines + lines), name)
    assert m.status is ParseStatus.MIXED


@pytest.mark.parametrize("name", NAMES)
def test_traceback_after_training_started_is_crashed(tmp_path: Path, name: str) -> None:
    lines = FORMATS[name][0](times_for(name))
    cut = len(lines) // 2  # training is under way, the window not finished
    lines = lines[:cut] + ["Traceback (most recent call last):", '  File "train.py", line 1, in <module>',
                           "RuntimeError: CUDA error: an illegal memory access was encountered"]
    m = measure(write_format(tmp_path, name, lines), name)
    assert m.status is ParseStatus.CRASHED, m.reason


@pytest.mark.parametrize("name", NAMES)
def test_no_progress_lines_is_no_data(tmp_path: Path, name: str) -> None:
    lines = ["Loading data", "Creating model", "some other log line"]
    assert measure(write_format(tmp_path, name, lines), name).status is ParseStatus.NO_DATA


NAN_EDITS = {
    "detectron2": ("loss_mask: 0.598", "loss_mask: nan"),
    "detectron2-metrics-json": ('"total_loss": 1.53201', '"total_loss": NaN'),
    "mmdet-v2": ("loss: 2.2378", "loss: nan"),
    "mmdet-v2-json": ('"loss": 2.23786', '"loss": NaN'),
    "mmengine": ("loss: 1.2345", "loss: nan"),
    "maskrcnn-benchmark": ("loss_mask: 0.6012 (0.6687)", "loss_mask: nan (nan)"),
    "tensorpack": ("total_cost: 1.2345", "total_cost: nan"),
    "simpledet": ("RcnnL1=0.601234", "RcnnL1=nan"),
    "detectron": ('"loss": "1.534567"', '"loss": "nan"'),
    "keras": ("- loss: 2.0345", "- loss: nan"),
    "torchvision": ("loss: 1.5234 (2.0123)", "loss: nan (nan)"),
    "mlperf": ('"loss": 1.0', '"loss": NaN'),
}


@pytest.mark.parametrize("name", NAMES)
def test_nan_loss_is_diverged(tmp_path: Path, name: str) -> None:
    lines = FORMATS[name][0](times_for(name))
    old, new = NAN_EDITS[name]
    hits = [i for i, line in enumerate(lines) if old in line]
    for i in hits[len(hits) // 2:]:  # NaN from the middle of the window on
        lines[i] = lines[i].replace(old, new)
    m = measure(write_format(tmp_path, name, lines), name)
    assert m.status is ParseStatus.DIVERGED, m.reason


@pytest.mark.parametrize("name, error", [
    ("detectron2", "FloatingPointError: Loss became infinite or NaN at iteration=250!"),
    ("detectron", "CRITICAL train.py:  98: Loss is NaN"),
    ("torchvision", "Loss is nan, stopping training"),
    ("mmdet-v2", "2020-05-14 10:04:00,001 - mmdet - INFO - loss become infinite or NaN!"),
])
def test_framework_divergence_error_is_diverged(tmp_path: Path, name: str, error: str) -> None:
    lines = FORMATS[name][0](times_for(name))
    lines = lines[: len(lines) // 2] + [error]
    assert measure(write_format(tmp_path, name, lines), name).status is ParseStatus.DIVERGED


# ---- format variants ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(console=False), dict(current=True), dict(current=True, console=False),
                                dict(ansi=True)], ids=["log.txt", "current", "current-log.txt", "ansi"])
def test_detectron2_variants(tmp_path: Path, kw: dict) -> None:
    times = step_times()
    path = write_log(tmp_path / "log.txt", detectron2_lines(times, **kw))
    assert detect_format(path) == "detectron2"
    assert_throughput(measure(path, "detectron2"), times, (100, 500), 16)


def test_detectron2_resumed_after_an_early_crash_measures_the_resumed_run(tmp_path: Path) -> None:
    times = step_times()
    first = detectron2_lines(times[:70], console=False)[:-1] + ["Traceback (most recent call last):",
                                                                "RuntimeError: boom"]
    resumed = detectron2_lines(times, console=False, start_iter=40)  # the running mean restarts at 42
    m = measure(write_log(tmp_path / "log.txt", first + resumed), "detectron2")
    assert_throughput(m, times, (100, 500), 16)
    assert m.segments == 2 and any(w.code == "resumed" for w in m.warnings)


def test_detectron2_resumed_inside_the_window_is_incomplete(tmp_path: Path) -> None:
    times = step_times()
    first = detectron2_lines(times[:320], console=False)
    resumed = detectron2_lines(times, console=False, start_iter=300)
    m = measure(write_log(tmp_path / "log.txt", first + resumed), "detectron2")
    assert m.status is ParseStatus.INCOMPLETE and m.last_iteration == 600


def test_detectron_resumed_run_restarts_its_timer(tmp_path: Path) -> None:
    times = step_times(700)
    lines = detectron_lines(times[:90]) + detectron_lines(times, start_iter=61)
    m = measure(write_log(tmp_path / "stdout.txt", lines), "detectron")
    assert_throughput(m, times, (101, 501), 16)


def test_mmdet_v2_variants_lr_exp_and_second_epoch(tmp_path: Path) -> None:
    times = step_times(1000)
    path = write_log(tmp_path / "x.log", mmdet_v2_lines(times, length=300, lr_exp=True))
    m = parse_file(path, "mmdet-v2", 16, (200, 800))[1]
    assert_throughput(m, times, (200, 800), 16)  # across epochs 1..3 of 300 iterations


@pytest.mark.parametrize("kw", [dict(by_epoch=False), dict(config=False), dict(length=250)],
                         ids=["iter-based", "window-from-grid", "epochs-of-250"])
def test_mmengine_variants(tmp_path: Path, kw: dict) -> None:
    times = step_times()
    path = write_log(tmp_path / "x.log", mmengine_lines(times, **kw))
    assert_throughput(measure(path, "mmengine"), times, (100, 500), 16)


def test_mmengine_window_size_from_config(tmp_path: Path) -> None:
    times = step_times()
    path = write_log(tmp_path / "x.log", mmengine_lines(times, interval=10, window=20))  # overlapping windows
    assert_throughput(measure(path, "mmengine"), times, (100, 500), 16)


@pytest.mark.parametrize("kw", [dict(ranks=8), dict(ranks=8, tagged=True), dict(tqdm=True, ansi=True)],
                         ids=["8-ranks", "8-ranks-tagged", "tqdm-ansi"])
def test_tensorpack_stdout_of_eight_ranks(tmp_path: Path, kw: dict) -> None:
    times = step_times()
    path = write_log(tmp_path / "stdout.txt", tensorpack_lines(times, **kw))
    parser, m = parse_file(path, "tensorpack", 8, (100, 500))
    assert [r.iteration for r in parser.records] == list(range(50, 601, 50))  # each epoch once
    assert_throughput(m, times, (100, 500), 8)


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("bases",
                         [[1.2, 1.14, 1.16, 1.1, 1.18, 1.12], [0.583, 0.61, 0.597, 0.622, 0.575, 0.6]],
                         ids=["s-per-step", "ms-per-step"])
def test_keras_progbar(tmp_path: Path, tty: bool, bases: list[float]) -> None:
    times = step_times(600, bases, 0.01)
    path = write_log(tmp_path / "stdout.txt", keras_lines(times, tty=tty))
    assert detect_format(path) == "keras"
    assert_throughput(measure(path, "keras"), times, (100, 500), 16)


# ---- bench parse -------------------------------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", "parse", *args], capture_output=True, text=True)


def test_cli_exit_status(tmp_path: Path) -> None:
    times = step_times()
    ok = write_log(tmp_path / "ok.txt", detectron2_lines(times))
    short = write_log(tmp_path / "short.txt", detectron2_lines(times[:300]))
    # the log prints no config: -n is needed
    done = run_cli(str(ok), "--format", "auto", "--json", "-n", "16")
    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert data["format"] == "detectron2" and data["window"] == [100, 500] and data["iterations"] == 400
    assert abs(data["throughput_img_s"] - expected_img_s(times, 100, 500)) / data["throughput_img_s"] < 1e-3
    short_run = run_cli(str(short), "--format", "detectron2", "--json", "-n", "16")
    assert short_run.returncode == 1 and json.loads(short_run.stdout)["status"] == "incomplete"
    assert run_cli(str(ok), "--format", "nonsense").returncode == 2
    assert run_cli(str(ok), "--window", "500:100").returncode == 2
    assert run_cli(str(tmp_path / "missing.txt")).returncode == 2
