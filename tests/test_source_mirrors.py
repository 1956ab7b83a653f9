"""`bench setup` against real upstream mirrors. Skipped unless BENCH_MIRRORS names a folder of mirrors
(e.g. BENCH_MIRRORS=/work/.mirror, holding owner+name/repo checkouts); never uses the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.recipes.loader import find_recipe
from bench.source.git import git
from bench.source.setup import prepare

MIRRORS = os.environ.get("BENCH_MIRRORS")
pytestmark = pytest.mark.skipif(not MIRRORS, reason="set BENCH_MIRRORS to a folder of upstream mirrors")

# recipe -> mirror folder (owner+name); small forks hold the commits of repositories too large to mirror
WHERE = {
    "detectron2": "facebookresearch+detectron2", "detectron2-current": "facebookresearch+detectron2",
    "mmdetection": "xvjiarui+mmdetection", "maskrcnn-benchmark": "facebookresearch+maskrcnn-benchmark",
    "tensorpack": "tensorpack+tensorpack", "simpledet": "TuSimple+simpledet",
    "detectron": "facebookresearch+Detectron", "matterport": "madobet+Mask_RCNN",
}


def mirror(name: str) -> Path:
    path = Path(MIRRORS or "") / WHERE[name] / "repo"
    if not path.exists():
        pytest.skip(f"no mirror {path}")
    return path


@pytest.mark.parametrize("name", sorted(WHERE))
def test_setup_against_the_mirror(name, bench_env):
    recipe = find_recipe(name)
    prepared = prepare(recipe, source=str(mirror(name)), allow_missing_blobs=True)
    assert git(["rev-parse", "HEAD"], cwd=prepared.path).stdout.strip() == recipe.source.commit
    assert prepare(recipe, source=str(mirror(name)), allow_missing_blobs=True).reused
    if name == "matterport":
        for file, blob in {"mrcnn/parallel_model.py": "060172a", "samples/coco/coco.py": "239ed75"}.items():
            assert git(["hash-object", file], cwd=prepared.path).stdout.startswith(blob)
    if name == "maskrcnn-benchmark":
        changed = git(["diff", "--numstat"], cwd=prepared.path).stdout.splitlines()
        assert len(changed) == 9  # 7 .py + 2 .cu
