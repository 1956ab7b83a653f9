"""Using a bundle on the target: `open_for_suite` verifies it (every file's hash, every path inside it),
matches it to this machine and to this bench (the members' install steps, commits and patches must still be
those the bundle was built for), all before anything is installed; `MemberInstall` then gives `prepare` its
source and `ensure_environment` its setting: pip's index replaced by the bundle's wheels, and for an on-top
bundle this machine's interpreter as the layer under each environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.bundle.build import install_signature
from bench.bundle.manifest import Bundle, MemberEntry, open_bundle
from bench.bundle.target import Target, describe_target, target_problems
from bench.envs import (Environment, EnvironmentSetting, InstallSpec, base_python, ensure_environment,
                        site_packages)
from bench.errors import BenchError
from bench.recipes.loader import load_recipe
from bench.source.setup import expected_patch_hashes
from bench.vocabulary import EnvVar


@dataclass(frozen=True)
class MemberInstall:
    """What one member takes from the bundle."""

    name: str
    source: str | None  # for prepare(source=...): the bundle's repository of the pinned commit
    setting: EnvironmentSetting  # for ensure_environment
    pins: dict[str, str] | None  # torch pins an on-top bundle puts in the install steps


@dataclass
class OpenedBundle:
    bundle: Bundle
    here: Target
    _stack: Environment | None = None  # a full bundle's torch and torchvision, installed once for all

    @property
    def sha256(self) -> str:
        return self.bundle.sha256

    def pins(self) -> dict[str, str] | None:
        """The install steps' torch pins: the target's own for an on-top bundle (None: the stack's)."""
        manifest = self.bundle.manifest
        if manifest.kind != "on-top":
            return None
        return {"torch_pin": f"torch=={manifest.stack['torch']}",
                "torchvision_pin": f"torchvision=={manifest.stack['torchvision']}"}

    def install_recipe(self, recipe_path: Path, preset: str | None):
        """The recipe as the bundle's environments install it (an on-top bundle's torch pins)."""
        recipe = load_recipe(recipe_path, self.pins())
        try:
            return recipe.with_preset(preset) if preset else recipe
        except ValueError as exc:
            raise BenchError(str(exc)) from None

    def provenance(self) -> dict:
        manifest = self.bundle.manifest
        return {"sha256": self.sha256, "kind": manifest.kind, "suite": manifest.suite,
                "preset": manifest.preset, "stack": dict(manifest.stack),
                "cuda_archs": list(manifest.cuda_archs),
                "built": dict(manifest.built), "target_interpreter": self.here.interpreter}

    def offline(self) -> dict[str, str]:
        """pip's index replaced by the bundle's wheels (for every install step run from the bundle), and no
        byte-compiling at install time (Python compiles what is imported when it is first imported): writing
        the .pyc files of torch's thousands of modules doubled the stack's install here (295 s against 162 s
        for torch and torchvision, 80 s against 60 s CPU; benchmarks/bundle_setup.py). `PIP_NO_COMPILE=0`
        is how pip's environment spells --no-compile (=1 still compiles: its store_false options read
        inverted)."""
        wheels = str(self.bundle.root / "wheels")
        return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels, "PIP_NO_CACHE_DIR": "1",
                "PIP_NO_COMPILE": "0"}

    def stack(self) -> Environment:
        """A full bundle's torch and torchvision in one environment of their own, installed once from the
        bundle and seen by every member's environment after its own (as an on-top bundle's members see the
        target's site-packages): the members' steps that pin them find them installed, and the 3 GB of
        torch and its CUDA libraries are unpacked once, not once per member. The versions every member sees
        are those it would install itself."""
        if self._stack is None:
            pins = self.bundle.manifest.stack
            spec = InstallSpec("stack", [f"{{python}} -m pip install torch=={pins['torch']} "
                                         f"torchvision=={pins['torchvision']}"])
            self._stack = ensure_environment(spec, None, setting=EnvironmentSetting(
                env=self.offline(), pins={"bundle": self.sha256}))
        return self._stack

    def member(self, name: str) -> MemberInstall:
        entry = self.bundle.manifest.members[name]
        root = self.bundle.root
        if self.bundle.manifest.kind == "on-top":
            base, layer = Path(self.here.base_interpreter), tuple(self.here.site_dirs)
            bin_dirs = (str(Path(self.here.interpreter).parent),)
        else:
            stack = self.stack()
            base, layer, bin_dirs = None, (str(site_packages(stack.python)),), (str(stack.python.parent),)
        setting = EnvironmentSetting(
            base_python=base, layer=layer, bin_dirs=bin_dirs, without_pip=True, env=self.offline(),
            source_package=root / entry.source_package if entry.source_package else None,
            pins={"bundle": self.sha256})
        return MemberInstall(name, str(root / entry.source) if entry.source else None, setting, self.pins())


