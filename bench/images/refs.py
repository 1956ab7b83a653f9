"""Image references: a recipe names `repository:tag` without a registry
(`bench/detectron2-current:02b5c4e-...`); where it lives is the user's choice: `--registry R` or
`BENCH_REGISTRY`, else `localhost` (built here, never pushed)."""

from __future__ import annotations

import os
from bench.vocabulary import EnvVar

DEFAULT_REGISTRY = "localhost"


def registry_for(registry: str | None) -> str:
    return (registry or os.environ.get(EnvVar.REGISTRY) or DEFAULT_REGISTRY).rstrip("/")


def image_ref(name_tag: str, registry: str | None = None) -> str:
    """`bench/x:tag` -> `<registry>/bench/x:tag`; a reference that already names a registry or a digest is
    kept."""
    first = name_tag.split("/", 1)[0]
    if "@sha256:" in name_tag or "." in first or ":" in first or first == "localhost":
        return name_tag
    return f"{registry_for(registry)}/{name_tag}"
