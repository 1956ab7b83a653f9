"""Isolated software environments per recipe variant (a virtual environment under the cache, keyed by pins).

Stub until the "real frameworks" issue lands: recipes without install steps run with bench's own Python."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Environment:
    python: Path  # the interpreter that fills the {python} placeholder
    packages: dict[str, str] = field(default_factory=dict)  # name -> version, for the run record


def ensure_environment(recipe, source_dir: Path | None) -> Environment:
    """Create (or reuse) the recipe's environment and run its install steps in it."""
    return Environment(python=Path(sys.executable))
