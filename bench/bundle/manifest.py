"""`manifest.json`: what a bundle holds and what it is for, and the verification of a bundle before any use.

`open_bundle(path)` reads the manifest (a bounded JSON file of the known schema), checks that every path it
names stays inside the bundle and is a plain file, and compares every file's size and sha256 with the
manifest: anything else is one `BenchError` line naming the bundle and the file, raised before anything is
installed."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bench.bundle.target import Kind, Target, read_json, validated
from bench.errors import BenchError
from bench.files import file_sha256, write_atomic
from bench.paths import check_relative

MANIFEST_NAME = "manifest.json"
BUNDLE_VERSION = 1
MAX_MANIFEST_BYTES = 16 << 20


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str
    size: int


class MemberEntry(BaseModel):
    """One suite member as the bundle carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipe_sha256: str  # the recipe file the bundle was built from
    commit: str | None = None  # the pinned commit of its source (None: no checkout)
    patches: list[dict] = []  # the patch steps' hashes, as the record's provenance holds them
    source: str | None = None  # sources/<member>.git: a shallow bare repository holding the commit
    source_package: str | None = None  # the wheel built from the verified checkout ({source} in steps)
    wheels: list[str] = []  # every wheel its environment installs from the bundle
    install: list[str] = []  # its install steps as built ({python} symbolic)
    packages: dict[str, str] = {}  # what its environment held when built (name -> version)
    synthetic_data: dict | None = None  # the preset's synthetic dataset: generated on the target from this


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bench_bundle: int
    suite: str
    preset: str
    kind: Kind
    target: Target
    cuda_archs: list[str] = []  # the GPU architectures the compiled wheels hold machine code for
    stack: dict[str, str] = {}  # torch and torchvision as the members' install steps pin them
    built: dict[str, str | None] = {}  # by which bench, when, with which glibc and CUDA toolkit
    members: dict[str, MemberEntry] = {}
    skipped: dict[str, str] = {}  # member -> why the bundle does not carry it
    bench_wheels: list[str] = []  # what bench itself needs on the target beyond what the target has
    data_format: int | None = None  # bench.builtin.synth.FORMAT_VERSION the datasets are generated with
    files: dict[str, FileEntry] = {}


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its folder, its manifest, and the manifest's sha256 (the records' provenance)."""

    root: Path
    manifest: Manifest
    sha256: str

    def path(self, relative: str) -> Path:
        return self.root / relative


def manifest_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(root: Path, manifest: Manifest) -> str:
    """Write manifest.json atomically; returns its sha256."""
    text = json.dumps(manifest.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"
    write_atomic(root / MANIFEST_NAME, text)
    return hashlib.sha256(text.encode()).hexdigest()


def file_entries(root: Path, relatives: list[str]) -> dict[str, FileEntry]:
    return {rel: FileEntry(sha256=file_sha256(root / rel), size=(root / rel).stat().st_size)
            for rel in sorted(set(relatives))}


def read_manifest(root: Path) -> Manifest:
    """The bundle's manifest, or one line naming the file and what is wrong with it."""
    if not root.is_dir():
        raise BenchError(f"--bundle {root}: no such directory")
    path = root / MANIFEST_NAME
    data = read_json(path, MAX_MANIFEST_BYTES, "bundle manifest", root)  # a link out of the bundle: refused
    if not isinstance(data, dict) or data.get("bench_bundle") != BUNDLE_VERSION:
        found = data.get("bench_bundle") if isinstance(data, dict) else None
        raise BenchError(f"{path}: field 'bench_bundle': is {found!r}, this bench reads version "
                         f"{BUNDLE_VERSION}")
    return validated(Manifest, data, path)


