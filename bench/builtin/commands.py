"""`bench data synth` (stub)."""

from __future__ import annotations


def synth(out: str) -> None:
    """Write a deterministic synthetic COCO-format dataset."""
    raise NotImplementedError
