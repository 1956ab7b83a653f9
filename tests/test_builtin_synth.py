"""`bench data synth`: a COCO-format dataset pycocotools loads, with valid annotations whose areas and boxes
agree with their masks, and the same bytes for the same seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

from bench.builtin.synth import ANNOTATIONS, IMAGE_DIR, ensure_synthetic, synth_dataset  # noqa: E402


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from bench.cli import cli

    out = tmp_path_factory.mktemp("synth") / "ds"
    result = CliRunner().invoke(cli, ["data", "synth", str(out), "--images", "24", "--size", "320x240",
                                      "--seed", "3"])
    assert result.exit_code == 0, result.output
    return out


def _rle(ann: dict, h: int, w: int):
    seg = ann["segmentation"]
    if isinstance(seg, list):
        return mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    if isinstance(seg["counts"], list):
        return mask_utils.frPyObjects(seg, h, w)
    return {"size": seg["size"], "counts": seg["counts"].encode()}


def test_pycocotools_loads_and_every_annotation_is_valid(dataset: Path) -> None:
    coco = COCO(str(dataset / ANNOTATIONS))
    assert len(coco.imgs) == 24 and len(coco.cats) >= 5
    kinds, crowds, sizes = set(), 0, set()
    for ann in coco.anns.values():
        img = coco.imgs[ann["image_id"]]
        h, w = img["height"], img["width"]
        assert ann["category_id"] in coco.cats
        rle = _rle(ann, h, w)
        m = mask_utils.decode(rle)
        assert m.shape == (h, w) and m.sum() > 0
        assert abs(float(mask_utils.area(rle)) - ann["area"]) <= max(1.0, 0.01 * ann["area"])
        assert abs(float(coco.annToMask(ann).sum()) - ann["area"]) <= max(1.0, 0.01 * ann["area"])
        x, y, bw, bh = ann["bbox"]
        assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w + 0.01 and y + bh <= h + 0.01
        assert np.allclose(mask_utils.toBbox(rle), ann["bbox"], atol=0.01)
        kinds.add("polygon" if isinstance(ann["segmentation"], list) else "rle")
        crowds += ann["iscrowd"]
        sizes.add("small" if ann["area"] < 32**2 else "medium" if ann["area"] < 96**2 else "large")
    assert kinds == {"polygon", "rle"}
    assert crowds >= 1
    assert sizes == {"small", "medium", "large"}
    for img in coco.imgs.values():
        from PIL import Image

        with Image.open(dataset / IMAGE_DIR / img["file_name"]) as im:
            assert im.format == "JPEG" and im.size == (img["width"], img["height"])


def test_same_seed_same_bytes_other_seed_differs(dataset: Path, tmp_path: Path) -> None:
    again = synth_dataset(tmp_path / "again", images=24, width=320, height=240, seed=3)
    assert _digest(again) == _digest(dataset)
    other = synth_dataset(tmp_path / "other", images=24, width=320, height=240, seed=4)
    assert _digest(other) != _digest(dataset)
    doc = json.loads((dataset / ANNOTATIONS).read_text())
    assert [c["id"] for c in doc["categories"]] == sorted(c["id"] for c in doc["categories"])


def test_ensure_synthetic_generates_once_into_the_cache(tmp_path: Path, bench_env) -> None:
    first = ensure_synthetic({"images": 4, "size": "160x120", "seed": 1})
    assert first.parent == tmp_path / "cache" / "data" and (first / ANNOTATIONS).is_file()
    stamp = (first / ANNOTATIONS).stat().st_mtime_ns
    assert ensure_synthetic({"images": 4, "size": "160x120", "seed": 1}) == first
    assert (first / ANNOTATIONS).stat().st_mtime_ns == stamp
    with pytest.raises(ValueError):
        ensure_synthetic({"images": 4, "colour": "red"})


def test_bad_size_is_one_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bench.cli import cli

    result = CliRunner().invoke(cli, ["data", "synth", str(tmp_path / "x"), "--size", "big"])
    assert result.exit_code != 0
