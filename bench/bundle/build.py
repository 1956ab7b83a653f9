"""`bench bundle`: build a suite's offline bundle for one target, with the functions `bench setup` uses.

For each member, with its preset applied (and, for an on-top target, the stack's torch pins replaced by the
target's):
1. `prepare` brings its source to the pinned commit with its patches verified (from --source MEMBER=URL, a
   mirror, where given); a member whose source cannot be had is left out of the bundle, with the reason in the
   manifest (`skipped`), and the suite runs without it;
2. an install step that installs `{source}` gets the wheel built from that verified checkout (pip wheel, no
   build isolation, in an environment holding the steps before it, with the target's build settings);
3. `ensure_environment` runs the member's own install steps, in an environment made from the target's Python
   version (layered over the stand-in for an on-top target): what it installs itself is what the target lacks;
4. each of those distributions becomes a wheel (`pip wheel --no-deps`, from pip's cache: nothing is downloaded
   or compiled twice); for an on-top target, wheels whose metadata upstream chooses at build time are rebuilt
   for the target (REBUILT_FOR_TARGET), and the member's steps run once more with the package index replaced
   by those wheels alone, which proves the set complete and keeps only what that install takes.
The bundle is written beside --out and renamed into place only when complete (a failed build leaves
nothing)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import __version__
from bench.bundle.base import BuildBase, prepare_build_base, provides_opencv_under_another_name
from bench.bundle.manifest import BUNDLE_VERSION, Manifest, MemberEntry, file_entries, write_manifest
from bench.bundle.sources import pack_source
from bench.bundle.target import Kind, Target, release_of
from bench.builtin.synth import FORMAT_VERSION
from bench.bundle.wheels import build_wheel, export_wheels, normalise, own_distributions
from bench.envs import Environment, InstallSpec, ensure_environment, rendered_steps
from bench.errors import BenchError
from bench.protocol.suite import load_suite
from bench.recipes.loader import find_recipe, recipe_hash, recipe_path
from bench.recipes.stacks import load_stack
from bench.security import shell_quote
from bench.source.setup import manifest_summary, prepare

Log = Callable[[str], None]

BENCH_REQUIREMENTS = "bench-requirements.txt"
# Wheels whose requirements upstream's setup.py chooses from the machine that builds them: rebuilt from their
# sdist in the stand-in when the target provides what that choice looks for.
REBUILT_FOR_TARGET = {
    "mmengine": ("cv2", "mmengine/setup.py @ v0.10.7 requires no OpenCV distribution when `import cv2` works "
                        "('OpenCV installed via conda'); the index's wheel, built without one, requires "
                        "opencv-python, which a target providing cv2 through opencv-python-headless lacks"),
}


@dataclass
class BuildRequest:
    suite: str
    preset: str
    out: Path
    target: Target
    kind: Kind
    cuda_archs: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # member -> URL or mirror
    only: list[str] | None = None  # these members only (default: every member of the suite)
    build_python: Path | None = None
    max_jobs: int = 2
    prefer_toolkit_wheels: bool = False


def stack_for(target: Target, kind: Kind) -> dict[str, str]:
    """torch and torchvision as the members' install steps will pin them (and the stack's CUDA)."""
    stack = load_stack("current", recipe_path("detectron2-current").parent)
    if kind == "on-top":
        return {"torch": release_of(target.torch) or "", "torchvision": release_of(target.torchvision) or "",
                "cuda": target.cuda or ""}
    return {"torch": stack.torch, "torchvision": stack.torchvision, "cuda": stack.cuda}


def member_recipe(name: str, preset: str, kind: Kind, stack: dict[str, str]):
    """The member's recipe with the preset applied; an on-top target's torch pins in its install steps."""
    pins = None
    if kind == "on-top":
        pins = {"torch_pin": f"torch=={stack['torch']}",
                "torchvision_pin": f"torchvision=={stack['torchvision']}"}
    recipe = find_recipe(name, pins=pins)
    try:
        return recipe.with_preset(preset)
    except ValueError as exc:
        raise BenchError(str(exc)) from None


def bench_requirements() -> list[str]:
    """bench's own runtime requirements (what `bench` needs on the target to run at all)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        found = requires("detection-bench") or []
    except PackageNotFoundError:
        raise BenchError("bench is not installed (pip install -e .): its requirements cannot be "
                         "read") from None
    return sorted(r for r in found if "extra ==" not in r)


