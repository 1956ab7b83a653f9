"""The smoke presets of the real frameworks (mmdetection-current, detectron2-current): what they run, without
running.

The runs themselves are in tests/test_frameworks_slow.py (marked slow)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from bench.pipeline.run import RunOptions, command_for, dry_run_steps, resolve
from bench.paths import patches_dir
from bench.recipes.loader import find_recipe, recipes_dir

FRAMEWORKS = ("mmdetection-current", "detectron2-current")


def smoke(name: str):
    return find_recipe(name).with_preset("smoke")


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_smoke_presets_are_small_cpu_runs_on_synthetic_data_and_not_comparable(name):
    recipe = find_recipe(name)
    preset = recipe.presets["smoke"]
    assert preset.comparable is False and preset.gpus == 0 and "Not comparable" in preset.description
    assert preset.synthetic_data and preset.synthetic_data["size"] == "320x240"
    plan = resolve(recipe, recipes_dir() / f"{name}.toml", RunOptions(preset="smoke"), available_gpus=0)
    assert plan.images_per_iter == 2 and plan.gpus == 0 and not plan.comparable
    assert plan.window[1] - plan.window[0] >= 10 and plan.window[1] <= 40
    argv = command_for(plan.recipe, gpus=0, data="/data", output="/out", source_dir="/src",
                       python="/env/python")
    assert argv[0] == "/env/python"  # the environment's interpreter, never a `python` found on PATH
    assert "/data" in " ".join(argv) and "/out" in argv


def test_mmdetection_smoke_needs_no_checkout_and_installs_from_the_package_index():
    recipe = smoke("mmdetection-current")
    assert recipe.source is None and recipe.patches == [] and recipe.prepare_run == []
    steps = " ".join(recipe.install)
    for pin in ("torch==2.9.1", "torchvision==0.24.1", "mmengine==0.10.7", "mmcv==2.1.0", "mmdet==3.3.0"):
        assert pin in steps
    assert "MMCV_WITH_OPS=1" in steps and "--no-build-isolation" in steps
    assert "git" not in steps and "{source}" not in steps
    # the published/full variant stays pinned to the git commit and installs the checkout
    full = find_recipe("mmdetection-current")
    assert full.source is not None and full.source.commit.startswith("cfd5d3a9")
    assert any("-e {source}" in step for step in full.install)
    argv = command_for(recipe, gpus=0, data="/data", output="/out", source_dir=None, python="/env/python",
                       procs=2)
    overlay = patches_dir() / "mmdetection-current" / "smoke"
    # mmdetection's distributed launch (what tools/dist_train.sh runs): torchrun, --launcher pytorch
    assert argv[:5] == ["/env/python", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert argv[5:9] == [str(overlay / "train.py"), str(overlay / "mask-rcnn_r50-caffe_fpn_smoke.py"),
                         "--launcher", "pytorch"]
    assert "train_dataloader.dataset.data_root=/data" in argv
    assert recipe.env.get("CUDA_VISIBLE_DEVICES") == ""


def _literal(config: str, name: str):
    for node in ast.parse(config).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return node.value
    raise AssertionError(f"{name} not assigned")


def test_mmdetection_overlay_matches_the_synthetic_dataset_and_logs_every_iteration():
    from bench.builtin.synth import CATEGORIES

    config = (patches_dir() / "mmdetection-current" / "smoke"
              / "mask-rcnn_r50-caffe_fpn_smoke.py").read_text()
    tree = ast.parse(config)  # valid Python, as mmengine reads it
    assert (ast.literal_eval(_literal(config, "_base_"))
            == "mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_1x_coco.py")
    classes = re.search(r"classes=\(([^)]*)\)", config)[1]
    assert [c.strip(" '") for c in classes.split(",")] == [name for _, name in CATEGORIES]
    assert "interval=1)" in config and "window_size=1" in config and "init_cfg=None" in config
    assert "batch_size=2" in config
    assert "optimizer=dict(lr=0.0)" in config  # random weights would diverge; every SGD step still runs
    assert tree is not None
    compile((patches_dir() / "mmdetection-current" / "smoke" / "train.py").read_text(), "train.py", "exec")


def test_detectron2_smoke_uses_the_checkout_and_registers_the_synthetic_dataset():
    recipe = smoke("detectron2-current")
    # the checkout is installed as a package (not editable): a bundle installs the wheel built from it instead
    assert recipe.source is not None and any(step.endswith("--no-build-isolation {source}")
                                             for step in recipe.install)
    argv = command_for(recipe, gpus=0, data="/data", output="/out", source_dir="/src", python="/env/python")
    assert argv[1] == str(patches_dir() / "detectron2-current" / "train_synthetic.py")
    assert argv[2:4] == ["--data", "/data"]
    options = dict(zip(argv[argv.index("--num-gpus") + 2::2], argv[argv.index("--num-gpus") + 3::2]))
    assert options["MODEL.DEVICE"] == "cpu" and options["MODEL.WEIGHTS"] == ""
    assert options["SOLVER.IMS_PER_BATCH"] == "2" and options["DATASETS.TRAIN"] == "('bench_synth_train',)"
    assert options["OUTPUT_DIR"] == "/out"
    assert options["SOLVER.BASE_LR"] == "0.0" and options["INPUT.MASK_FORMAT"] == "bitmask"
    # detectron2 prints every 20 iterations: the window is on its grid
    assert recipe.window.start % 20 == 0 and recipe.window.end % 20 == 0
    compile((patches_dir() / "detectron2-current" / "train_synthetic.py").read_text(), "train_synthetic.py",
            "exec")


def test_dry_run_names_the_environment_and_the_synthetic_data():
    recipe = find_recipe("mmdetection-current")
    plan = resolve(recipe, recipes_dir() / "mmdetection-current.toml", RunOptions(preset="smoke"),
                   available_gpus=0)
    steps = "\n".join(dry_run_steps(plan))
    assert "built in (no checkout)" in steps and "mmdet==3.3.0" in steps and "synthetic dataset" in steps
    assert sys.executable not in steps.split("launch", 1)[1]


def test_a_preset_without_checkout_and_the_patches_placeholder(tmp_path):
    from bench.recipes.render import render_steps

    full = find_recipe("mmdetection-current")
    assert full.with_preset(None).source is not None
    assert render_steps(["cp {patches}/x ."], patches=Path("/p q")) == ["cp '/p q'/x ."]
