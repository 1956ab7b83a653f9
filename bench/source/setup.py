"""`prepare`: bring a recipe's source to its pinned commit with its patches applied and verified.

Stub: the recipes issue fills this in. The signature is the contract the runner and k8s code rely on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PreparedSource:
    path: Path | None  # the checkout (None for the built-in implementation)
    commit: str | None
    patch_hashes: list[dict] = field(default_factory=list)  # [{"step", "kind", "name", "sha256"}]
    manifest: Path | None = None


def prepare(recipe, source: str | None = None, workdir: Path | None = None) -> PreparedSource:
    if recipe.source is None:
        return PreparedSource(path=None, commit=None)
    raise NotImplementedError("bench.source.setup.prepare")
