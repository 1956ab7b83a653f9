"""The benchmark protocol: declarations, deviations, and launch arguments that contradict a declaration."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import cli
from bench.paths import recipes_dir
from bench.protocol.check import check_recipe, deviations_for
from bench.protocol.overrides import RULES, launch_overrides, rules_for
from bench.protocol.spec import available_versions, load_protocol, same_value
from bench.recipes.loader import load_recipe, recipe_files

PROTOCOL = load_protocol(1)
REAL = {path.stem: path for path in recipe_files(recipes_dir())}


def _check(args: list[str]):
    return CliRunner().invoke(cli, ["check", *args])


def _copy(tmp_path: Path, name: str, old: str, new: str, field: str = "command") -> Path:
    """A copy of a real recipe with one edit in `field` (the recipe's own text, not its declarations)."""
    lines = REAL[name].read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{field} = "))
    assert old in lines[at], f"{old!r} not in {name}.{field}"
    lines[at] = lines[at].replace(old, new, 1)
    path = tmp_path / f"{name}.toml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


# --- the protocol itself ------------------------------------------------------------------------------------

def test_protocol_1_is_the_published_setting():
    assert available_versions() == [1]
    assert PROTOCOL.gpus == 8 and PROTOCOL.window == (100, 500)
    s = PROTOCOL.settings
    assert s["images_per_gpu"].value == 2 and s["train_short_side"].value == [800]
    assert s["train_long_side_max"].value == 1333 and s["base_lr"].value == 0.02
    assert s["precision"].value == "fp32" and s["norm"].value == "frozen_bn"
    assert s["box_pooler_resolution"].value == 7 and s["mask_pooler_resolution"].value == 14
    assert all("@ 7aa91aa" in setting.evidence for setting in s.values())


def test_values_compare_with_tolerance_and_case():
    assert same_value(1 / 3, 0.3333) and not same_value(0.33, 0.3333)
    assert same_value("ROIAlign", "roialign") and same_value([800], [800]) and not same_value([800], 800)
    assert not same_value(True, 1)
    assert PROTOCOL.accepts("rpn_post_nms_topk_train", "1000 per image")  # detectron2's documented equivalent
    assert not PROTOCOL.accepts("rpn_post_nms_topk_train", "2000 per image")


# --- the real recipes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REAL))
def test_every_recipe_declares_every_setting_without_contradiction(name):
    result = check_recipe(load_recipe(REAL[name]), REAL[name])
    assert result.errors == []
    assert set(load_recipe(REAL[name]).protocol) == set(PROTOCOL.settings)
    assert all(d.evidence.strip() for d in load_recipe(REAL[name]).protocol.values())


def test_check_all_lists_the_known_deviations():
    result = _check(["all"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()

    def line(recipe: str, setting: str) -> str:
        found = [text for text in lines if text.startswith(f"{recipe}: {setting} = ")]
        assert found, f"no {setting} deviation for {recipe} in:\n{result.output}"
        return found[0]

    assert "square 1024x1024" in line("matterport", "input_padding") and "mrcnn/config.py:126" in line(
        "matterport", "input_padding")
    assert "1024" in line("matterport", "train_long_side_max")
    assert line("tensorpack", "images_per_gpu").startswith("tensorpack: images_per_gpu = 1 (protocol 1: 2)")
    assert "NOTES.md:49" in line("tensorpack", "images_per_gpu")
    assert "pytorch" in line("torchvision", "backbone_style")
    assert "2000 per image" in line("tensorpack", "rpn_post_nms_topk_train")
    assert "fixed 1333x800" in line("simpledet", "input_padding")
    assert "0" in line("mmdetection", "pooler_sampling_ratio")
    assert "detectron: no deviations from protocol 1" in lines
    assert "maskrcnn-benchmark: no deviations from protocol 1" in lines
    assert not any(text.startswith("detectron2: images_per_gpu") for text in lines)


def test_check_one_recipe_and_unknown_name():
    result = _check(["tensorpack"])
    assert result.exit_code == 0 \
        and all(line.startswith("tensorpack: ") for line in result.output.splitlines())
    assert _check(["no-such-recipe"]).exit_code != 0


def test_deviations_for_the_record_are_short():
    short = deviations_for(load_recipe(REAL["tensorpack"]))
    assert "img/GPU 1 (protocol 2)" in short
    assert deviations_for(load_recipe(REAL["detectron"])) == []
    assert any(s.startswith("padding square 1024x1024")
               for s in deviations_for(load_recipe(REAL["matterport"])))


# --- launch arguments against declarations ------------------------------------------------------------------

CONTRADICTIONS = [
    ("detectron2", "SOLVER.IMS_PER_BATCH {images_per_iter}", "SOLVER.IMS_PER_BATCH 8", "images_per_gpu",
     "SOLVER.IMS_PER_BATCH 8"),
    ("detectron2", "--num-gpus {gpus}", "--num-gpus {gpus} MODEL.RPN.POST_NMS_TOPK_TRAIN 2000",
     "rpn_post_nms_topk_train", "MODEL.RPN.POST_NMS_TOPK_TRAIN 2000"),
    ("maskrcnn-benchmark", "SOLVER.IMS_PER_BATCH {images_per_iter}", "SOLVER.IMS_PER_BATCH 32",
     "images_per_gpu", "SOLVER.IMS_PER_BATCH 32"),
    ("maskrcnn-benchmark", "OUTPUT_DIR {output}", "OUTPUT_DIR {output} DTYPE float16", "precision",
     "DTYPE float16"),
    ("detectron", "NUM_GPUS {gpus}", "NUM_GPUS {gpus} TRAIN.IMS_PER_BATCH 1", "images_per_gpu",
     "TRAIN.IMS_PER_BATCH 1"),
    ("mmdetection", "--work-dir {output}", "--work-dir {output} --cfg-options data.samples_per_gpu=4",
     "images_per_gpu", "data.samples_per_gpu=4"),
    ("mmdetection-current", "--work-dir {output}", "--work-dir {output} --amp", "precision", "--amp"),
    ("torchvision", "-b 2", "-b 4", "images_per_gpu", "-b 4"),
    ("torchvision", "-b 2", "--batch-size=1", "images_per_gpu", "--batch-size=1"),
    ("tensorpack", "BACKBONE.STRIDE_1X1=True", "BACKBONE.STRIDE_1X1=False", "backbone_style",
     "BACKBONE.STRIDE_1X1=False"),
    ("tensorpack", "TRAIN.STEPS_PER_EPOCH=50",
     "TRAIN.STEPS_PER_EPOCH=50 PREPROC.TRAIN_SHORT_EDGE_SIZE=[640,800]", "train_short_side",
     "PREPROC.TRAIN_SHORT_EDGE_SIZE=[640,800]"),
]


@pytest.mark.parametrize("name,old,new,setting,argument", CONTRADICTIONS)
def test_a_launch_argument_against_the_declaration_is_an_error(tmp_path, name, old, new, setting, argument):
    path = _copy(tmp_path, name, old, new)
    result = check_recipe(load_recipe(path), path)
    assert len(result.errors) == 1, result.errors
    message = result.errors[0]
    assert str(path) in message or path.name in message
    assert f"[protocol.{setting}] declares" in message and f"`{argument}`" in message

    cli_result = _check([name, "--recipes", str(tmp_path)])
    assert cli_result.exit_code == 1
    assert any(line.startswith("error: ") and setting in line for line in cli_result.output.splitlines())
    # the effective value (from the launch argument) is what the record's deviations show
    assert any("(protocol " in d for d in deviations_for(load_recipe(path)))


def test_a_launch_argument_that_agrees_is_fine(tmp_path):
    path = _copy(tmp_path, "detectron2", "SOLVER.IMS_PER_BATCH {images_per_iter}", "SOLVER.IMS_PER_BATCH 16")
    assert check_recipe(load_recipe(path), path).errors == []
    path = _copy(tmp_path, "torchvision", "-b 2", "--batch-size 2")
    assert check_recipe(load_recipe(path), path).errors == []


def test_images_per_iter_must_agree_with_images_per_gpu(tmp_path):
    path = _copy(tmp_path, "detectron2", '"2 * gpus"', '"1 * gpus"', field="images_per_iter")
    errors = check_recipe(load_recipe(path), path).errors
    # the command's SOLVER.IMS_PER_BATCH {images_per_iter} follows the formula, so it disagrees too
    assert any("images_per_iter =" in e and "declares 2 per GPU" in e for e in errors), errors


def test_a_declaration_changed_to_disagree_with_the_command(tmp_path):
    text = REAL["torchvision"].read_text(encoding="utf-8")
    path = tmp_path / "torchvision.toml"
    path.write_text(text.replace("[protocol.images_per_gpu]\nvalue = 2",
                                 "[protocol.images_per_gpu]\nvalue = 1"))
    errors = check_recipe(load_recipe(path), path).errors
    assert any("`-b 2`" in e and "declares 1" in e for e in errors)
    assert any("images_per_iter" in e for e in errors)


def test_undeclared_and_unknown_settings_are_errors(tmp_path):
    text = REAL["detectron"].read_text(encoding="utf-8")
    text = text.replace("[protocol.mask_pooler_resolution]", "[protocol.mask_pooler_resolutio]")
    path = tmp_path / "detectron.toml"
    path.write_text(text)
    errors = check_recipe(load_recipe(path), path).errors
    assert any("mask_pooler_resolutio]" in e and "is not a setting" in e for e in errors)
    assert any("does not declare mask_pooler_resolution" in e for e in errors)
    assert deviations_for(load_recipe(path))[-1] == "undeclared: mask_pooler_resolution"


# --- the override extractors --------------------------------------------------------------------------------

def test_override_syntaxes():
    tv = rules_for("torchvision")
    assert [o.value for o in launch_overrides(["train.py", "-b4"], tv, 8)] == [4]
    assert [o.value for o in launch_overrides(["train.py", "--lr", "0.04", "--amp"], tv, 8)] == \
        [0.04, "mixed fp16"]
    d2 = rules_for("detectron2")
    got = {o.setting: o.value for o in launch_overrides(
        ["x", "INPUT.MIN_SIZE_TRAIN", "(640, 800)", "MODEL.BACKBONE.FREEZE_AT", "0",
         "SOLVER.IMS_PER_BATCH", "12"],
        d2, 8)}
    assert got == {"train_short_side": [640, 800], "frozen_stages": "none", "images_per_gpu": 1.5}
    mm = rules_for("mmdetection")
    got = {o.setting: o.value for o in launch_overrides(
        ["--cfg-options", "model.backbone.frozen_stages=-1", "train_dataloader.batch_size=4"], mm, 8)}
    assert got == {"frozen_stages": "none", "images_per_gpu": 4}
    assert rules_for("simpledet") == [] and rules_for("somebody-else") is None
    assert rules_for("x", "builtin-torchvision") is RULES["builtin"]
    got = {o.setting: o.value for o in launch_overrides(
        ["-m", "bench.builtin.train", "--norm", "frozen", "--base-lr=0.01", "--amp"],
        rules_for("builtin"), 8)}
    assert got == {"norm": "frozen_bn", "frozen_stages": "stem+res2", "base_lr": 0.01,
                   "precision": "mixed fp16"}


def test_global_batch_on_cpu_is_per_process() -> None:
    """gpus = 0 is one CPU process: a global IMS_PER_BATCH of 2 is 2 images per process, not a deviation."""
    from bench.recipes import find_recipe

    smoke = find_recipe("detectron2-current").with_preset("smoke")
    assert smoke.gpus == 0
    assert not any(d.startswith("img/GPU") for d in deviations_for(smoke))
