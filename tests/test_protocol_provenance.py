"""Provenance hashes and staleness: a record measured from a recipe goes stale when the recipe or a patch
changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.vocabulary import RunStatus
from bench.paths import patches_dir, recipes_dir
from bench.protocol.check import deviations_for
from bench.records.provenance import (is_stale, patch_files_for, provenance_for, provenance_hash,
                                       stale_rows, staleness)
from bench.recipes.loader import load_recipe
from bench.records.schema import RunRecord, Throughput


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A recipe directory and a patch directory holding copies of two real recipes (one with a diff patch)."""
    recipes, patches = tmp_path / "recipes", tmp_path / "patches"
    recipes.mkdir()
    for name in ("matterport", "tensorpack"):
        shutil.copy(recipes_dir() / f"{name}.toml", recipes / f"{name}.toml")
    shutil.copytree(patches_dir() / "matterport", patches / "matterport")
    return recipes, patches


def _record(recipes: Path, patches: Path, name: str, *, created: str = "2026-01-01T00:00:00Z",
            preset: str | None = None, bench_version: str = "0.1.0", origin: str = "run") -> RunRecord:
    path = recipes / f"{name}.toml"
    recipe = load_recipe(path).with_preset(preset)  # the runner hashes the recipe with its preset applied
    provenance = provenance_for(recipe, path, recipe.stack.image, patches_directory=patches,
                                bench_version=bench_version)
    return RunRecord(run_id=f"{name}-{created}", created=created, implementation=name, family=recipe.family,
                     variant=recipe.variant, title=recipe.title, framework=recipe.framework.name,
                     preset=preset, status=RunStatus.OK, gpus=8, images_per_iter=recipe.images_for(8),
                     window_requested=[100, 500], log_format=recipe.log.format,
                     framework_timing=Throughput(throughput_img_s=14.0, window=[100, 500]),
                     provenance=provenance, deviations=deviations_for(recipe), origin=origin)


def test_hash_covers_recipe_patches_image_protocol_and_bench(tree):
    recipes, patches = tree
    path = recipes / "matterport.toml"
    recipe = load_recipe(path)
    files = patch_files_for(recipe, patches)
    assert [f.name for f in files] == ["benchmark-hyperparameters.diff"]
    base = provenance_hash(recipe, path, files, "img:1", 1, "0.1.0")
    assert base == provenance_hash(recipe, path, files, "img:1", 1, "0.1.0")  # deterministic
    assert len({base, provenance_hash(recipe, path, files, "img:2", 1, "0.1.0"),
                provenance_hash(recipe, path, files, "img:1", 2, "0.1.0"),
                provenance_hash(recipe, path, files, "img:1", 1, "0.2.0"),
                provenance_hash(recipe, path, [], "img:1", 1, "0.1.0")}) == 5
    record = _record(recipes, patches, "matterport")
    assert record.provenance.protocol_version == 1 and record.provenance.patches[0].kind == "diff"
    assert record.provenance.hash == provenance_hash(recipe, path, files, recipe.stack.image, 1, "0.1.0")


def test_record_goes_stale_when_the_recipe_changes(tree):
    recipes, patches = tree
    record = _record(recipes, patches, "tensorpack")
    assert staleness(record, recipes, patches) == "fresh" and not is_stale(record, recipes, patches)
    path = recipes / "tensorpack.toml"
    path.write_text(path.read_text().replace(
        "STEPS_PER_EPOCH=50 --load ImageNet-R50-AlignPadding.npz --logdir",
        "STEPS_PER_EPOCH=100 --load ImageNet-R50-AlignPadding.npz --logdir"))
    assert is_stale(record, recipes, patches)
    assert stale_rows([record], recipes, patches) == [("tensorpack", None)]


def test_descriptive_edits_leave_rows_fresh(tree):
    recipes, patches = tree
    record = _record(recipes, patches, "tensorpack")
    path = recipes / "tensorpack.toml"
    text = path.read_text()
    edited = text.replace('notes = """', 'notes = """A note added after the run.\n', 1) + "\n# a comment\n"
    assert edited != text
    path.write_text(edited)
    assert not is_stale(record, recipes, patches)


def test_record_goes_stale_when_a_patch_changes(tree):
    recipes, patches = tree
    record = _record(recipes, patches, "matterport")
    assert not is_stale(record, recipes, patches)
    diff = patches / "matterport" / "benchmark-hyperparameters.diff"
    diff.write_text(diff.read_text() + "\n")
    assert is_stale(record, recipes, patches)


