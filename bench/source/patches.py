"""Patch steps: a unified diff applied with `git apply`, or a regex substitution with expected counts per
glob.

A step that does not apply, or whose result differs from what the recipe expects, raises a `PatchError` that
names the recipe, the step and the file. A substitution checks every count before it writes anything.

`python -m bench.source.patches substitute ...` runs one substitution step by hand (what `bench plan`
prints)."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from bench.errors import BenchError, PatchError
from bench.paths import check_relative, inside, patches_dir
from bench.recipes.schema import DiffPatch, PatchStep, Substitution
from bench.source.git import git


@dataclass
class StepResult:
    step: int  # 1-based position in recipe.patches
    kind: str
    name: str
    sha256: str
    detail: dict = field(default_factory=dict)  # blobs produced, or replacements per glob and per file

    def as_dict(self) -> dict:
        return {"step": self.step, "kind": self.kind, "name": self.name, "sha256": self.sha256,
                "applied": True, **self.detail}


def step_name(step: PatchStep) -> str:
    if isinstance(step, DiffPatch):
        return step.file
    return f"s/{step.pattern}/{step.replacement}/ in {', '.join(step.expected)}"


def diff_path(step: DiffPatch, patches: Path | None = None) -> Path:
    """The diff file of a step, resolved; a path that leaves the patches directory is refused."""
    root = patches or patches_dir()
    try:
        return inside(root, step.file, "patch file")
    except BenchError as exc:
        raise PatchError(str(exc)) from None


def step_hash(step: PatchStep, patches: Path | None = None) -> str:
    """sha256 of what the step does: the diff file's bytes (plus its apply options), or the substitution's
    fields."""
    if isinstance(step, DiffPatch):
        path = diff_path(step, patches)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise PatchError(f"patch file {path} does not exist") from None
        if not step.ignore_whitespace:
            return hashlib.sha256(content).hexdigest()
        return hashlib.sha256(content + b"\0ignore_whitespace").hexdigest()
    return hashlib.sha256(json.dumps(step.model_dump(), sort_keys=True).encode()).hexdigest()


def apply_diff(tree: Path, step: DiffPatch, *, number: int, recipe: str,
               patches: Path | None = None) -> StepResult:
    path = diff_path(step, patches)
    where = f"{recipe}: patch step {number} (diff {step.file})"
    options = ["--whitespace=nowarn"] + (["--ignore-whitespace"] if step.ignore_whitespace else [])
    digest = step_hash(step, patches)
    check = git(["apply", "--check", *options, str(path)], cwd=tree, check=False)
    if check.returncode != 0:
        reason = (" / ".join(line for line in check.stderr.strip().splitlines()[:4])
                  or f"exit {check.returncode}")
        raise PatchError(f"{where}: does not apply: {reason}")
    git(["apply", *options, str(path)], cwd=tree, what=f"{where}: git apply")
    blobs = {}
    for file, expected in step.expected_blobs.items():
        target = inside(tree, file, f"{where}: expected_blobs")
        if not target.is_file():
            raise PatchError(f"{where}: {file} does not exist after the patch (expected blob {expected})")
        blob = git(["hash-object", "--", file], cwd=tree).stdout.strip()
        if not blob.startswith(expected.lower()):
            raise PatchError(f"{where}: {file} has blob {blob[:12]} after the patch, expected {expected}")
        blobs[file] = blob
    return StepResult(number, "diff", step.file, digest, {"blobs": blobs} if blobs else {})


def _files_for(tree: Path, pattern: str, where: str) -> list[Path]:
    """The regular files `pattern` matches inside `tree`; a glob that reaches outside it (`../*.py`, an
    absolute path, a directory that is a link out of the tree) is refused before anything is read."""
    try:
        check_relative(pattern)
        matches = [p for p in tree.glob(pattern) if p.is_file() and not p.is_symlink()]
    except (ValueError, NotImplementedError) as exc:
        raise PatchError(f"{where}: glob {pattern!r}: {exc}") from None
    for path in matches:
        inside(tree, path.relative_to(tree), f"{where}: glob {pattern!r}")
    return sorted(p for p in matches if ".git" not in p.relative_to(tree).parts)


def plan_substitution(tree: Path, step: Substitution, where: str = "substitution"
                      ) -> tuple[dict[Path, tuple[int, str]], dict[str, dict]]:
    """What the substitution would do, without writing: new text per changed file, and counts per glob."""
    try:
        regex = re.compile(step.pattern)
    except re.error as exc:
        raise PatchError(f"{where}: pattern {step.pattern!r} is not a valid regular expression: "
                         f"{exc}") from None
    tree = tree.resolve()
    changes: dict[Path, tuple[int, str]] = {}
    per_glob: dict[str, dict] = {}
    for pattern in step.expected:
        total, files = 0, {}
        for path in _files_for(tree, pattern, where):
            if path not in changes:
                text = path.read_bytes().decode("utf-8", errors="surrogateescape")
                try:
                    new_text, count = regex.subn(step.replacement, text)
                except (re.error, IndexError) as exc:
                    raise PatchError(f"{where}: replacement {step.replacement!r}: {exc}") from None
                changes[path] = (count, new_text)
            count = changes[path][0]
            if count:
                total += count
                files[path.relative_to(tree).as_posix()] = count
        per_glob[pattern] = {"replacements": total, "files": files}
    return {p: c for p, c in changes.items() if c[0]}, per_glob


def apply_substitution(tree: Path, step: Substitution, *, number: int, recipe: str) -> StepResult:
    where = f"{recipe}: patch step {number} (substitute {step.pattern!r} -> {step.replacement!r})"
    changes, per_glob = plan_substitution(tree, step, where)
    for pattern, expected in step.expected.items():
        found = per_glob[pattern]
        expected_files = step.expected_files.get(pattern)
        if found["replacements"] != expected or (expected_files is not None
                                                 and len(found["files"]) != expected_files):
            listing = ", ".join(f"{f} ({n})" for f, n in list(found["files"].items())[:8]) or "no file"
            want = f"{expected}" + (f" in {expected_files} files" if expected_files is not None else "")
            raise PatchError(f"{where}: glob {pattern!r} gives {found['replacements']} replacements in "
                             f"{len(found['files'])} files, expected {want}; matched: {listing}")
    for path, (_, new_text) in changes.items():
        path.write_bytes(new_text.encode("utf-8", errors="surrogateescape"))
    return StepResult(number, "substitute", step_name(step), step_hash(step), {"globs": per_glob})


def apply_step(tree: Path, step: PatchStep, *, number: int, recipe: str,
               patches: Path | None = None) -> StepResult:
    if isinstance(step, DiffPatch):
        return apply_diff(tree, step, number=number, recipe=recipe, patches=patches)
    return apply_substitution(tree, step, number=number, recipe=recipe)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.source.patches substitute -C DIR --pattern P --replacement R --expect GLOB=N
    [--expect-files GLOB=N]`"""
    parser = argparse.ArgumentParser(prog="python -m bench.source.patches")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("substitute", help="one regex substitution with expected counts per glob")
    s.add_argument("-C", dest="tree", default=".", help="the checkout")
    s.add_argument("--pattern", required=True)
    s.add_argument("--replacement", required=True)
    s.add_argument("--expect", action="append", required=True, metavar="GLOB=N")
    s.add_argument("--expect-files", action="append", default=[], metavar="GLOB=N")
    args = parser.parse_args(argv)

    def pairs(items: list[str]) -> dict[str, int]:
        return {k: int(v) for k, v in (item.rsplit("=", 1) for item in items)}

    try:
        step = Substitution(kind="substitute", pattern=args.pattern, replacement=args.replacement,
                            expected=pairs(args.expect), expected_files=pairs(args.expect_files))
        result = apply_substitution(Path(args.tree), step, number=1, recipe="(command line)")
    except ValidationError as exc:
        print(f"error: {' '.join(exc.errors()[0]['msg'].split())}", file=sys.stderr)
        return 2
    except (BenchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for pattern, found in result.detail["globs"].items():
        print(f"{pattern}: {found['replacements']} replacements in {len(found['files'])} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
