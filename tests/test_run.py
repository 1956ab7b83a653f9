"""`bench run` end to end on real child processes: tests/trainer_standin.py prints each format at a known
pace.

Every run is `bench run --recipe FILE` with a user-written recipe (variant "builtin", no source) in a
temporary results directory; the truth is the stand-in's schedule (iteration i lasts TIMES[i % 2] seconds)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench_roots import BenchEnv
from bench_runs import STANDIN, bench_run, load_record, run_dirs, run_in_process
from writers import STANDIN_TIMES as TIMES
from writers import write_standin_recipe

IMAGES = 2  # "2 * gpus" with gpus = 0: one CPU process


def truth(start: int, end: int, times=TIMES) -> float:
    """img/s over iterations (start, end]: 0-based iterations start..end-1."""
    return IMAGES * (end - start) / sum(times[i % len(times)] for i in range(start, end))


def assert_tree_gone(pid_file: Path) -> None:
    pids = json.loads(pid_file.read_text())
    for pid in [pids["trainer"], *pids["grandchildren"]]:
        if psutil.pid_exists(pid):
            status = psutil.Process(pid).status()
            assert status == psutil.STATUS_ZOMBIE, f"pid {pid} of the run is still {status}"


# format, log stream, log path, window, stand-in times, print interval
FORMATS = [
    ("torchvision", "stdout", None, (20, 60), TIMES, 20),
    ("detectron2", "stdout", None, (20, 80), TIMES, 20),
    ("detectron2-file", "file", "log.txt", (20, 80), TIMES, 20),
    ("mmdet-v2", "stderr", None, (50, 150), (0.01, 0.02), 50),
    ("maskrcnn-benchmark", "stdout", None, (20, 80), TIMES, 20),
]


@pytest.mark.parametrize("fmt,stream,log_path,window,times,interval", FORMATS, ids=[f[0] for f in FORMATS])
def test_throughput_from_both_clocks_and_stop_after_window(tmp_path, bench_env, fmt, stream, log_path, window,
                                                          times, interval) -> None:
    pid_file = tmp_path / "pids.json"
    args = f"--grandchild --pid-file {pid_file}" + (" --log-file {output}/log.txt" if log_path else "")
    recipe = write_standin_recipe(tmp_path, fmt, window=window, args=args, stream=stream, log_path=log_path,
                                  times=times)
    run_dir, record = run_in_process(bench_env, recipe)
    assert record["status"] == "ok", record["reason"]
    start, end = record["framework_timing"]["window"]
    assert abs(start - window[0]) <= interval // 2 and abs(end - window[1]) <= interval // 2
    expected = truth(start, end, times)
    assert record["framework_timing"]["throughput_img_s"] == pytest.approx(expected, rel=0.01)
    assert record["harness_clock"]["window"] == [start, end]
    assert record["harness_clock"]["throughput_img_s"] == pytest.approx(expected, rel=0.01)
    # Stopped right after the window: one more progress line, not a 90,000-iteration schedule.
    harness = record["extra"]["harness"]
    assert harness["stop_reason"] == "window"
    assert end < harness["stop_iteration"] <= end + interval
    assert record["last_iteration"] <= end + 2 * interval
    assert_tree_gone(pid_file)
    # The captured log is the raw stream, and every line of it has its arrival time in the sidecar.
    log = run_dir / record["log_files"]["log"]
    lines = log.read_bytes().splitlines()
    clock_rows = [r for r in (run_dir / "clock.tsv").read_text().splitlines()[1:]
                  if r.startswith(stream + "\t")]
    assert len(clock_rows) == len(lines) > 0
    assert record["series"] and record["environment"]["bench_version"]
    assert len(record["provenance"]["recipe_sha256"]) == 64


def test_interrupt_leaves_log_and_interrupted_record(tmp_path, bench_env: BenchEnv) -> None:
    pid_file = tmp_path / "pids.json"
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 5000),
                          args=f"--grandchild --escaped-grandchild --pid-file {pid_file}")
    bench = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "--recipe", str(recipe),
                              "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=bench_env.environ())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for training to be under way: three progress lines
        logs = list(bench_env.runs.glob("*/stdout.log"))
        if logs and logs[0].read_text().count("Epoch: [0]") >= 3:
            break
        time.sleep(0.05)
    bench.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = bench.communicate(timeout=30)
    assert bench.returncode == 130, out + err
    [run_dir] = run_dirs(bench_env)
    record = load_record(run_dir)
    assert record["status"] == "interrupted"
    assert record["extra"]["harness"]["stop_reason"] == "interrupted"
    assert (run_dir / "stdout.log").read_text().count("Epoch: [0]") >= 3
    assert record["log_tail"], "a record that is not ok keeps the last log lines"
    assert_tree_gone(pid_file)


def test_crash_gives_crashed_with_traceback(tmp_path, bench_env: BenchEnv) -> None:
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 100), args="--crash-at 50")
    _, record = run_in_process(bench_env, recipe)
    assert record["status"] == "crashed"
    assert record["exit_code"] == 1
    assert "RuntimeError: CUDA error" in record["reason"]
    tail = "\n".join(record["log_tail"])
    assert "Traceback (most recent call last):" in tail and "raise RuntimeError" in tail
    assert record["last_iteration"] == 41


def test_a_trainer_that_closes_its_output_and_goes_on_is_waited_for(tmp_path, bench_env: BenchEnv) -> None:
    """Its pipes end at iteration 20; it trains on silently and exits 0 at iteration 60 (1.2 s later): bench
    waits for the exit, it never ends the run itself (which made such a run 'crashed' by bench's SIGTERM)."""
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 500),
                                  args="--close-output-at 20 --max-iter 60", times=(0.02,))
    _, record = run_in_process(bench_env, recipe)
    assert record["exit_code"] == 0 and record["status"] != "crashed", record["reason"]
    assert record["extra"]["harness"]["stop_reason"] == "exited"
    assert record["extra"]["harness"]["wall_s"] >= 1.0


