"""COCOeval summary blocks inside training logs (the 12 `Average Precision (AP) @[ ... ] = x` lines).

Stub: the COCO evaluation issue fills this in; the interface is fixed so every parser already feeds it."""

from __future__ import annotations


class CocoEvalCollector:
    def __init__(self) -> None:
        self.summaries: list[dict] = []

    def feed(self, line: str, line_no: int) -> None:
        return None
