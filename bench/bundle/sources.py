"""A member's source in a bundle: a shallow bare git repository holding exactly its pinned commit, made from
the checkout `bench.source.setup.prepare` verified. On the target, `prepare(recipe, source=<that repository>)`
clones from it and applies and verifies bench's patches as it does online."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.source.git import GitContext, git, git_environment

PINNED_REF = "refs/heads/bench-pinned"
# What a clone needs of a bare repository: git recognises one by HEAD, objects/ and refs/ (kept through the
# loose ref, since a bundle lists files, not empty folders); hooks, description and info/ are left out.
KEPT = {"HEAD", "config", "shallow", "objects", "refs"}


def pack_source(checkout: Path, commit: str, dest: Path) -> list[Path]:
    """Write a shallow bare repository of `commit` (taken from `checkout`) to `dest`; returns its files."""
    if dest.exists():
        shutil.rmtree(dest)
    with git_environment(GitContext(url=str(checkout))) as env:
        git(["init", "--quiet", "--bare", "--template=", str(dest)], env=env)
        git(["fetch", "--quiet", "--depth=1", "--no-tags", str(checkout), commit], cwd=dest, env=env)
        git(["update-ref", PINNED_REF, commit], cwd=dest, env=env)
        git(["symbolic-ref", "HEAD", PINNED_REF], cwd=dest, env=env)
        git(["-c", "repack.writeBitmaps=false", "repack", "-a", "-d", "-q"], cwd=dest, env=env)
    for entry in sorted(dest.iterdir()):
        if entry.name not in KEPT:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for entry in sorted((dest / "objects").iterdir()):
        if entry.name != "pack":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return sorted(p for p in dest.rglob("*") if p.is_file())
