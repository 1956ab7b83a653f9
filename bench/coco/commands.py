"""`bench eval` and `bench data stats` (stubs)."""

from __future__ import annotations


def evaluate(gt: str, dt: str) -> None:
    """Run COCOeval and explain -1.000 rows."""
    raise NotImplementedError


def stats(annotations: str) -> None:
    """Describe a COCO-format dataset's area distribution."""
    raise NotImplementedError