def build_bundle(request: BuildRequest, say: Log) -> Manifest:
    """Build the bundle into request.out (which must not exist, or be empty)."""
    out = request.out.expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BenchError(f"--out {out}: exists and is not an empty directory")
    suite = load_suite(request.suite)
    if request.preset not in suite.presets:
        raise BenchError(f"suite {request.suite!r} has no preset {request.preset!r}; it has: "
                         f"{', '.join(suite.presets)}")
    strays = sorted(set(request.sources) - set(suite.members))
    if strays:
        raise BenchError(f"--source {strays[0]}=...: not a member of suite {request.suite!r}")
    unknown = sorted(set(request.only or []) - set(suite.members))
    if unknown:
        raise BenchError(f"--only {unknown[0]}: not a member of suite {request.suite!r} "
                         f"({', '.join(suite.members)})")
    members = [m for m in suite.members if request.only is None or m in request.only]
    stack = stack_for(request.target, request.kind)
    recipes = {name: member_recipe(name, request.preset, request.kind, stack) for name in members}
    base = prepare_build_base(request.target, request.kind, request.cuda_archs, stack, request.build_python,
                              request.max_jobs, request.prefer_toolkit_wheels, say)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        manifest = _build_into(stage, request, recipes, base, stack, say)
        out.mkdir(parents=True, exist_ok=True)
        out.rmdir()
        stage.rename(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return manifest


def _build_into(stage: Path, request: BuildRequest, recipes: dict, base: BuildBase, stack: dict[str, str],
                say: Log) -> Manifest:
    members: dict[str, MemberEntry] = {}
    skipped = {name: "left out by --only" for name in load_suite(request.suite).members
               if name not in recipes}
    for name, recipe in recipes.items():
        say(f"{name}: building")
        try:
            prepared = prepare(recipe, source=request.sources.get(name), log=say)
        except BenchError as exc:
            skipped[name] = f"its source could not be prepared: {exc}"
            say(f"{name}: left out of the bundle: {skipped[name]}")
            continue
        members[name] = _member(stage, recipe, prepared, request, base, say)
    requirements = " ".join(_quoted(bench_requirements()))
    bench_spec = InstallSpec("bench", [f"{{python}} -m pip install {requirements}"])
    bench_wheels, _ = _collect(stage, bench_spec, None, request, base, None, say)
    (stage / BENCH_REQUIREMENTS).write_text("".join(f"{r}\n" for r in bench_requirements()))
    files = [str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()]
    manifest = Manifest(
        bench_bundle=BUNDLE_VERSION, suite=request.suite, preset=request.preset, kind=request.kind,
        target=request.target, cuda_archs=list(request.cuda_archs),
        stack={k: v for k, v in stack.items() if k in ("torch", "torchvision")},
        built={"bench_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "glibc": os.confstr("CS_GNU_LIBC_VERSION").split()[-1] if hasattr(os, "confstr") else None,
               "toolkit": base.toolkit.describe() if base.toolkit else None, "build_key": base.root.name},
        members=members, skipped=skipped, bench_wheels=bench_wheels, data_format=FORMAT_VERSION,
        files=file_entries(stage, files))
    write_manifest(stage, manifest)
    return manifest


def _quoted(requirements: list[str]) -> list[str]:
    return [shell_quote(r) for r in requirements]


def _member(stage: Path, recipe, prepared, request: BuildRequest, base: BuildBase, say: Log) -> MemberEntry:
    source_wheel = None
    if prepared.path is not None and any("{source}" in step for step in recipe.install):
        source_wheel = _source_wheel(recipe, prepared, base, say)
    wheels, packages = _collect(stage, recipe, prepared.path, request, base, source_wheel, say)
    source = None
    if prepared.path is not None:
        source = f"sources/{recipe.name}.git"
        pack_source(prepared.path, prepared.commit, stage / source)
    preset = recipe.presets.get(request.preset)
    return MemberEntry(
        recipe_sha256=recipe_hash(recipe_path(recipe.name)), commit=prepared.commit,
        patches=list(prepared.patch_hashes), source=source,
        source_package=f"wheels/{source_wheel.name}" if source_wheel else None, wheels=wheels,
        install=install_signature(recipe, prepared.path), packages=packages,
        synthetic_data=dict(preset.synthetic_data) if preset and preset.synthetic_data else None)


def install_signature(recipe, source_dir: Path | None) -> list[str]:
    """The install steps as the bundle's environments run them ({python} and {source} symbolic): what a
    bench on the target must still have for the bundle to be its own."""
    return rendered_steps(recipe, None, "{python}", Path("{source}") if source_dir is not None else None)


def _source_wheel(recipe, prepared, base: BuildBase, say: Log) -> Path:
    """The wheel of the verified checkout, built (once per commit, patches, tree and target) in an
    environment holding the install steps that come before the one installing it."""
    folder = base.root / "source-wheels" / f"{recipe.name}-{prepared.commit[:12]}-{_tree_key(prepared, base)}"
    built = sorted(folder.glob("*.whl"))
    if built:
        say(f"{recipe.name}: reusing the wheel built from its checkout: {built[0].name}")
        return built[0]
    index = next(i for i, step in enumerate(recipe.install) if "{source}" in step)
    before = InstallSpec(f"{recipe.name}-build", list(recipe.install[:index]), dict(recipe.env))
    environment = ensure_environment(before, prepared.path, log=say, setting=base.setting())
    say(f"{recipe.name}: building its wheel from {prepared.path} (log: {folder}.log)")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build_wheel(environment.python, str(prepared.path), partial, _step_env(base, environment.python),
                Path(f"{folder}.log"))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return sorted(folder.glob("*.whl"))[0]


def _tree_key(prepared, base: BuildBase) -> str:
    """What determines the wheel built from a checkout besides the target: its patches, its tree, and the
    build's flags and toolkit."""
    facts = {"patches": prepared.patch_hashes, "fingerprint": manifest_summary(prepared).get("fingerprint"),
             "build": dict(sorted(base.env.items()))}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]


