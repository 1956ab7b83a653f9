"""`bench run` (stub)."""

from __future__ import annotations


def run(name: str) -> None:
    """Launch an implementation, watch its log, stop it after the window, record the run."""
    raise NotImplementedError
