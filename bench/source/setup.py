"""`prepare`: bring a recipe's source to its pinned commit with its patches applied and verified.

The checkout lives in a cache keyed by commit: `<workdir or cache_dir()/src>/<name>-<commit>`. A manifest in
`.git/bench-manifest.json` records the full SHA, the sha256 of every patch step, what each step produced, and
a fingerprint of the patched tree. A second call whose manifest, patches and tree all still match reuses the
tree.

Decision on a tree that does not match its manifest (edited by hand, half-patched by a failed run, patches
changed since): it is RESET to the pinned commit (`git reset --hard`, `git clean -fd`; files ignored by the
project's .gitignore, such as build outputs, are kept) and patched again, and the reset is reported. The cache
belongs to bench; work in a copy of it, not in it."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.paths import cache_dir, patches_dir
from bench.security import redact, secret_from_env
from bench.source.git import GitContext, git, git_environment, is_local_source, split_credentials
from bench.source.manifest import MANIFEST_NAME, read_manifest, tree_fingerprint, write_manifest
from bench.source.patches import apply_step, step_hash, step_name

Log = Callable[[str], None]


@dataclass(frozen=True)
class PreparedSource:
    path: Path | None  # the checkout (None for the built-in implementation)
    commit: str | None
    patch_hashes: list[dict] = field(default_factory=list)  # [{"step", "kind", "name", "sha256"}]
    manifest: Path | None = None
    subdir: str = ""  # where the launch command runs, relative to `path`
    reused: bool = False  # True when a verified tree from an earlier call was reused as it was
    missing_paths: tuple[str, ...] = ()  # paths left out because the source lacked their blobs (opt-in)

    @property
    def launch_dir(self) -> Path | None:
        return None if self.path is None else self.path / self.subdir if self.subdir else self.path


def checkout_dir(recipe, workdir: Path | str | None = None) -> Path:
    base = Path(workdir).expanduser().resolve() if workdir else cache_dir() / "src"
    return base / f"{recipe.name}-{recipe.source.commit}"


def expected_patch_hashes(recipe, patches: Path | None = None) -> list[dict]:
    return [{"step": i, "kind": step.kind, "name": step_name(step), "sha256": step_hash(step, patches)}
            for i, step in enumerate(recipe.patches, 1)]


def prepare(recipe, source: str | None = None, workdir: Path | None = None, *,
            allow_missing_blobs: bool = False, log: Log | None = None,
            patches: Path | None = None) -> PreparedSource:
    """Check out `recipe` at its pinned commit into the cache, apply and verify its patches, write the
    manifest.

    source: a URL or a local path (a mirror) to fetch from instead of recipe.source.repo.
    workdir: the directory under which the checkout `<name>-<commit>` is made (default: cache_dir()/src).
    allow_missing_blobs: a mirror that lacks some large blobs is checked out without those paths (they are
    listed in the manifest); without it, missing blobs are an error naming them."""
    if recipe.source is None:
        return PreparedSource(path=None, commit=None)
    say = log or (lambda message: None)
    patches = patches or patches_dir()
    commit = recipe.source.commit
    token = secret_from_env(recipe.source.token_env)
    ctx = split_credentials(source or recipe.source.repo, token)
    local = is_local_source(ctx.url)
    if local:
        ctx.url = str(Path(ctx.url).expanduser().resolve())
    dest = checkout_dir(recipe, workdir)
    wanted = expected_patch_hashes(recipe, patches)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest), git_environment(ctx) as env:
        reason = _reuse_blocker(dest, commit, wanted, env)
        if reason is None:
            manifest = read_manifest(dest)
            say(f"{recipe.name}: reusing verified tree {dest} @ {commit[:12]}")
            return PreparedSource(dest, commit, wanted, dest / ".git" / MANIFEST_NAME, recipe.source.subdir,
                                  True, tuple(manifest.get("missing_paths", [])))
        had_tree = (dest / ".git").exists()
        if had_tree and reason != "no manifest":
            say(f"{recipe.name}: {reason}; resetting {dest} to {commit[:12]} and patching again")
        (dest / ".git" / MANIFEST_NAME).unlink(missing_ok=True)
        _obtain_commit(dest, ctx, commit, local, env, say)
        missing = _missing_blob_paths(dest, commit, env)
        if missing and not allow_missing_blobs:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise BenchError(f"{recipe.name}: the source {redact(ctx.url, ctx.secrets)} lacks the blobs of "
                             f"{len(missing)} files at {commit[:12]} ({shown}); use a complete mirror, or "
                             f"--allow-missing-blobs to check out without them")
        _checkout_pristine(dest, commit, missing, env)
        results = []
        for number, step in enumerate(recipe.patches, 1):
            result = apply_step(dest, step, number=number, recipe=recipe.name, patches=patches)
            say(f"{recipe.name}: patch step {number} ({result.kind} {result.name}) applied and verified")
            results.append(result.as_dict())
        manifest_path = write_manifest(dest, {
            "recipe": recipe.name, "repo": redact(ctx.url, ctx.secrets), "commit": commit,
            "subdir": recipe.source.subdir, "patches": results, "missing_paths": missing,
            "fingerprint": tree_fingerprint(dest, env), "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime())})
        say(f"{recipe.name}: ready at {dest} @ {commit} ({len(results)} patch steps)")
        return PreparedSource(dest, commit, wanted, manifest_path, recipe.source.subdir, False,
                              tuple(missing))


def _reuse_blocker(dest: Path, commit: str, wanted: list[dict], env: dict[str, str]) -> str | None:
    """None when the tree at `dest` is the verified result of these patches at this commit; else why not."""
    if not (dest / ".git").is_dir():
        return "no manifest"
    manifest = read_manifest(dest)
    if not manifest:
        return "no manifest"
    if manifest.get("commit") != commit:
        return f"the manifest is for commit {str(manifest.get('commit'))[:12]}"
    head = git(["rev-parse", "-q", "--verify", "HEAD"], cwd=dest, env=env, check=False).stdout.strip()
    if head != commit:
        return f"HEAD is {head[:12] or 'unborn'}, not the pinned commit"
    recorded = [{k: p.get(k) for k in ("step", "kind", "name", "sha256")}
                for p in manifest.get("patches", [])]
    if recorded != wanted:
        return "the recipe's patch steps changed since the tree was prepared"
    if tree_fingerprint(dest, env) != manifest.get("fingerprint"):
        return "the tree differs from its manifest (modified files)"
    return None


def _has_commit(dest: Path, commit: str, env: dict[str, str]) -> bool:
    return git(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=dest, env=env, check=False).returncode == 0


def _obtain_commit(dest: Path, ctx: GitContext, commit: str, local: bool, env: dict[str, str],
                   say: Log) -> None:
    shown = redact(ctx.url, ctx.secrets)
    if not (dest / ".git").is_dir():
        if dest.exists() and any(dest.iterdir()):
            raise BenchError(f"{dest} exists and is not a git checkout; remove it or choose another "
                             "--workdir")
        if local:  # a local clone copies or hard-links objects: works with mirrors that lack a few blobs
            say(f"cloning {shown} into {dest}")
            git(["clone", "--quiet", "--no-checkout", ctx.url, str(dest)], env=env, secrets=ctx.secrets,
                what=f"git clone {shown}")
        else:
            git(["init", "--quiet", str(dest)], env=env)
    if _has_commit(dest, commit, env):
        return
    say(f"fetching {commit[:12]} from {shown}")
    by_sha = git(["fetch", "--quiet", "--depth=1", "--no-tags", ctx.url, commit], cwd=dest, env=env,
                 check=False)
    if by_sha.returncode != 0 or not _has_commit(dest, commit, env):
        # servers that refuse fetching an unadvertised SHA: fetch every branch and tag instead
        git(["fetch", "--quiet", "--tags", ctx.url, "+refs/heads/*:refs/remotes/bench/*"], cwd=dest, env=env,
            secrets=ctx.secrets, what=f"git fetch {shown}")
    (dest / ".git" / "FETCH_HEAD").unlink(missing_ok=True)
    if not _has_commit(dest, commit, env):
        raise BenchError(f"commit {commit} is not in {shown}")


def _missing_blob_paths(dest: Path, commit: str, env: dict[str, str]) -> list[str]:
    listing = git(["ls-tree", "-r", "-z", commit], cwd=dest, env=env).stdout
    entries = []
    for record in filter(None, listing.split("\0")):
        meta, path = record.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob":
            entries.append((sha, path))
    if not entries:
        return []
    check = git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=dest, env=env, check=False,
                stdin="".join(f"{sha}\n" for sha, _ in entries)).stdout.splitlines()
    return [path for (sha, path), line in zip(entries, check) if line.endswith(" missing")]


def _sparse_pattern(path: str) -> str:
    escaped = "".join("\\" + c if c in "*?[]\\!#" else c for c in path)
    return "!/" + escaped


def _checkout_pristine(dest: Path, commit: str, missing: list[str], env: dict[str, str]) -> None:
    if missing:
        git(["sparse-checkout", "set", "--no-cone", "--stdin"], cwd=dest, env=env,
            stdin="/*\n" + "".join(_sparse_pattern(p) + "\n" for p in missing))
    elif (dest / ".git" / "info" / "sparse-checkout").exists():
        git(["sparse-checkout", "disable"], cwd=dest, env=env)
    git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach", commit], cwd=dest,
        env=env)
    git(["reset", "--quiet", "--hard", commit], cwd=dest, env=env)
    git(["clean", "-fdq"], cwd=dest, env=env)


@contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """One prepare per checkout at a time (the runner and a user's `bench setup` may race)."""
    lock = dest.parent / f".{dest.name}.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def manifest_summary(prepared: PreparedSource) -> dict:
    """The manifest as recorded (for `bench setup --json` and run records)."""
    return (json.loads(prepared.manifest.read_text())
            if prepared.manifest and os.path.exists(prepared.manifest) else {})