def test_timeout_and_sigkill_for_a_stubborn_tree(tmp_path, bench_env: BenchEnv) -> None:
    pid_file = tmp_path / "pids.json"
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 5000),
                          args=f"--grandchild --escaped-grandchild --ignore-sigterm --pid-file {pid_file}")
    started = time.monotonic()
    done = bench_run(bench_env, recipe, "--timeout", "1.5", "--grace", "0.5")
    assert done.returncode == 1
    assert time.monotonic() - started < 20
    record = load_record(run_dirs(bench_env)[0])
    assert record["status"] == "timeout"
    assert record["exit_code"] == -signal.SIGKILL  # SIGTERM was ignored: the grace period ran out
    assert_tree_gone(pid_file)


def test_repeat_shares_a_group_and_prints_the_median(tmp_path, bench_env: BenchEnv) -> None:
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 40))
    done = bench_run(bench_env, recipe, "--repeat", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    records = [load_record(d) for d in run_dirs(bench_env)]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    assert records[0]["repeat_group"] and records[0]["repeat_group"] == records[1]["repeat_group"]
    assert "median" in done.stdout and "n=2" in done.stdout


def test_more_gpus_than_the_machine_has_is_an_error_before_launch(tmp_path, bench_env: BenchEnv) -> None:
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 40))
    recipe.write_text(recipe.read_text().replace("allowed = { gpus = [0] }",
                                                 "allowed = { gpus = [0, 4096] }"))
    done = bench_run(bench_env, recipe, "--gpus", "4096")
    assert done.returncode == 2
    assert "4096 GPU(s)" in done.stderr
    assert not run_dirs(bench_env)


def test_dry_run_prints_the_steps_and_runs_nothing(tmp_path, bench_env: BenchEnv) -> None:
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 40))
    done = bench_run(bench_env, recipe, "--dry-run", "--window", "30:60")
    assert done.returncode == 0, done.stderr
    assert "PYTHONUNBUFFERED=1 ANSI_COLORS_DISABLED=1" in done.stdout and str(STANDIN) in done.stdout
    assert "window 30:60" in done.stdout
    assert not run_dirs(bench_env)
