"""`bench run` compares the batch the trainer prints with the recipe's the moment it appears: a match is
recorded with its log line as the source; a contradiction stops the run at once with status batch_mismatch."""

from __future__ import annotations

from bench_runs import load_record, run_in_process
from writers import write_standin_recipe


def test_a_batch_that_agrees_is_recorded_with_its_log_line(tmp_path, bench_env) -> None:
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 40), args="--print-batch 2,1")
    _, record = run_in_process(bench_env, recipe)
    assert record["status"] == "ok" and record["images_per_iter"] == 2
    assert record["images_per_iter_source"].startswith("log line 1: Namespace(")
    assert "batch_size=2" in record["images_per_iter_source"]


def test_a_batch_that_contradicts_the_recipe_stops_the_run_at_once(tmp_path, bench_env) -> None:
    # 8 processes x 2 images = 16 per iteration, where the recipe counts 2 (gpus = 0: one CPU process)
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(200, 400), args="--print-batch 2,8")
    run_dir, record = run_in_process(bench_env, recipe)
    assert record["status"] == "batch_mismatch"
    reason = record["reason"]
    assert ("16 images/iteration" in reason and "gives 2 images/iteration" in reason
            and "log line 1:" in reason)
    assert record["extra"]["harness"]["stop_reason"] == "batch_mismatch"
    # stopped at the line that revealed the batch: nothing measured, long before the window's 400 iterations
    assert record["framework_timing"]["throughput_img_s"] is None
    assert (record["last_iteration"] or 0) < 200 and record["extra"]["harness"]["wall_s"] < 4
    assert load_record(run_dir)["images_per_iter_source"].startswith("recipe formula 2 * gpus")


def test_the_stand_in_prints_the_batch_line_in_each_real_format(tmp_path) -> None:
    import subprocess
    import sys

    from bench_runs import STANDIN

    from bench.logs.registry import new_parser

    lines = {}
    for fmt in ("torchvision", "detectron2"):
        done = subprocess.run([sys.executable, str(STANDIN), "--format", fmt, "--print-batch", "2,4",
                               "--max-iter", "1"], capture_output=True, text=True, timeout=30)
        lines[fmt] = done.stdout.splitlines()[0]
        parser = new_parser(fmt)  # the real parser reads the stand-in's line as it reads the framework's
        parser.feed(lines[fmt] + "\n")
        assert (parser.batch.images_per_iter, parser.batch.world_size) == (8, 4), fmt
    assert lines["torchvision"].startswith("Namespace(") and "world_size=4," in lines["torchvision"]
    assert "Command line arguments: Namespace(" in lines["detectron2"]
    assert "num_gpus=4," in lines["detectron2"] and "'SOLVER.IMS_PER_BATCH', '8'" in lines["detectron2"]