def _step_env(base: BuildBase, python: Path) -> dict[str, str]:
    """The environment of a build step run outside `ensure_environment` (pip wheel)."""
    env = Environment(python=python, path=python.parent.parent).activated(
        {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **base.env}


def _collect(stage: Path, recipe, source_dir: Path | None, request: BuildRequest, base: BuildBase,
             source_wheel: Path | None, say: Log) -> tuple[list[str], dict[str, str]]:
    """Build the environment, turn what it installed into wheels in stage/wheels; returns their paths and
    the environment's packages (its own and its layer's: what the member runs with)."""
    setting = base.setting(source_package=source_wheel)
    environment = ensure_environment(recipe, source_dir, log=say, setting=setting)
    own = own_distributions(environment.python)
    wheelhouse = base.wheelhouse
    log = environment.path / "bundle-wheels.log"
    env = _step_env(base, environment.python)
    if source_wheel is not None:
        env["PIP_FIND_LINKS"] = f"{base.wheelhouse} {source_wheel.parent}"
    files = {}
    source_name = normalise(source_wheel.name.split("-")[0]) if source_wheel else None
    exported = export_wheels(environment.python, [(n, v) for n, v in own if normalise(n) != source_name],
                             wheelhouse, env, log)
    files.update({name: wheelhouse / filename for name, filename in exported.items()})
    if source_wheel is not None:
        files[source_name] = source_wheel
    if request.kind == "on-top":
        files.update(_rebuilt(environment.python, own, request.target, base, env, log, say))
        files = _verified(recipe, source_dir, files, base, source_wheel, say)
    (stage / "wheels").mkdir(exist_ok=True)
    for path in files.values():
        dest = stage / "wheels" / path.name
        if not dest.exists():
            _link_or_copy(path, dest)
    say(f"{recipe.name}: {len(files)} wheels")
    return sorted(f"wheels/{path.name}" for path in files.values()), dict(environment.packages)


def _rebuilt(python: Path, own: list[tuple[str, str]], target: Target, base: BuildBase,
             env: dict[str, str], log: Path, say: Log) -> dict[str, Path]:
    """Wheels of REBUILT_FOR_TARGET rebuilt from their sdist in the stand-in, where the target provides what
    their setup.py looks for."""
    out = {}
    for name, version in own:
        if normalise(name) not in REBUILT_FOR_TARGET or not provides_opencv_under_another_name(target):
            continue
        folder = base.root / "rebuilt" / f"{normalise(name)}-{version}"
        found = sorted(folder.glob("*.whl"))
        if not found:
            say(f"rebuilding {name} {version} from its sdist for the target: "
                f"{REBUILT_FOR_TARGET[normalise(name)][1]}")
            folder.mkdir(parents=True, exist_ok=True)
            build_wheel(python, f"{name}=={version}", folder, {**env, "PIP_NO_BINARY": name}, log)
            found = sorted(folder.glob("*.whl"))
        out[normalise(name)] = found[0]
    return out


def _verified(recipe, source_dir: Path | None, files: dict[str, Path], base: BuildBase,
              source_wheel: Path | None, say: Log) -> dict[str, Path]:
    """Install the member once more from these wheels alone (as the target will); keep what it took."""
    house = base.root / "verify" / f"{recipe.name}-{os.getpid()}"
    shutil.rmtree(house, ignore_errors=True)
    house.mkdir(parents=True)
    for path in files.values():
        _link_or_copy(path, house / path.name)
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house)}
    setting = base.setting(source_package=house / source_wheel.name if source_wheel else None)
    setting = replace(setting, env={**setting.env, **offline}, pins={**setting.pins, "verify": "offline"})
    try:
        say(f"{recipe.name}: installing again from its {len(files)} wheels alone, as the target will")
        environment = ensure_environment(recipe, source_dir, log=say, setting=setting)
        taken = {normalise(name) for name, _ in own_distributions(environment.python)}
        shutil.rmtree(environment.path, ignore_errors=True)  # keyed by this build's wheels: never reused
    finally:
        shutil.rmtree(house, ignore_errors=True)
    dropped = sorted(set(files) - taken)
    if dropped:
        say(f"{recipe.name}: not needed on the target: {', '.join(dropped)}")
    return {name: path for name, path in files.items() if name in taken}


def _link_or_copy(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)