def describe_here(bundle: Bundle) -> Target:
    """This machine, described with the interpreter the bundle is for: the target's own for an on-top bundle
    (where $BENCH_TARGET_PYTHON names it, that one), the one bench makes environments from for a full one."""
    manifest = bundle.manifest
    if manifest.kind == "on-top":
        interpreter = Path(os.environ.get(EnvVar.TARGET_PYTHON) or manifest.target.interpreter)
        if not interpreter.exists():
            raise BenchError(f"--bundle {bundle.root}: it is built on top of {interpreter} "
                             f"(torch {manifest.target.torch}), which is not on this machine (set "
                             f"{EnvVar.TARGET_PYTHON} to the interpreter that has it)")
        return describe_target(interpreter)
    return describe_target(base_python())


def open_for_suite(root: Path, suite: str | None, members: list[str], preset: str | None, needs_gpu: bool,
                   recipes: dict) -> tuple[OpenedBundle, dict[str, str]]:
    """Verify the bundle and match it to this machine and to the members about to run (`recipes`: name ->
    (recipe file, preset)); returns it and the members it does not carry, each with the reason. `suite` None:
    one recipe run or set up from the bundle, whatever its suite."""
    bundle = open_bundle(root)
    manifest = bundle.manifest
    if suite is not None and manifest.suite != suite:
        raise BenchError(f"--bundle {bundle.root}: a bundle of suite {manifest.suite!r}, not {suite!r}")
    here = describe_here(bundle)
    problems = target_problems(manifest.target, manifest.kind, manifest.cuda_archs, here, needs_gpu,
                               manifest.built.get("glibc"))
    if problems:
        raise BenchError(f"--bundle {bundle.root} does not match this machine: {'; '.join(problems)}")
    from bench.builtin.synth import FORMAT_VERSION

    if manifest.data_format is not None and manifest.data_format != FORMAT_VERSION:
        raise BenchError(f"--bundle {bundle.root}: built for synthetic data format {manifest.data_format}, "
                         f"this bench generates format {FORMAT_VERSION}: rebuild the bundle")
    opened = OpenedBundle(bundle, here)
    missing = {}
    for name in members:
        if name not in manifest.members:
            missing[name] = manifest.skipped.get(name, "the bundle does not carry it")
            continue
        path, member_preset = recipes[name]
        check_member(opened, name, manifest.members[name],
                     opened.install_recipe(path, member_preset or manifest.preset))
    return opened, missing


def check_member(opened: OpenedBundle, name: str, entry: MemberEntry, recipe) -> None:
    """The member as this bench would install it must be the member the bundle carries."""
    where = f"--bundle {opened.bundle.root}: {name}"
    commit = recipe.source.commit if recipe.source else None
    if commit != entry.commit:
        raise BenchError(f"{where}: built from commit {entry.commit}, this bench's recipe pins {commit}: "
                         "rebuild the bundle")
    wanted = expected_patch_hashes(recipe)
    if [dict(p) for p in wanted] != [dict(p) for p in entry.patches]:
        raise BenchError(f"{where}: its patch steps changed since the bundle was built: rebuild the bundle")
    steps = install_signature(recipe, Path("{source}") if recipe.source else None)
    if steps != entry.install:
        width = max(len(steps), len(entry.install))
        pairs = zip(steps + [""] * (width - len(steps)), entry.install + [""] * (width - len(entry.install)))
        changed = next((f"step {i + 1}: {a!r}, the bundle's {b!r}"
                        for i, (a, b) in enumerate(pairs) if a != b), "")
        raise BenchError(f"{where}: this bench installs it differently from the bundle ({changed}): rebuild "
                         "the bundle")
