"""One stack for the current rows: recipes/stacks/current.toml declares the torch/torchvision/CUDA pins; every
recipe that names it installs exactly those on the host and its image's Dockerfile installs the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.errors import RecipeError
from bench.recipes.loader import load_all, load_recipe
from bench.recipes.stacks import load_stack

ROOT = Path(__file__).resolve().parents[1]
CURRENT = ("detectron2-current", "mmdetection-current", "torchvision", "builtin")


def current_recipes():
    return {r.name: r for r in load_all(ROOT / "recipes") if r.name in CURRENT}


def test_every_current_recipe_names_the_current_stack():
    assert {name: r.stack_pins for name, r in current_recipes().items()} == \
        {name: "current" for name in CURRENT}


def test_host_installs_use_the_stack_pins():
    stack = load_stack("current", ROOT / "recipes")
    wanted = f"torch=={stack.torch} torchvision=={stack.torchvision}"
    for recipe in current_recipes().values():
        steps = list(recipe.install) + [s for p in recipe.presets.values() for s in (p.install or [])]
        torch_steps = [s for s in steps if re.search(r"\btorch==", s)]
        assert torch_steps, recipe.name
        assert all(wanted in s for s in torch_steps), (recipe.name, torch_steps)


def test_images_install_the_same_pins_and_cuda():
    stack = load_stack("current", ROOT / "recipes")
    for recipe in current_recipes().values():
        assert recipe.stack.python == stack.python, recipe.name
        text = (ROOT / recipe.stack.dockerfile).read_text()
        if recipe.stack.wheels:  # builtin: a host wheelhouse holds the pins
            assert recipe.stack.wheels == [f"torch=={stack.torch}", f"torchvision=={stack.torchvision}"]
            continue
        assert recipe.stack.cuda == stack.cuda, recipe.name
        assert recipe.stack.base.args["CUDA_TAG"] == stack.cuda_tag, recipe.name
        assert (f"torch=={stack.torch} torchvision=={stack.torchvision} "
                f"--index-url {stack.image_index}") in text, recipe.name
        assert not re.search(r"torch==(?!" + re.escape(stack.torch) + r"\b)", text), recipe.name


def test_mmcv_is_built_against_the_stack():
    stack = load_stack("current", ROOT / "recipes")
    recipe = current_recipes()["mmdetection-current"]
    assert any(f"mmcv=={stack.mmcv}" in s for s in recipe.install)
    assert f"mmcv=={stack.mmcv}" in (ROOT / recipe.stack.dockerfile).read_text()
    assert recipe.stack.others["mmcv"] == stack.mmcv


def test_unknown_stack_is_one_line_naming_the_file(tmp_path):
    text = (ROOT / "recipes" / "torchvision.toml").read_text().replace('stack_pins = "current"',
                                                                       'stack_pins = "nope"')
    (tmp_path / "torchvision.toml").write_text(text)
    with pytest.raises(RecipeError, match=r"stacks/nope.toml: no such stack file"):
        load_recipe(tmp_path / "torchvision.toml")
