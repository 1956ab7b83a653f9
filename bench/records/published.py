"""Which records and which table the repository publishes: what git has committed (HEAD) under the results
root. Everything else under it (a user's own runs in a checkout, the table regenerated from them) is local.
Outside a git work tree, or without git, nothing is published and these return None."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.external import call
from bench.records.store import RECORD_NAME

GIT_TIMEOUT_S = 30


def _committed(directory: Path, *paths: str, recursive: bool = False) -> list[str] | None:
    """Paths (relative to `directory`) that HEAD holds under `directory`; None outside a git work tree."""
    if not directory.is_dir():
        return None
    argv = ["git", "-C", str(directory), "ls-tree", *(["-r"] if recursive else []), "--name-only", "-z",
            "HEAD", "--", *paths]
    try:
        done = call(argv, timeout=GIT_TIMEOUT_S, missing="git tells which records are published", check=False)
    except BenchError:  # no git here: nothing can be published either
        return None
    if done.returncode != 0:  # not a work tree, or no commit yet
        return None
    return [name for name in done.stdout.split("\0") if name]


def committed_runs(runs: Path) -> set[str] | None:
    """The run directories (names) under `runs` whose record git has committed."""
    names = _committed(runs, ".", recursive=True)
    if names is None:
        return None
    return {name.split("/")[0] for name in names if name.count("/") == 1 and name.endswith("/" + RECORD_NAME)}


def is_committed(path: Path) -> bool:
    """Whether git has committed this file (e.g. results/README.md, the published table)."""
    return bool(_committed(path.parent, path.name))
