"""COCOeval summary blocks in training logs, written by running pycocotools' own summarize()."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from bench.coco.summary import DETECTION_LINES
from bench.logs.cocoeval import CocoEvalCollector
from coco_cases import LARGE_SIZES, make_gt, perfect_detections
from writers import write_json


def real_summary(tmp_path: Path, iou_type: str, drop: int = 0) -> list[str]:
    """The exact stdout of COCOeval.evaluate/accumulate/summarize on a large-only dataset (the lines other
    than the 12 summary lines included, e.g. `Evaluate annotation type *bbox*`)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = make_gt(LARGE_SIZES)
    detections = perfect_detections(gt)[drop:]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        coco = COCO(str(write_json(tmp_path / "gt.json", gt)))
        evaluator = COCOeval(coco, coco.loadRes(str(write_json(tmp_path / "dt.json", detections))), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return buffer.getvalue().splitlines()


def collect(lines: list[str]) -> list[dict]:
    collector = CocoEvalCollector()
    for line_no, line in enumerate(lines, 1):
        collector.feed(line, line_no)
    return collector.summaries


def test_real_summarize_output_is_one_block_with_nulls(tmp_path: Path) -> None:
    lines = real_summary(tmp_path, "bbox")
    assert " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000" in lines
    [block] = collect(lines)
    assert block["iou_type"] == "bbox"  # from pycocotools' own `Evaluate annotation type *bbox*`
    assert block["complete"] and [m["name"] for m in block["metrics"]] == [d[4] for d in DETECTION_LINES]
    # (1/3 + 1/2) / 2 categories, as printed
    assert block["values"]["AP"] == 1.0 and block["values"]["AR_1"] == 0.417
    for name in ("AP_small", "AP_medium", "AR_small", "AR_medium"):
        assert block["values"][name] is None
        assert block["null_reasons"][name] == "COCOeval printed -1.000: no ground truth in this area range"
    json.dumps(block)  # ready for the run record's coco_eval


def test_bbox_then_segm_with_logger_prefixes(tmp_path: Path) -> None:
    """torchvision's evaluator announces each type with `IoU metric: ...`; a logger may prefix every line."""
    prefix = "[11/05 14:02:11 d2.evaluation.fast_eval_api]: "
    bbox = [line for line in real_summary(tmp_path, "bbox", drop=3) if "@[" in line]
    segm = [line for line in real_summary(tmp_path, "segm") if "@[" in line]
    log = (["Epoch: [0]  [ 20/100]  eta: 0:00:10  loss: 1.2 (1.3)  time: 0.2500  data: 0.0100",
            "Test: Total time: 0:00:04", "IoU metric: bbox"] + [prefix + line for line in bbox]
           + ["IoU metric: segm"] + [prefix + line for line in segm] + ["Training time 0:05:00"])
    first, second = collect(log)
    assert (first["iou_type"], second["iou_type"]) == ("bbox", "segm")
    assert first["line_no"] == 4 and second["line_no"] == 17
    assert first["complete"] and second["complete"]
    assert first["values"]["AP"] < 1.0 and second["values"]["AP"] == 1.0


def test_back_to_back_blocks_split_on_a_repeated_line(tmp_path: Path) -> None:
    summary = [line for line in real_summary(tmp_path, "bbox") if "@[" in line]
    blocks = collect(summary + summary[:5])
    assert [len(b["metrics"]) for b in blocks] == [12, 5]
    assert not blocks[1]["complete"] and blocks[1]["iou_type"] is None


def test_lines_that_merely_look_similar_are_ignored() -> None:
    assert collect(["loss_bbox: 0.12  Evaluating predictions ...", "mAP @[ IoU=?? ] nothing"]) == []
