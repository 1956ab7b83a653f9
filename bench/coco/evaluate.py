"""`bench eval`: COCOeval (pycocotools) on a ground-truth and a detection file, its 12 summary numbers with
every -1.000 explained, and the area ranges actually used.

summarize() looks its rows up by the labels 'small', 'medium', 'large' whatever `params.areaRng` holds, so
the labels are kept (in `areaRngLbl`, in the same order as `areaRng`) and every printed line states the
range behind its label."""

from __future__ import annotations

import contextlib
import io
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.coco import ranges, summary
from bench.coco.files import evaluated_areas, load_detections, load_ground_truth
from bench.errors import BenchError

IOU_TYPES = ("bbox", "segm")


def run_cocoeval(gt: dict[str, Any], detections: list[dict[str, Any]], iou_type: str,
                 area_ranges: dict[str, list[float]]) -> list[float]:
    """COCOeval's 12 summary numbers (COCOeval.stats, -1 where no ground truth) for these area ranges."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress; we print the result
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        evaluator.params.areaRng = [list(rng) for rng in area_ranges.values()]
        evaluator.params.areaRngLbl = list(area_ranges)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(value) for value in evaluator.stats]


def evaluate(gt_path: Path, dt_path: Path, iou_type: str = "bbox", area_rng: str = "coco") -> dict[str, Any]:
    """One summary block (the run record's `coco_eval` shape) plus the ranges and ground-truth counts."""
    if iou_type not in IOU_TYPES:
        raise BenchError(f"--iou-type {iou_type!r}: expected one of {', '.join(IOU_TYPES)}")
    warnings: list[str] = []
    gt = load_ground_truth(gt_path, iou_type, warnings)
    if not gt["annotations"]:
        raise BenchError(f"{gt_path}: 'annotations' is empty: nothing to evaluate against")
    detections = load_detections(dt_path, gt, gt_path, iou_type, warnings)
    areas = evaluated_areas(gt)
    mode, area_ranges = ranges.parse(area_rng, areas)
    try:
        values = run_cocoeval(gt, detections, iou_type, area_ranges)
    except (AssertionError, KeyError, IndexError, TypeError, ValueError) as exc:  # what pycocotools raises
        raise BenchError(f"{dt_path}: COCOeval could not evaluate it against {gt_path}: "
                         f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    block = summary.new_block(iou_type, "bench eval", area_ranges=area_ranges)
    for (kind, iou, area, max_dets, _), value in zip(summary.DETECTION_LINES, values):
        summary.add_metric(block, kind, iou, area, max_dets, value)
    block.update({"gt": str(gt_path), "dt": str(dt_path), "area_rng_mode": mode,
                  "ground_truth_per_range": ranges.counts(areas, area_ranges),
                  "detections": len(detections), "evaluator": f"pycocotools {version('pycocotools')}",
                  "warnings": warnings})
    if mode != "coco":
        block["caveat"] = ranges.COMPARABILITY_CAVEAT
    return block


def format_block(block: dict[str, Any]) -> str:
    """summarize()'s 12 lines, each area label followed by its range, -1.000 as n/a with the reason."""
    area_ranges = block["area_ranges"]
    width = max(len(ranges.range_text(rng)) for rng in area_ranges.values())
    lines = [f"COCOeval {block['iou_type']} ({block['evaluator']}): {block['gt']} vs {block['dt']} "
             f"({block['detections']} detections)"]
    for metric in block["metrics"]:
        iou, area = metric["iou"], metric["area"]
        shown = (f"n/a ({summary.NO_GROUND_TRUTH})" if metric["value"] is None else f"{metric['value']:0.3f}")
        lines.append(f" {summary.TITLES[metric['kind']]:<18} ({metric['kind']}) @[ IoU={iou:<9} | "
                     f"area={area:>6s} {ranges.range_text(area_ranges[area]):<{width}} | "
                     f"maxDets={metric['max_dets']:>3d} ] = {shown}")
    counts = block["ground_truth_per_range"]
    used = ", ".join(f"{label} {ranges.range_text(rng)} ({counts[label]} GT)"
                     for label, rng in area_ranges.items())
    lines.append(f"area ranges ({block['area_rng_mode']}; pixels², both ends inclusive; "
                 f"non-crowd ground truth per range): {used}")
    for label, rng in area_ranges.items():
        if counts[label] == 0:
            lines.append(ranges.empty_sentence(label, rng).replace("will print", "prints"))
    if block.get("caveat"):
        lines.append(block["caveat"])
    lines += [f"warning: {w}" for w in block.get("warnings", [])]
    return "\n".join(lines)
