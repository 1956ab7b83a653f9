"""Reading COCO ground-truth and detection files, with one-line errors that name the file and the field.

pycocotools itself answers bad input with an AssertionError or a KeyError deep inside `evaluate()`, and some
bad input it accepts silently and scores wrongly (a duplicate annotation id overwrites the first in its index
and drops AP; a NaN area or an annotation of an unknown image is left out of every range). Everything it
would trip over or miscount is checked here first: such a problem is an error. What COCOeval handles as
intended but is still worth knowing (a zero-sized box, which can never be matched) is a warning, returned
with the data."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.files import open_input

GT_KEYS = ("images", "annotations", "categories")


def read_json(path: Path) -> Any:
    if not path.exists():
        raise BenchError(f"{path}: no such file")
    try:
        with open_input(path, "COCO JSON file") as raw:  # a regular file only (never a FIFO or a device)
            return json.load(io.TextIOWrapper(raw, encoding="utf-8"))  # NaN, Infinity and 1e999 are read,
        # then refused with their field
    except UnicodeDecodeError:
        raise BenchError(f"{path}: not a COCO JSON file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}: not a COCO JSON file ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise BenchError(f"{path}: not a COCO JSON file (nested too deeply)") from None
    except OSError as exc:
        raise BenchError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _require(path: Path, where: str, item: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        raise BenchError(f"{path}: {where} is a {type(item).__name__}, expected an object")
    for key in keys:
        if key not in item:
            ident = f" (id {item['id']!r})" if "id" in item else ""
            raise BenchError(f"{path}: {where}{ident} has no {key!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(path: Path, where: str, key: str, value: Any, *, minimum: float | None = 0.0) -> float:
    """A finite number (at least `minimum`), or a one-line error naming the field."""
    if not _is_number(value) or not math.isfinite(value):
        raise BenchError(f"{path}: {where} has a non-numeric or non-finite {key!r}: {value!r}")
    if minimum is not None and value < minimum:
        raise BenchError(f"{path}: {where} has a negative {key!r}: {value!r}")
    return float(value)


def _identifier(path: Path, where: str, key: str, value: Any) -> Any:
    """An id as COCO uses them: an integer (or a string); lists, objects, floats and booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BenchError(f"{path}: {where} has {key!r} {value!r} ({type(value).__name__}); "
                         f"expected an integer id")
    return value


def _unique_ids(path: Path, section: str, items: list[dict]) -> set:
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        ident = _identifier(path, f"{section}[{index}]", "id", item["id"])
        if ident in seen:
            raise BenchError(f"{path}: {section}[{index}] repeats id {ident!r} of {section}[{seen[ident]}]; "
                             f"ids must be unique (COCOeval would keep only one of them)")
        seen[ident] = index
    return set(seen)


def _box(path: Path, where: str, value: Any) -> tuple[float, float, float, float]:
    """[x, y, width, height]: four finite numbers, width and height not negative."""
    if not isinstance(value, list) or len(value) != 4:
        raise BenchError(f"{path}: {where} has 'bbox' {str(value)[:60]}; expected [x, y, width, height]")
    x, y = (_number(path, where, "bbox", v, minimum=None) for v in value[:2])
    width, height = (_number(path, where, "bbox width/height", v) for v in value[2:])
    return x, y, width, height


def _segmentation(path: Path, where: str, value: Any) -> None:
    """Polygons (a list of [x1, y1, x2, y2, ...], each at least three points of finite numbers) or RLE (an
    object): pycocotools reads a polygon of fewer than three points past its end."""
    if not isinstance(value, (list, dict)):
        raise BenchError(f"{path}: {where} has a 'segmentation' of type {type(value).__name__}; expected "
                         f"polygons (a list) or RLE (an object)")
    if isinstance(value, list):
        for k, polygon in enumerate(value):
            if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
                raise BenchError(f"{path}: {where} has segmentation polygon {k} {str(polygon)[:60]}; "
                                 "expected [x1, y1, x2, y2, x3, y3, ...]: at least three points")
            for coordinate in polygon:
                _number(path, where, "segmentation", coordinate, minimum=None)


