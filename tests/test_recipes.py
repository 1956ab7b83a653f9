"""The recipe files, their validation at load time, rendering, and `bench list/show/plan` (no network)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import cli
from bench.errors import RecipeError
from bench.paths import patches_dir, recipes_dir
from bench.recipes.loader import load_all, load_recipe
from bench.recipes.render import render_command, render_env, render_steps

PUBLISHED = {"detectron2": 62, "mmdetection": 53, "maskrcnn-benchmark": 53, "tensorpack": 50, "simpledet": 39,
             "detectron": 19, "matterport": 14}
REQUIRED = set(PUBLISHED) | {"torchvision", "detectron2-current", "mmdetection-current"}
MINIMAL = """
name = "demo"
title = "demo"
family = "demo"
variant = "published"
command = "{python} train.py --gpus {gpus} --data {data} --out {output}"
[framework]
name = "PyTorch"
version = "1.5"
[source]
repo = "https://example.invalid/demo.git"
commit = "0123456789abcdef0123456789abcdef01234567"
[log]
format = "detectron2"
[stack]
python = "3.7"
framework = "PyTorch 1.5"
image = "ghcr.io/bench-images/demo:1"
"""


def recipes() -> dict:
    return {r.name: r for r in load_all() if r.variant != "builtin"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path


def test_every_required_recipe_loads_with_a_full_sha():
    found = recipes()
    assert REQUIRED <= set(found)
    for recipe in found.values():
        assert re.fullmatch(r"[0-9a-f]{40}", recipe.source.commit), recipe.name


def test_published_rows_carry_the_published_numbers_and_the_issue_commits():
    found = recipes()
    commits = {"detectron2": "60205f80f300a7000373ea2dd6ff73574bf16978",
               "mmdetection": "b0d845f1fecf8064db30ef6b456b6ef5f36fa40f",
               "maskrcnn-benchmark": "0ce8f6f64b5c462dc2e8cad14620a188f98b4411",
               "tensorpack": "caafda80b17898b3532c86108155bf7ec0c4d245",
               "simpledet": "9187a10569dd4eab6bfe5c64361a280357b8cd6c",
               "detectron": "7aa91aaa5a85598399dc8d8413e05a06ca366ba7",
               "matterport": "3deaec5d902d16e1daf56b62d5971d428dc920bc"}
    for name, img_s in PUBLISHED.items():
        recipe = found[name]
        assert recipe.variant == "published"
        assert recipe.source.commit == commits[name]
        assert ((recipe.reference.img_s, recipe.reference.gpus, recipe.reference.gpu_model)
                == (img_s, 8, "V100"))
        assert "benchmarks.md" in recipe.reference.source and "line" in recipe.reference.source
        assert (recipe.window.start, recipe.window.end) == (100, 500)
        assert recipe.published_command


def test_images_per_iteration_and_published_env():
    found = recipes()
    for recipe in found.values():
        expected = 8 if recipe.name == "tensorpack" else 16
        assert recipe.images_for(8) == expected, recipe.name
    for name in ("tensorpack", "matterport"):
        assert found[name].env.get("TF_CUDNN_USE_AUTOTUNE") == "0"
    assert "detectron" in found["detectron"].notes.lower() and "last" in found["detectron"].notes.lower()
    assert "exits 2" in found["maskrcnn-benchmark"].notes.lower()


def test_maskrcnn_benchmark_fix_is_recursive():
    steps = recipes()["maskrcnn-benchmark"].patches
    assert [(s.pattern, s.expected, s.expected_files) for s in steps] == [
        ("torch.uint8", {"**/*.py": 11}, {"**/*.py": 7}), ("AT_CHECK", {"**/*.cu": 24}, {"**/*.cu": 2})]


def test_patch_files_exist_and_matterport_records_the_published_blobs():
    for recipe in recipes().values():
        for step in recipe.patches:
            if step.kind == "diff":
                assert (patches_dir() / step.file).is_file(), step.file
    step = recipes()["matterport"].patches[0]
    assert not step.ignore_whitespace
    assert step.expected_blobs["mrcnn/parallel_model.py"] == "060172a"
    assert step.expected_blobs["samples/coco/coco.py"] == "239ed75"


@pytest.mark.parametrize("change, field, message", [
    ('commit = "0123456789abcdef0123456789abcdef01234567"', "source.commit", "full 40-hex"),
    ('command = "{python} train.py --gpus {gpus} --data {data} --out {output}"', "(top level)",
     "unknown placeholder"),
    ('format = "detectron2"', "log", "unknown log format"),
])
def test_malformed_recipes_name_the_file_and_the_field(tmp_path, change, field, message):
    broken = {"source.commit": 'commit = "0123456"',
              "(top level)": 'command = "{python} train.py --batch {batch}"',
              "log": 'format = "no-such-format"'}[field]
    path = write(tmp_path, MINIMAL.replace(change, broken))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    text = str(info.value)
    assert str(path) in text and message in text
    if field != "(top level)":
        assert f"field '{field}" in text


def test_placeholders_are_checked_in_env_and_steps(tmp_path):
    path = write(tmp_path, MINIMAL + '[env]\nDATA_ROOT = "{dataset}"\n')
    with pytest.raises(RecipeError, match="env.DATA_ROOT: unknown placeholder"):
        load_recipe(path)
    path = write(tmp_path, MINIMAL.replace('variant = "published"',
                                           'variant = "published"\nprepare_run = ["ln -s {dta} x"]'))
    with pytest.raises(RecipeError, match="prepare_run.0"):
        load_recipe(path)


def test_substitution_needs_expected_counts(tmp_path):
    step = '\n[[patches]]\nkind = "substitute"\npattern = "a"\nreplacement = "b"\nexpected = {}\n'
    with pytest.raises(RecipeError, match="patches.0"):
        load_recipe(write(tmp_path, MINIMAL + step))
    step = step.replace("expected = {}", 'expected = { "*.py" = 1 }\nexpected_files = { "*.cu" = 1 }')
    with pytest.raises(RecipeError, match="expected_files"):
        load_recipe(write(tmp_path, MINIMAL + step))


def test_render_command_quotes_values_and_fills_every_placeholder(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    argv = render_command(recipe, gpus=4, data="/data/my coco", output="/out", python="/venv/bin/python")
    assert argv == ["/venv/bin/python", "train.py", "--gpus", "4", "--data", "/data/my coco", "--out", "/out"]
    assert render_env(recipe) == {}
    assert render_steps(["ln -sfn {data} x"], data="/a b") == ["ln -sfn '/a b' x"]
    tensorpack = recipes()["tensorpack"]
    argv = render_command(tensorpack, gpus=8, data="/data/coco", output="/o")
    assert argv[:3] == ["mpirun", "-np", "8"] and "DATA.BASEDIR=/data/coco" in argv
    assert render_env(tensorpack) == {"TF_CUDNN_USE_AUTOTUNE": "0"}


def test_bench_list_json_lists_all_recipes_with_full_shas():
    result = CliRunner().invoke(cli, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert REQUIRED <= set(rows)
    for name in REQUIRED:
        assert re.fullmatch(r"[0-9a-f]{40}", rows[name]["commit"])
        assert rows[name]["framework"]
    assert rows["detectron2"]["reference_img_s"] == 62
    assert rows["torchvision"]["reference_img_s"] is None
    table = CliRunner().invoke(cli, ["list"])
    assert table.exit_code == 0 and "detectron2" in table.output


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_bench_plan_and_show_print_every_step(name, tmp_path, bench_env):
    recipe = recipes()[name]
    result = CliRunner().invoke(cli, ["plan", name, "--gpus", "8", "--data", "/data/coco"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert recipe.source.commit in out and "checkout" in out and "fetch" in out
    assert f"{name}-{recipe.source.commit}" in out
    assert out.count("# step") >= len(recipe.patches)
    for key, value in recipe.env.items():
        assert f"export {key}={value}" in out
    assert out.strip().splitlines()[-1] == " ".join(render_command(recipe, gpus=8, data="/data/coco",
                                                                   output="OUTPUT",
                                                                   source_dir=tmp_path / "cache" / "src" /
                                                                   f"{name}-{recipe.source.commit}"))
    shown = CliRunner().invoke(cli, ["show", name])
    assert shown.exit_code == 0 and recipe.source.commit in shown.output


def test_unknown_recipe_is_a_clear_error():
    result = CliRunner().invoke(cli, ["show", "no-such-recipe"])
    assert result.exit_code != 0
    assert "no recipe named 'no-such-recipe'" in str(result.exception)


def test_every_recipe_file_loads():
    for path in sorted(recipes_dir().glob("*.toml")):
        load_recipe(path)
