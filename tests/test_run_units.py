"""The pieces of `bench run` on their own: capture, the clock sidecar, checks, repeat statistics."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.launch.local import LocalLauncher
from bench.logs.types import IterationRecord, TimeSemantics
from bench.measure.checks import clock_check, data_loading_check, steadiness_check
from bench.measure.stats import summarize
from bench.measure.window import Span, window_throughput

CHILD = r"""
import os, sys, time
out = sys.stdout.buffer
out.write(b"plain\n"); out.write(b"crlf\r\n"); out.write(b"bar 1\rbar 2\rbar 3\n"); out.write(b"\xff\xfe bytes\n")
out.flush()
sys.stderr.write("to stderr\n"); sys.stderr.flush()
with open(sys.argv[1], "ab", buffering=0) as log:
    log.write(b"file one\n"); time.sleep(0.05); log.write(b"file tw"); time.sleep(0.05); log.write(b"o\nno newline")
out.write(b"last without newline"); out.flush()
"""  # noqa: E501 - the child's script: its exact writes (partial lines, sleeps between) are the test's data


def read_clock(path: Path, stream: str) -> dict[int, float]:
    """line_no -> arrival time for one stream of the clock.tsv sidecar, read here by its documented format
    ("stream<TAB>line_no<TAB>monotonic seconds", `#` comments) rather than by bench's code."""
    arrival: dict[int, float] = {}
    with open(path, encoding="ascii") as handle:
        for row in handle:
            if row.startswith("#"):
                continue
            name, line_no, t = row.rstrip("\n").split("\t")
            if name == stream:
                arrival[int(line_no)] = float(t)
    return arrival


def test_capture_is_byte_exact_with_a_clock_row_per_line(tmp_path: Path) -> None:
    log = tmp_path / "output" / "train.log"
    log.parent.mkdir()
    launcher = LocalLauncher([sys.executable, "-c", CHILD, str(log)], cwd=tmp_path, env=dict(os.environ),
                             run_dir=tmp_path, log_file=log)
    launcher.start()
    seen = list(line for line in launcher.lines() if line is not None)
    assert launcher.wait(5) == 0
    launcher.close()
    launcher.release()
    assert (tmp_path / "stdout.log").read_bytes() == (b"plain\ncrlf\r\nbar 1\rbar 2\rbar 3\n\xff\xfe bytes\n"
                                                      b"last without newline")
    assert (tmp_path / "stderr.log").read_bytes() == b"to stderr\n"
    by_stream = {s: [line.raw for line in seen if line.stream == s] for s in ("stdout", "stderr", "file")}
    assert by_stream["file"] == ["file one\n", "file two\n", "no newline"]  # a line is delivered whole
    assert len(by_stream["stdout"]) == 5 and by_stream["stderr"] == ["to stderr\n"]
    for stream, lines in by_stream.items():
        arrival = read_clock(tmp_path / "clock.tsv", stream)
        assert sorted(arrival) == list(range(1, len(lines) + 1))
    times = [line.t for line in seen]
    assert all(launcher.started_at <= t for t in times)


def test_a_missing_command_is_an_os_error(tmp_path: Path) -> None:
    launcher = LocalLauncher(["/nonexistent/trainer"], cwd=tmp_path, env=dict(os.environ), run_dir=tmp_path)
    with pytest.raises(OSError):
        launcher.start()
    launcher.close()


def _spans(seconds_per_iter, end: int, step: int = 20) -> list[Span]:
    return [Span(k, k + step, sum(seconds_per_iter(i) for i in range(k, k + step)))
            for k in range(0, end, step)]


def test_steadiness_warns_when_the_halves_differ() -> None:
    steady = _spans(lambda i: 0.25, 200)
    result = window_throughput(steady, 20, 180, 16)
    assert steadiness_check(steady, result, 16) is None
    slowing = _spans(lambda i: 0.25 if i < 100 else 0.30, 200)
    result = window_throughput(slowing, 20, 180, 16)
    warning = steadiness_check(slowing, result, 16)
    assert warning is not None and warning.code == "window-not-steady" and warning.remedy


def test_data_loading_and_clock_checks() -> None:
    spans = _spans(lambda i: 0.2, 100)
    result = window_throughput(spans, 20, 80, 16)
    records = [IterationRecord(iteration=k, time=0.2, semantics=TimeSemantics.INTERVAL_MEAN,
                               span_start=k - 20, line_no=k, data_time=0.05) for k in range(20, 101, 20)]
    assert data_loading_check(records, result).code == "data-loading"  # 25 % of 0.2 s
    light = [IterationRecord(iteration=r.iteration, time=0.2, semantics=r.semantics, span_start=r.span_start,
                             line_no=r.line_no, data_time=0.01) for r in records]
    assert data_loading_check(light, result) is None
    clock = window_throughput(_spans(lambda i: 0.21, 100), 20, 80, 16)
    diff, warning = clock_check(result, clock)
    assert diff == pytest.approx(100 * (0.2 / 0.21 - 1) * -1, rel=1e-6) and warning.code == "clock-disagrees"
    assert clock_check(result, result) == (0.0, None)


def test_repeat_summary() -> None:
    summary = summarize([60.0, 62.0, 61.0])
    assert (summary.n, summary.median, summary.low, summary.high) == (3, 61.0, 60.0, 62.0)
    assert summary.spread_pct == pytest.approx(100 * 2 / 61)
    assert "n=3" in summary.describe()
    assert summarize([]) is None
    assert summarize([5.0]).stdev is None


def test_synthetic_data_is_never_comparable_with_the_published_table(tmp_path) -> None:
    from bench.pipeline.run import RunOptions, resolve
    from bench.paths import recipes_dir
    from bench.recipes import find_recipe

    recipe, path = find_recipe("builtin"), recipes_dir() / "builtin.toml"
    assert recipe.presets["full"].comparable and recipe.presets["full"].synthetic_data
    synthetic = resolve(recipe, path, RunOptions(preset="full", gpus=1), available_gpus=1)
    assert not synthetic.comparable and any("synthetic data" in note for note in synthetic.notes)
    (tmp_path / "train2017").mkdir()  # what the recipe's data_files name (an empty --data now fails)
    (tmp_path / "train2017" / "000000000009.jpg").write_bytes(b"jpeg")
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train2017.json").write_text("{}")
    coco = resolve(recipe, path, RunOptions(preset="full", gpus=1, data=tmp_path), available_gpus=1)
    assert coco.comparable
