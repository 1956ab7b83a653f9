"""The setup manifest (`.git/bench-manifest.json` of a checkout) and the fingerprint of a patched tree.

The fingerprint covers every tracked file that differs from HEAD (as `git diff --binary HEAD`) and every
untracked, not-ignored file (path and blob id), so any edit, added or deleted file changes it; ignored build
outputs do not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.files import write_atomic
from bench.source.git import git

MANIFEST_NAME = "bench-manifest.json"
MANIFEST_VERSION = 1


def manifest_path(tree: Path) -> Path:
    return tree / ".git" / MANIFEST_NAME


def read_manifest(tree: Path) -> dict:
    try:
        data = json.loads(manifest_path(tree).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if data.get("bench_manifest") == MANIFEST_VERSION else {}


def write_manifest(tree: Path, content: dict) -> Path:
    """Atomic: a crash leaves the old manifest or none, never half of one."""
    path = manifest_path(tree)
    write_atomic(path,
                 json.dumps({"bench_manifest": MANIFEST_VERSION, **content}, indent=2, sort_keys=True) + "\n")
    return path


def tree_fingerprint(tree: Path, env: dict[str, str] | None = None) -> str:
    digest = hashlib.sha256()
    git(["update-index", "-q", "--refresh"], cwd=tree, env=env, check=False)
    diff = git(["-c", "core.quotepath=off", "diff", "--binary", "--no-ext-diff", "--no-color", "HEAD"],
               cwd=tree, env=env).stdout
    digest.update(diff.encode("utf-8", errors="surrogateescape"))
    untracked = sorted(filter(None, git(["ls-files", "-z", "--others", "--exclude-standard"], cwd=tree,
                                        env=env).stdout.split("\0")))
    if untracked:
        blobs = git(["hash-object", "--stdin-paths"], cwd=tree, env=env,
                    stdin="\n".join(untracked) + "\n").stdout
        for path, blob in zip(untracked, blobs.split()):
            digest.update(f"\0{path}\0{blob}".encode("utf-8", errors="surrogateescape"))
    return digest.hexdigest()
