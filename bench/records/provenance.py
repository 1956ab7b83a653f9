"""Provenance hashes and staleness of run records.

The hash covers what decides what was measured: the recipe's content that decides what runs (every field
except the descriptive ones: title, notes, published reference, published command text and the protocol
declarations), the bytes of every patch file it applies, the container image, the protocol version and the
bench version. A row is **stale** when the recipe or its patches (or the protocol version) changed since it
was measured. Decisions:

- Editing a recipe's notes or its protocol evidence does not re-open its measurements; editing its command,
  env, source, patches, window, stack or presets does. (The record keeps the file's own sha256 as well, for
  tracing.)

- The bench version is hashed (it is part of the provenance) but a newer bench alone does not make a row
  stale: staleness recomputes the hash with the record's own bench version and container image, and the
  current recipe file, patch files and protocol version. (The image a run used may come from an override, and
  an image change written into the recipe already changes the recipe's bytes.)
- A record whose recipe no longer exists, an imported record (published numbers), or a record without a hash
  is **unknown**, not stale: there is nothing to re-run it from. `is_stale` is False for those; `staleness`
  says which.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal
from collections.abc import Iterable

from bench import __version__
from bench.errors import BenchError
from bench.files import file_sha256
from bench.paths import patches_dir
from bench.protocol.spec import CURRENT_VERSION
from bench.recipes.loader import load_recipe, recipe_path
from bench.recipes.schema import DiffPatch, Recipe
from bench.records.schema import PatchHash, Provenance, RunRecord
from bench.source.setup import expected_patch_hashes

Staleness = Literal["fresh", "stale", "unknown"]


def _sha256_file(path: Path) -> str:
    try:
        return file_sha256(path)
    except FileNotFoundError:
        return "missing"


def patch_files_for(recipe: Recipe, patches_directory: Path | None = None) -> list[Path]:
    """The patch files the recipe applies, in order (substitution steps live in the recipe file itself)."""
    base = patches_directory or patches_dir()
    return [base / step.file for step in recipe.patches if isinstance(step, DiffPatch)]


# Recipe fields that describe a run without changing it.
DESCRIPTIVE_FIELDS = frozenset({"title", "notes", "reference", "published_command", "protocol",
                                "cpu_preset"})  # a record names its preset itself


def recipe_digest(recipe: Recipe) -> str:
    """sha256 of the recipe's content that decides what runs (its validated model less the descriptive
    fields)."""
    content = recipe.model_dump(mode="json", exclude=set(DESCRIPTIVE_FIELDS))
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def provenance_hash(recipe: Recipe, recipe_path: Path | str, patch_files: Iterable[Path | str],
                    container_image: str | None, protocol_version: int | None, bench_version: str) -> str:
    """sha256 over the recipe's name and executed content, the bytes of each patch file (in order), the
    container image, the protocol version and the bench version. A missing patch file hashes as 'missing' (the
    run would fail). `recipe_path` is kept in the signature for callers; the file's own bytes are not hashed
    (see the module doc)."""
    payload = {
        "recipe": recipe.name,
        "recipe_content": recipe_digest(recipe),
        "patches": [_sha256_file(Path(p)) for p in patch_files],
        "container_image": container_image,
        "protocol_version": protocol_version,
        "bench_version": bench_version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def current_hash_for(record: RunRecord, recipes_directory: Path | None = None,
                     patches_directory: Path | None = None) -> str | None:
    """The hash the record would have if it were measured now with its bench version and image (None:
    unknown)."""
    prov = record.provenance
    path = recipe_path(prov.recipe or record.implementation, recipes_directory)
    if not path.exists():
        return None
    try:
        recipe = load_recipe(path)
    except BenchError:
        return None  # a recipe that no longer loads cannot be re-run; `bench check` reports it
    if record.preset:
        if record.preset not in recipe.presets:
            return None  # the preset is gone: nothing to re-run the row from
        recipe = recipe.with_preset(record.preset)  # the runner hashes the recipe with its preset applied
    return provenance_hash(recipe, path, patch_files_for(recipe, patches_directory), prov.container_image,
                           CURRENT_VERSION, prov.bench_version)


def staleness(record: RunRecord, recipes_directory: Path | None = None,
              patches_directory: Path | None = None) -> Staleness:
    if record.origin != "run" or not record.provenance.hash:
        return "unknown"
    current = current_hash_for(record, recipes_directory, patches_directory)
    if current is None:
        return "unknown"
    return "fresh" if current == record.provenance.hash else "stale"


def is_stale(record: RunRecord, recipes_directory: Path | None = None,
             patches_directory: Path | None = None) -> bool:
    """True when the record's recipe or patches (or the protocol version) changed since it was measured."""
    return staleness(record, recipes_directory, patches_directory) == "stale"


def stale_rows(records: Iterable[RunRecord], recipes_directory: Path | None = None,
               patches_directory: Path | None = None) -> list[tuple[str, str | None]]:
    """(recipe, preset) pairs whose latest record is stale: what `bench run --stale` re-runs."""
    latest: dict[tuple[str, str | None], RunRecord] = {}
    for record in records:
        key = (record.implementation, record.preset)
        if key not in latest or record.created > latest[key].created:
            latest[key] = record
    return sorted((key for key, record in latest.items()
                   if is_stale(record, recipes_directory, patches_directory)),
                  key=lambda k: (k[0], k[1] or ""))


def provenance_for(recipe: Recipe, recipe_path: Path | str, container_image: str | None, *,
                   repo: str | None = None, commit: str | None = None, patches_directory: Path | None = None,
                   bench_version: str | None = None) -> Provenance:
    """The record's whole `provenance` block, hash included: what the runner writes for a run of `recipe`."""

    version = bench_version or __version__
    files = patch_files_for(recipe, patches_directory)
    # the same step hashes `bench setup` writes into its manifest and the runner into its records
    patches = [PatchHash(**entry) for entry in expected_patch_hashes(recipe, patches_directory)]
    return Provenance(recipe=recipe.name, recipe_path=str(recipe_path),
                      recipe_sha256=_sha256_file(Path(recipe_path)),
                      repo=repo or (recipe.source.repo if recipe.source else None),
                      commit=commit or (recipe.source.commit if recipe.source else None), patches=patches,
                      container_image=container_image, protocol_version=CURRENT_VERSION,
                      bench_version=version,
                      hash=provenance_hash(recipe, recipe_path, files, container_image, CURRENT_VERSION,
                                           version))
