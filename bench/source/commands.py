"""`bench plan` and `bench setup` (stubs)."""

from __future__ import annotations


def plan(name: str) -> None:
    """Print the exact shell steps setup and run would perform."""
    raise NotImplementedError


def setup(name: str) -> None:
    """Bring the source to its pinned commit and apply and verify its patches."""
    raise NotImplementedError
