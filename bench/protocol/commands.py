"""`bench check` (stub)."""

from __future__ import annotations


def check(name: str) -> None:
    """Print a recipe's deviations from the benchmark protocol."""
    raise NotImplementedError
