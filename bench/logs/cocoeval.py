"""COCOeval summary blocks inside training logs: the 12 lines `COCOeval.summarize()` prints,
` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.123`, after any logger prefix.

Consecutive summary lines form one block (a log may hold several: bbox then segm, or one per epoch); a block
ends when a line repeats one it already holds or more than `GAP` other lines pass. The IoU type comes from
the line announcing the evaluation, where one precedes the block (torchvision's `IoU metric: bbox`,
pycocotools' `Evaluate annotation type *bbox*`, mmdetection's `Evaluating bbox...`). Every logical line of
every log passes through `feed`, so a substring test guards each regex."""

from __future__ import annotations

import re
from typing import Any

from bench.coco.summary import add_metric, has_metric, new_block

SUMMARY_LINE = re.compile(r"Average (?:Precision|Recall)\s+\((AP|AR)\) @\[ IoU=\s*([0-9.:]+)\s*\| "
                          r"area=\s*(\S+)\s*\| maxDets=\s*(\d+)\s*\] = (\S+)")
IOU_TYPE_LINE = re.compile(r"(?:IoU metric: |Evaluate annotation type \*|Evaluating )(bbox|segm|keypoints)\b")
GAP = 3  # other lines allowed inside one block (another rank's output, say)


class CocoEvalCollector:
    def __init__(self) -> None:
        self.summaries: list[dict[str, Any]] = []  # the run record's `coco_eval`, in log order
        self._block: dict[str, Any] | None = None
        self._last_line = 0
        self._iou_type: str | None = None  # announced, waiting for its block

    def feed(self, line: str, line_no: int) -> None:
        if "@[ IoU=" in line:
            self._summary_line(line, line_no)
        elif "IoU metric: " in line or "annotation type *" in line or "Evaluating " in line:
            match = IOU_TYPE_LINE.search(line)
            if match:
                self._iou_type = match.group(1)

    def _summary_line(self, line: str, line_no: int) -> None:
        match = SUMMARY_LINE.search(line)
        if match is None:
            return
        kind, iou, area, max_dets, text = match.groups()
        try:
            value: float | None = float(text)
        except ValueError:
            value = None
        block = self._block
        if block is None or line_no - self._last_line > GAP + 1 or has_metric(block, kind, iou, area,
                                                                                 int(max_dets)):
            block = self._block = new_block(self._iou_type, "log", line_no)
            self._iou_type = None
            self.summaries.append(block)
        add_metric(block, kind, iou, area, int(max_dets), value, line_no)
        self._last_line = line_no
