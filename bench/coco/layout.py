"""A COCO 2017 layout on disk: what a recipe needs under its --data root (`data_files`), checked before
launch."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError

# The full COCO 2017 detection layout (`bench data coco DIR` checks it all).
COCO_2017 = ("train2017/", "val2017/", "annotations/instances_train2017.json",
             "annotations/instances_val2017.json")


def missing_files(root: Path, files: list[str] | tuple[str, ...]) -> list[str]:
    """The entries of `files` absent under `root` (a trailing / names a directory, which must not be
    empty)."""
    missing = []
    for name in files:
        path = root / name.rstrip("/")
        if name.endswith("/"):
            if not path.is_dir() or next(path.iterdir(), None) is None:
                missing.append(name + (" (empty)" if path.is_dir() else ""))
        elif not path.is_file() or path.stat().st_size == 0:
            missing.append(name + (" (empty)" if path.is_file() else ""))
    return missing


def check_data_root(root: Path, files: list[str] | tuple[str, ...], who: str) -> None:
    """One line naming the directory and what is missing, when `root` lacks any of `files`."""
    missing = missing_files(root, files)
    if missing:
        raise BenchError(f"--data {root}: {who} needs {', '.join(missing)} there (missing); "
                         f"a COCO 2017 root holds {', '.join(COCO_2017)}")
