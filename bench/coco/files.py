"""Reading COCO ground-truth and detection files, with one-line errors that name the file and the field.

pycocotools itself answers bad input with an AssertionError or a KeyError deep inside `evaluate()`;
everything it would trip over is checked here first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError

GT_KEYS = ("images", "annotations", "categories")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise BenchError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except UnicodeDecodeError:
        raise BenchError(f"{path}: not a COCO JSON file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}: not a COCO JSON file ({exc.msg} at line {exc.lineno})") from None


def _require(path: Path, where: str, item: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        raise BenchError(f"{path}: {where} is a {type(item).__name__}, expected an object")
    for key in keys:
        if key not in item:
            ident = f" (id {item['id']})" if "id" in item else ""
            raise BenchError(f"{path}: {where}{ident} has no {key!r}")


def geometry_key(iou_type: str | None) -> tuple[str, ...]:
    return {"bbox": ("bbox",), "segm": ("segmentation",)}.get(iou_type or "", ())


def load_ground_truth(path: Path, iou_type: str | None = None) -> dict[str, Any]:
    """A COCO annotation file as a dict, checked for what COCOeval reads. A missing `iscrowd` is set to 0
    (pycocotools would raise KeyError on it)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise BenchError(f"{path}: not a COCO annotation file: the top level is a {type(data).__name__}, "
                         "expected an object with 'images', 'annotations' and 'categories'")
    for key in GT_KEYS:
        if key not in data:
            raise BenchError(f"{path}: not a COCO annotation file: no {key!r} key")
        if not isinstance(data[key], list):
            raise BenchError(f"{path}: {key!r} is a {type(data[key]).__name__}, expected a list")
    image_keys = ("id", "height", "width") if iou_type == "segm" else ("id",)
    for index, image in enumerate(data["images"]):
        _require(path, f"images[{index}]", image, image_keys)
    for index, category in enumerate(data["categories"]):
        _require(path, f"categories[{index}]", category, ("id",))
    ann_keys = ("id", "image_id", "category_id", "area") + geometry_key(iou_type)
    for index, ann in enumerate(data["annotations"]):
        _require(path, f"annotations[{index}]", ann, ann_keys)
        if isinstance(ann["area"], bool) or not isinstance(ann["area"], (int, float)):
            raise BenchError(f"{path}: annotations[{index}] (id {ann['id']}) has a non-numeric 'area': "
                             f"{ann['area']!r}")
        ann.setdefault("iscrowd", 0)
    return data


def load_detections(path: Path, gt: dict[str, Any], gt_path: Path, iou_type: str) -> list[dict[str, Any]]:
    """A COCO results file (a list of detections), each checked against the ground truth's ids."""
    data = read_json(path)
    if isinstance(data, dict):
        raise BenchError(f"{path}: expected a JSON list of detections (COCO results format), found an object "
                         f"with keys {', '.join(sorted(data)[:5])}")
    if not isinstance(data, list):
        raise BenchError(f"{path}: expected a JSON list of detections, found a {type(data).__name__}")
    if not data:
        raise BenchError(f"{path}: the detection list is empty: nothing to evaluate")
    images = {image["id"] for image in gt["images"]}
    categories = {category["id"] for category in gt["categories"]}
    keys = ("image_id", "category_id", "score") + geometry_key(iou_type)
    for index, det in enumerate(data):
        _require(path, f"detection {index}", det, keys)
        if det["image_id"] not in images:
            raise BenchError(f"{path}: detection {index} references image_id {det['image_id']!r}, "
                             f"which is not among the images of {gt_path}")
        if det["category_id"] not in categories:
            raise BenchError(f"{path}: detection {index} references category_id {det['category_id']!r}, "
                             f"which is not among the categories of {gt_path}")
    return data


def evaluated_areas(gt: dict[str, Any]) -> np.ndarray:
    """The `area` of every non-crowd annotation: what COCOeval's area ranges are tested against."""
    return np.array([float(ann["area"]) for ann in gt["annotations"] if not ann.get("iscrowd")], dtype=float)
