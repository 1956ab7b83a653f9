"""`bench table` (stub)."""

from __future__ import annotations


def table() -> None:
    """Regenerate results/README.md and the plots from the records."""
    raise NotImplementedError