def _inside(root: Path, relative: str, path: Path) -> Path:
    """The file `relative` names, refused unless it is a plain file inside the bundle."""
    try:
        check_relative(relative)
    except ValueError as exc:
        raise BenchError(f"{path}: files: {exc}") from None
    target = root / relative
    resolved = target.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise BenchError(f"{path}: files: {relative!r} leads outside the bundle (a link to {resolved})")
    if target.is_symlink() or not target.is_file():
        raise BenchError(f"{root}: {relative}: missing or not a plain file (the manifest lists it)")
    return target


def open_bundle(root: Path) -> Bundle:
    """Read and verify a bundle: every path inside it, every file's size and sha256 as the manifest says."""
    root = Path(root).expanduser().absolute()
    manifest = read_manifest(root)
    path = root / MANIFEST_NAME
    referenced = set(manifest.bench_wheels)
    for name, member in manifest.members.items():
        referenced.update(member.wheels)
        referenced.update(p for p in (member.source_package,) if p)
        if member.source is not None:
            check = [rel for rel in manifest.files if rel.startswith(member.source.rstrip("/") + "/")]
            if not check:
                raise BenchError(f"{path}: members.{name}.source: {member.source!r} holds no listed file")
    unlisted = sorted(referenced - set(manifest.files))
    if unlisted:
        raise BenchError(f"{path}: {unlisted[0]!r} is used by a member but not listed in files")
    targets = {}
    for relative, entry in manifest.files.items():
        targets[relative] = _inside(root, relative, path)
        size = os.stat(targets[relative]).st_size
        if size != entry.size:
            raise BenchError(f"{root}: {relative}: {size} bytes, the manifest says {entry.size} (changed or "
                             "truncated)")
    # hashlib releases the GIL on large blocks: one thread per CPU hashes the gigabytes of a full bundle
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        digests = dict(zip(targets, pool.map(file_sha256, targets.values())))
    for relative, entry in manifest.files.items():
        if digests[relative] != entry.sha256:
            raise BenchError(f"{root}: {relative}: sha256 {digests[relative][:16]}..., the manifest says "
                             f"{entry.sha256[:16]}... (changed)")
    return Bundle(root=root, manifest=manifest, sha256=manifest_sha256(path))


def size_report(manifest: Manifest) -> list[str]:
    """Each member's share of the bundle: what only it uses, then what several share (counted once)."""
    users: dict[str, list[str]] = {}
    for name, member in manifest.members.items():
        for rel in [*member.wheels, *([member.source_package] if member.source_package else [])]:
            users.setdefault(rel, []).append(name)
        if member.source:
            for rel in manifest.files:
                if rel.startswith(member.source + "/"):
                    users.setdefault(rel, []).append(name)
    for rel in manifest.bench_wheels:
        users.setdefault(rel, []).append("bench")
    sizes = {rel: entry.size for rel, entry in manifest.files.items()}
    total = sum(sizes.values())
    lines = [f"{'share':<24} {'MiB':>9} {'files':>6}"]
    for name in [*manifest.members, "bench"]:
        own = [rel for rel, who in users.items() if set(who) == {name}]
        lines.append(f"{name + ' only':<24} {sum(sizes[r] for r in own) / 2**20:>9.1f} {len(own):>6}")
    shared = [rel for rel, who in users.items() if len(set(who)) > 1]
    lines.append(f"{'shared':<24} {sum(sizes[r] for r in shared) / 2**20:>9.1f} {len(shared):>6}")
    for rel in sorted(shared, key=lambda r: -sizes[r])[:8]:
        who = ", ".join(sorted(set(users[rel])))
        lines.append(f"  {Path(rel).name[:60]:<60} {sizes[rel] / 2**20:>7.1f}  ({who})")
    rest = [rel for rel in sizes if rel not in users]
    lines.append(f"{'manifest and lists':<24} {sum(sizes[r] for r in rest) / 2**20:>9.1f} {len(rest):>6}")
    lines.append(f"{'total':<24} {total / 2**20:>9.1f} {len(sizes):>6}")
    for name, why in manifest.skipped.items():
        lines.append(f"{name}: not in the bundle: {why}")
    return lines