def test_a_newer_bench_alone_does_not_make_rows_stale(tree):
    recipes, patches = tree
    record = _record(recipes, patches, "tensorpack", bench_version="0.0.1-old")
    assert not is_stale(record, recipes, patches)


def test_unknown_rather_than_stale(tree):
    recipes, patches = tree
    record = _record(recipes, patches, "tensorpack")
    assert staleness(record.model_copy(update={"origin": "imported"}), recipes, patches) == "unknown"
    unhashed = record.model_copy(update={"provenance": record.provenance.model_copy(update={"hash": ""})})
    assert staleness(unhashed, recipes, patches) == "unknown"
    (recipes / "tensorpack.toml").unlink()
    assert staleness(record, recipes, patches) == "unknown" and not is_stale(record, recipes, patches)


SMOKE_PRESET = ('\n[presets.smoke]\ndescription = "short"\ncomparable = false\n'
                'window = { start = 10, end = 40 }\n')


def test_stale_rows_look_at_the_latest_record_per_recipe_and_preset(tree):
    recipes, patches = tree
    path = recipes / "tensorpack.toml"
    path.write_text(path.read_text() + SMOKE_PRESET)
    smoke = _record(recipes, patches, "tensorpack", preset="smoke")  # an old smoke row stays stale
    old_tp = _record(recipes, patches, "tensorpack", created="2026-01-01T00:00:00Z")
    old_mp = _record(recipes, patches, "matterport", created="2026-01-01T00:00:00Z")
    path.write_text(path.read_text().replace(
        "STEPS_PER_EPOCH=50 --load ImageNet-R50-AlignPadding.npz --logdir",
        "STEPS_PER_EPOCH=100 --load ImageNet-R50-AlignPadding.npz --logdir"))
    new_tp = _record(recipes, patches, "tensorpack", created="2026-02-01T00:00:00Z")  # re-measured: fresh
    rows = stale_rows([old_tp, old_mp, new_tp, smoke], recipes, patches)
    assert rows == [("tensorpack", "smoke")]
    assert stale_rows([old_tp, old_mp, new_tp], recipes, patches) == []


def test_record_carries_the_deviations(tree):
    recipes, patches = tree
    record = _record(recipes, patches, "tensorpack")
    assert "img/GPU 1 (protocol 2)" in record.deviations
    again = RunRecord.model_validate_json(record.model_dump_json())
    assert again.deviations == record.deviations and again.provenance.hash == record.provenance.hash


def test_a_preset_row_is_fresh_against_the_recipe_with_that_preset(tree):
    recipes, patches = tree
    path = recipes / "tensorpack.toml"
    path.write_text(path.read_text() + SMOKE_PRESET)
    smoke = _record(recipes, patches, "tensorpack", preset="smoke")
    assert staleness(smoke, recipes, patches) == "fresh"
    path.write_text(path.read_text().replace("end = 40", "end = 50"))
    assert staleness(smoke, recipes, patches) == "stale"
    gone = smoke.model_copy(update={"preset": "nightly"})
    assert staleness(gone, recipes, patches) == "unknown"


def test_bench_run_stale_reruns_only_stale_rows(tree, bench_env):
    """`bench run --stale --dry-run` plans exactly the rows whose recipe changed since they were measured."""
    from typer.testing import CliRunner

    from bench.cli import cli
    from bench.records.store import save_record

    recipes, patches = bench_env.use_recipes(tree[0]), bench_env.use_patches(tree[1])
    for name in ("tensorpack", "matterport"):
        save_record(_record(recipes, patches, name), bench_env.runs / name)
    runner = CliRunner()
    assert "no stale rows" in runner.invoke(cli, ["run", "--stale", "--dry-run"]).output
    path = recipes / "tensorpack.toml"
    path.write_text(path.read_text().replace(
        "STEPS_PER_EPOCH=50 --load ImageNet-R50-AlignPadding.npz --logdir",
        "STEPS_PER_EPOCH=100 --load ImageNet-R50-AlignPadding.npz --logdir"))
    out = runner.invoke(cli, ["run", "--stale", "--dry-run"]).output
    assert "recipe   tensorpack" in out and "matterport" not in out