def geometry_key(iou_type: str | None) -> tuple[str, ...]:
    return {"bbox": ("bbox",), "segm": ("segmentation",)}.get(iou_type or "", ())


def _check_annotation(path: Path, index: int, ann: dict, images: set, categories: set,
                      warnings: list[str]) -> None:
    where = f"annotations[{index}] (id {ann['id']!r})"
    for key, known, section in (("image_id", images, "images"), ("category_id", categories, "categories")):
        ident = _identifier(path, where, key, ann[key])
        if ident not in known:
            raise BenchError(f"{path}: {where} has {key} {ident!r}, which is not among the {section}")
    _number(path, where, "area", ann["area"])
    crowd = ann.setdefault("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise BenchError(f"{path}: {where} has 'iscrowd' {crowd!r}; expected 0 or 1")
    if "bbox" in ann:
        _, _, width, height = _box(path, where, ann["bbox"])
        if not crowd and (width == 0 or height == 0):
            warnings.append(f"{path}: {where} has a zero-sized bbox {ann['bbox']}: COCOeval can never "
                            "match it")
    if "segmentation" in ann:
        _segmentation(path, where, ann["segmentation"])


def load_ground_truth(path: Path, iou_type: str | None = None,
                      warnings: list[str] | None = None) -> dict[str, Any]:
    """A COCO annotation file as a dict, checked for what COCOeval reads. A missing `iscrowd` is set to 0
    (pycocotools would raise KeyError on it). Warnings (problems COCOeval tolerates) are appended to
    `warnings`."""
    warnings = [] if warnings is None else warnings
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
        for key in ("height", "width"):
            if key in image and (not isinstance(image[key], int) or isinstance(image[key], bool)
                                 or image[key] < 1):
                raise BenchError(f"{path}: images[{index}] has {key!r} {image[key]!r}; expected a positive "
                                 "integer")
    for index, category in enumerate(data["categories"]):
        _require(path, f"categories[{index}]", category, ("id",))
    ann_keys = ("id", "image_id", "category_id", "area") + geometry_key(iou_type)
    for index, ann in enumerate(data["annotations"]):
        _require(path, f"annotations[{index}]", ann, ann_keys)
    images = _unique_ids(path, "images", data["images"])
    categories = _unique_ids(path, "categories", data["categories"])
    _unique_ids(path, "annotations", data["annotations"])
    for index, ann in enumerate(data["annotations"]):
        _check_annotation(path, index, ann, images, categories, warnings)
    return data


def load_detections(path: Path, gt: dict[str, Any], gt_path: Path, iou_type: str,
                    warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """A COCO results file (a list of detections), each checked against the ground truth's ids."""
    warnings = [] if warnings is None else warnings
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
    zero_boxes = 0
    for index, det in enumerate(data):
        where = f"detection {index}"
        _require(path, where, det, keys)
        for key, known, section in (("image_id", images, "images"),
                                    ("category_id", categories, "categories")):
            ident = _identifier(path, where, key, det[key])
            if ident not in known:
                raise BenchError(f"{path}: {where} references {key} {ident!r}, which is not among the "
                                 f"{section} of {gt_path}")
        _number(path, where, "score", det["score"], minimum=None)
        if "bbox" in det:
            zero_boxes += 0 in _box(path, where, det["bbox"])[2:]
        if "segmentation" in det:
            _segmentation(path, where, det["segmentation"])
    if zero_boxes:
        warnings.append(f"{path}: {zero_boxes} detection(s) have a zero-sized bbox: they can never match")
    return data


def evaluated_areas(gt: dict[str, Any]) -> np.ndarray:
    """The `area` of every non-crowd annotation: what COCOeval's area ranges are tested against."""
    return np.array([float(ann["area"]) for ann in gt["annotations"] if not ann.get("iscrowd")], dtype=float)
