"""Backbone weights a recipe declares (`[weights]`: url, file, format, sha256): fetched once into the cache,
keyed by their checksum, verified before use. `--weights DIR` takes the file from a directory instead
(air-gapped clusters copy it there). A file whose checksum disagrees never lands in the cache."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.paths import cache_dir
from bench.recipes.schema import BackboneWeights

CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedWeights:
    path: Path
    sha256: str  # the file's full sha256, as computed here
    verified: bool  # False: the recipe publishes no checksum to compare with


def weights_dir() -> Path:

    return cache_dir() / "weights"


def cached_path(weights: BackboneWeights) -> Path:
    key = weights.sha256 or hashlib.sha256(weights.url.encode()).hexdigest()[:16]
    return weights_dir() / key / weights.file


def _copy_hashing(source, target) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: source.read(CHUNK), b""):
        digest.update(block)
        target.write(block)
    return digest.hexdigest()


def _open_source(weights: BackboneWeights, from_dir: Path | None):
    if from_dir is not None:
        path = Path(from_dir) / weights.file
        if not path.is_file():
            raise BenchError(f"--weights {from_dir}: no file {weights.file} (the recipe's [weights] file)")
        return path.open("rb"), str(path)
    try:
        return (urllib.request.urlopen(weights.url, timeout=60),  # noqa: S310 (http(s) and file://)
                weights.url)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot fetch {weights.url}: {getattr(exc, 'reason', None) or exc} "
                         "(no network? copy the file into a directory and pass --weights DIR)") from None


def fetch_weights(weights: BackboneWeights, from_dir: Path | None = None) -> FetchedWeights:
    """The verified file in the cache (fetched or copied first when absent)."""
    target = cached_path(weights)
    if target.is_file():
        with target.open("rb") as handle:
            digest = _copy_hashing(handle, open(os.devnull, "wb"))
        if weights.sha256 is None or digest.startswith(weights.sha256):
            return FetchedWeights(target, digest, weights.sha256 is not None)
        target.unlink()  # a cached file that no longer verifies is fetched again
    target.parent.mkdir(parents=True, exist_ok=True)
    source, where = _open_source(weights, from_dir)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with source, os.fdopen(fd, "wb") as out:
            digest = _copy_hashing(source, out)
        if weights.sha256 is not None and not digest.startswith(weights.sha256):
            raise BenchError(f"{where}: sha256 {digest} does not match the recipe's [weights] sha256 "
                             f"{weights.sha256}; not used")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return FetchedWeights(target, digest, weights.sha256 is not None)


