"""The 12 lines of `COCOeval.summarize()` for bbox/segm, and the block shape stored in a run record's
`coco_eval` field. `bench eval` and the log collector (bench.logs.cocoeval) both build blocks here, so a
block looks the same whether it was computed by bench or read from a training log."""

from __future__ import annotations

from typing import Any

# summarize() prints -1.000 where no ground truth was evaluated (precision/recall stay at their -1 fill).
NO_GROUND_TRUTH = "no ground truth in this area range"

# (kind, IoU, area label, maxDets, short name), in the order summarize() prints them.
DETECTION_LINES: tuple[tuple[str, str, str, int, str], ...] = (
    ("AP", "0.50:0.95", "all", 100, "AP"),
    ("AP", "0.50", "all", 100, "AP50"),
    ("AP", "0.75", "all", 100, "AP75"),
    ("AP", "0.50:0.95", "small", 100, "AP_small"),
    ("AP", "0.50:0.95", "medium", 100, "AP_medium"),
    ("AP", "0.50:0.95", "large", 100, "AP_large"),
    ("AR", "0.50:0.95", "all", 1, "AR_1"),
    ("AR", "0.50:0.95", "all", 10, "AR_10"),
    ("AR", "0.50:0.95", "all", 100, "AR_100"),
    ("AR", "0.50:0.95", "small", 100, "AR_small"),
    ("AR", "0.50:0.95", "medium", 100, "AR_medium"),
    ("AR", "0.50:0.95", "large", 100, "AR_large"),
)
_NAMES = {line[:4]: line[4] for line in DETECTION_LINES}
TITLES = {"AP": "Average Precision", "AR": "Average Recall"}


def metric_name(kind: str, iou: str, area: str, max_dets: int) -> str:
    """The short name of one summary line ('AP_small'); a non-standard line keeps its full description."""
    return _NAMES.get((kind, iou, area, max_dets)) or f"{kind}@[IoU={iou}|area={area}|maxDets={max_dets}]"


def null_reason(area: str) -> str:
    if area == "all":
        return "COCOeval printed -1.000: no ground truth was evaluated"
    return f"COCOeval printed -1.000: {NO_GROUND_TRUTH}"


def new_block(iou_type: str | None, source: str, line_no: int | None = None,
              area_ranges: dict[str, list[float]] | None = None) -> dict[str, Any]:
    """An empty summary block; `add_metric` fills it. `area_ranges` is None where the ranges are unknown
    (a training log prints labels only, and summarize() labels any areaRng 'small'/'medium'/'large')."""
    return {"iou_type": iou_type, "source": source, "line_no": line_no, "area_ranges": area_ranges,
            "complete": False, "values": {}, "null_reasons": {}, "metrics": []}


def add_metric(block: dict[str, Any], kind: str, iou: str, area: str, max_dets: int, value: float | None,
               line_no: int | None = None) -> None:
    """One summary line into the block; -1 (and NaN) is stored as None with the reason."""
    name = metric_name(kind, iou, area, max_dets)
    entry: dict[str, Any] = {"name": name, "kind": kind, "iou": iou, "area": area, "max_dets": max_dets}
    if value is None or value != value:
        value, reason = None, "not a number"
    elif value < 0:
        value, reason = None, null_reason(area)
    else:
        reason = None
    entry["value"] = value
    if reason:
        entry["reason"] = reason
        block["null_reasons"][name] = reason
    if line_no is not None:
        entry["line_no"] = line_no
    block["metrics"].append(entry)
    block["values"][name] = value
    block["complete"] = all(line[4] in block["values"] for line in DETECTION_LINES)


def has_metric(block: dict[str, Any], kind: str, iou: str, area: str, max_dets: int) -> bool:
    return metric_name(kind, iou, area, max_dets) in block["values"]
