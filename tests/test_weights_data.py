"""Backbone weights (fetch into the cache from a URL or --weights DIR, verified by sha256) and the data check
that `bench run` makes before launching (an empty --data fails in one line)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.recipes.schema import BackboneWeights
from bench.source.weights import fetch_weights

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = b"not really a ResNet-50, but bytes with a known sha256\n" * 1000


@pytest.fixture()
def cache(bench_env):
    return bench_env.cache


def weights_file(tmp_path: Path) -> Path:
    path = tmp_path / "served" / "resnet50-test.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PAYLOAD)
    return path


def test_fetch_from_a_file_url_verifies_and_caches(tmp_path, cache):
    served = weights_file(tmp_path)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    w = BackboneWeights(url=served.as_uri(), file=served.name, format="pth", sha256=digest[:8])
    fetched = fetch_weights(w)
    assert fetched.verified and fetched.sha256 == digest
    assert fetched.path.read_bytes() == PAYLOAD and cache in fetched.path.parents
    served.unlink()  # the second call uses the cache: the URL is gone
    assert fetch_weights(w).path == fetched.path


def test_a_wrong_checksum_is_refused_and_nothing_is_cached(tmp_path, cache):
    served = weights_file(tmp_path)
    w = BackboneWeights(url=served.as_uri(), file=served.name, format="pth", sha256="deadbeef")
    with pytest.raises(BenchError, match="does not match the recipe's \\[weights\\] sha256 deadbeef"):
        fetch_weights(w)
    assert not list(cache.rglob("*.pth")) and not list(cache.rglob(".part-*"))


def test_weights_dir_for_air_gapped_clusters(tmp_path, cache):
    served = weights_file(tmp_path)
    w = BackboneWeights(url="https://unreachable.invalid/x.pth", file=served.name, format="pth",
                        sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert fetch_weights(w, from_dir=served.parent).path.read_bytes() == PAYLOAD
    with pytest.raises(BenchError, match="no file resnet50-test.pth"):
        fetch_weights(w.model_copy(update={"sha256": None}), from_dir=tmp_path)


def test_no_checksum_published_is_unverified_not_silent(tmp_path, cache):
    served = weights_file(tmp_path)
    fetched = fetch_weights(BackboneWeights(url=served.as_uri(), file=served.name, format="pkl"))
    assert not fetched.verified and fetched.sha256 == hashlib.sha256(PAYLOAD).hexdigest()


def test_the_current_recipes_declare_their_backbone_weights():
    from bench.recipes import find_recipe

    declared = {n: find_recipe(n).weights
                for n in ("detectron2-current", "mmdetection-current", "torchvision")}
    assert (declared["torchvision"].sha256 == "0676ba61"
            and declared["torchvision"].file.endswith("-0676ba61.pth"))
    assert declared["mmdetection-current"].sha256 == "5891d200"
    assert declared["detectron2-current"].sha256 is None  # none is published


def test_an_empty_data_dir_fails_in_one_line(tmp_path):
    empty = tmp_path / "coco"
    empty.mkdir()
    done = subprocess.run([sys.executable, "-m", "bench.cli", "run", "builtin", "--preset", "smoke", "--data",
                           str(empty)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "train2017/" in lines[0] and str(empty) in lines[0], done.stderr


def test_data_coco_reports_the_layout(tmp_path):
    root = tmp_path / "coco"
    for name in ("train2017", "val2017"):
        (root / name).mkdir(parents=True)
        (root / name / "1.jpg").write_bytes(b"x")
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_train2017.json").write_text("{}")
    done = subprocess.run([sys.executable, "-m", "bench.cli", "data", "coco", str(root)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1 and "lacks annotations/instances_val2017.json" in done.stdout
    assert "detectron2-current: ready; the run links it with: ln -sfn {data} datasets/coco" in done.stdout


def test_data_coco_on_a_missing_directory_is_one_line(tmp_path):
    """It raised NameError (BenchError was never imported): a traceback instead of the one-line error."""
    done = subprocess.run([sys.executable, "-m", "bench.cli", "data", "coco", str(tmp_path / "absent")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"bench: error: {tmp_path / 'absent'}: no such directory"
