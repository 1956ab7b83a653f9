"""`bench run` compares the batch the trainer prints with the recipe's the moment it appears: a match is recorded
with its log line as the source; a contradiction stops the run at once with status batch_mismatch."""

from __future__ import annotations

import re

from bench.logs.types import BatchReport
from test_run import load_record, run_in_process, write_recipe

NAMESPACE = re.compile(r"^Namespace\(.*\bbatch_size=(\d+),.*\bworld_size=(\d+),")


def reporting_parser(monkeypatch) -> None:
    """The torchvision parser, made to report the batch of torchvision's printed args if it does not itself yet
    (the parsers' own extraction is tested with the parsers). What is under test here is the runner's reaction."""
    from bench.launch import runner

    real = runner.new_parser

    def new_parser(fmt: str):
        parser = real(fmt)
        feed = parser.feed

        def feed_and_report(raw: str):
            new = feed(raw)
            match = NAMESPACE.match(raw)
            if parser.batch is None and match:
                per, world = int(match[1]), int(match[2])
                parser.batch = BatchReport(per * world, world, per, line_no=parser.line_no, text=raw.rstrip("\n"))
            return new

        parser.feed = feed_and_report
        return parser

    monkeypatch.setattr(runner, "new_parser", new_parser)


def test_a_batch_that_agrees_is_recorded_with_its_log_line(tmp_path, monkeypatch) -> None:
    reporting_parser(monkeypatch)
    recipe = write_recipe(tmp_path, "torchvision", window=(20, 40), args="--print-batch 2,1")
    _, record = run_in_process(tmp_path, recipe, monkeypatch)
    assert record["status"] == "ok" and record["images_per_iter"] == 2
    assert record["images_per_iter_source"].startswith("log line 1: Namespace(")
    assert "batch_size=2" in record["images_per_iter_source"]


def test_a_batch_that_contradicts_the_recipe_stops_the_run_at_once(tmp_path, monkeypatch) -> None:
    reporting_parser(monkeypatch)
    # 8 processes x 2 images = 16 per iteration, where the recipe counts 2 (gpus = 0: one CPU process)
    recipe = write_recipe(tmp_path, "torchvision", window=(200, 400), args="--print-batch 2,8")
    run_dir, record = run_in_process(tmp_path, recipe, monkeypatch)
    assert record["status"] == "batch_mismatch"
    reason = record["reason"]
    assert "16 images/iteration" in reason and "gives 2 images/iteration" in reason and "log line 1:" in reason
    assert record["extra"]["harness"]["stop_reason"] == "batch_mismatch"
    # stopped at the line that revealed the batch: nothing measured, long before the window's 400 iterations
    assert record["framework_timing"]["throughput_img_s"] is None
    assert (record["last_iteration"] or 0) < 200 and record["extra"]["harness"]["wall_s"] < 4
    assert load_record(run_dir)["images_per_iter_source"].startswith("recipe formula 2 * gpus")


def test_the_stand_in_prints_the_batch_line_in_each_real_format(tmp_path) -> None:
    import subprocess
    import sys

    from test_run import STANDIN

    lines = {}
    for fmt in ("torchvision", "detectron2"):
        done = subprocess.run([sys.executable, str(STANDIN), "--format", fmt, "--print-batch", "2,4", "--max-iter",
                               "1"], capture_output=True, text=True, timeout=30)
        lines[fmt] = done.stdout.splitlines()[0]
    assert NAMESPACE.match(lines["torchvision"]) and "world_size=4," in lines["torchvision"]
    assert "Command line arguments: Namespace(" in lines["detectron2"]
    assert "num_gpus=4," in lines["detectron2"] and "'SOLVER.IMS_PER_BATCH', '8'" in lines["detectron2"]
