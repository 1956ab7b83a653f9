"""Where a bundle's environments are built on the build machine: an interpreter of the target's Python
version, and for an on-top target a stand-in of the target's interpreter.

The stand-in is a virtual environment with the target's torch and torchvision from the package index (the same
release, which must be built with the target's CUDA) and, where the target provides OpenCV, an OpenCV, plus a
folder of metadata-only distributions for every other package the target provides, at the target's versions. A
member's environment sees both after its own (as it will see the target's site-packages), so pip installs into
it exactly what the target lacks: those are the wheels the bundle carries.

Everything built for a target lives under cache_dir()/bundle-build/<key>, the key hashing all that determines
the built wheels (target Python ABI, platform, torch, CUDA, GPU architectures, toolkit, provided packages),
with its own pip cache, so that a second build reuses what is built and never mixes builds of two targets. A
full bundle for this machine's own Python with no GPU architectures builds exactly what `bench setup` builds,
and shares pip's cache with it (the compiled mmcv is built once)."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.bundle.target import Kind, Target, release_of
from bench.bundle.toolkit import Toolkit, find_toolkit, system_toolkit
from bench.bundle.wheels import normalise
from bench.envs import (EnvironmentSetting, InstallSpec, base_python, ensure_environment, installed_packages,
                        site_packages)
from bench.errors import BenchError
from bench.paths import cache_dir

Log = Callable[[str], None]

# How the compiled parts are built for a target (not for `bench setup`'s own environments): without debug
# information. Python's own CFLAGS carry -g; the debug sections are 97 % of mmcv's extension (its CPU build
# here: 83 MB, 2.2 MB without them) and would not fit a GPU machine's carry limit. The machine code is the
# same; the flags come after Python's, so they win.
NO_DEBUG_INFO = {"CFLAGS": "-g0", "LDFLAGS": "-Wl,--strip-debug"}
# Build tools a target may provide that builds run as programs (torch's extension builder runs `ninja`): the
# stand-in installs them for real, not as metadata only.
BUILD_TOOLS = ("setuptools", "wheel", "ninja")
# The version a hand-written target description's 'unknown' package is taken to have (see _provided_folder).
ASSUMED_RECENT = "9999"
# Distributions that make `import cv2` work: a target with one of them (and not opencv-python itself) gets
# mmengine rebuilt from its sdist (bench.bundle.build.REBUILT_FOR_TARGET).
OPENCV_DISTRIBUTIONS = ("opencv-python-headless", "opencv-contrib-python-headless", "opencv-contrib-python",
                        "opencv-python")


@dataclass(frozen=True)
class BuildBase:
    root: Path  # cache_dir()/bundle-build/<key>
    python: Path  # the interpreter members' environments are made from
    layer: tuple[str, ...]  # what they see after their own (on-top: the stand-in's site and provided dists)
    bin_dirs: tuple[str, ...]  # the stand-in's scripts (ninja), on PATH after theirs
    env: dict[str, str]  # for every build step: pip's cache, the CUDA architectures, the toolkit
    toolkit: Toolkit | None
    shares_online_cache: bool

    def setting(self, source_package: Path | None = None) -> EnvironmentSetting | None:
        """How the target's environments are built here. None: exactly as `bench setup` builds them online (a
        full bundle for this machine's own Python, no CUDA build), so the online environment itself is
        used."""
        if self.shares_online_cache and source_package is None:
            return None
        # the wheels already collected are found before the index (pip's HTTP cache keeps no download here)
        env = {**self.env, "PIP_FIND_LINKS": str(self.wheelhouse)}
        return EnvironmentSetting(root=self.root / "envs", base_python=self.python, layer=self.layer,
                                  bin_dirs=self.bin_dirs, without_pip=bool(self.layer), env=env,
                                  pins={"bundle-build": self.root.name}, source_package=source_package)

    @property
    def wheelhouse(self) -> Path:
        """Every wheel collected for this target (the members share most of them)."""
        return self.root / "wheelhouse"


def find_build_python(minor: str) -> Path:
    """An interpreter of Python `minor` (3.12) on this machine: bench's base, `pythonX.Y` on PATH, pyenv's."""
    own = base_python()
    candidates = [str(own), shutil.which(f"python{minor}") or "",
                  *sorted(glob.glob(str(Path.home() / f".pyenv/versions/{minor}.*/bin/python{minor}")),
                          reverse=True)]
    for candidate in filter(None, candidates):
        done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == minor:
            return Path(candidate)
    raise BenchError(f"no Python {minor} on this machine to build the target's wheels with: pass "
                     f"--build-python PATH (an interpreter of Python {minor})")


def _python_version(python: Path) -> str:
    done = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True)
    return done.stdout.strip()


def build_key(target: Target, kind: Kind, cuda_archs: list[str], toolkit: str, python_version: str) -> str:
    facts = {"kind": kind, "abi": target.abi, "platform": target.platform, "python": python_version,
             "cuda_archs": sorted(cuda_archs), "toolkit": toolkit}
    if kind == "on-top":
        facts.update(torch=target.torch, torchvision=target.torchvision, cuda=target.cuda,
                     packages=target.packages)
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]


def provides_opencv_under_another_name(target: Target) -> bool:
    names = set(target.packages)
    return "opencv-python" not in names and any(name in names for name in OPENCV_DISTRIBUTIONS)


def prepare_build_base(target: Target, kind: Kind, cuda_archs: list[str], stack: dict[str, str],
                       build_python: Path | None, max_jobs: int, prefer_toolkit_wheels: bool,
                       say: Log) -> BuildBase:
    """The interpreter, layer and build settings of a target's environments (the stand-in built first)."""
    python = build_python or find_build_python(target.minor_python)
    version = _python_version(python)
    cuda = target.cuda if kind == "on-top" else stack.get("cuda")
    system = system_toolkit(cuda) if cuda_archs and cuda and not prefer_toolkit_wheels else None
    toolkit_key = "" if not cuda_archs else (f"system-{system.version}" if system else f"wheels-{cuda}")
    shares = (kind == "full" and not cuda_archs and str(python) == str(base_python()))
    root = cache_dir() / "bundle-build" / build_key(target, kind, cuda_archs, toolkit_key, version)
    root.mkdir(parents=True, exist_ok=True)
    env = {} if shares else {"PIP_CACHE_DIR": str(root / "pip")}
    if cuda_archs:
        env.update(TORCH_CUDA_ARCH_LIST=";".join(cuda_archs), FORCE_CUDA="1", MAX_JOBS=str(max_jobs))
    say(f"building for {target.abi} {target.platform} ({kind}) in {root}")
    layer: tuple[str, ...] = ()
    bin_dirs: tuple[str, ...] = ()
    stand_in = None
    if kind == "on-top" or (cuda_archs and system is None):
        stand_in = _stand_in(target, kind, stack, python, root, env, say)
    if kind == "on-top":
        layer = (str(site_packages(stand_in)), str(_provided_folder(target, stand_in, root / "provided")))
        bin_dirs = (str(stand_in.parent),)
    if not shares:
        env.update(NO_DEBUG_INFO)
    toolkit = None
    if cuda_archs:
        if not cuda:
            raise BenchError("--cuda-arch given, but the target's torch has no CUDA (a CPU build)")
        toolkit = system or find_toolkit(stand_in, cuda, {**os.environ, **env}, say,
                                         prefer_wheels=prefer_toolkit_wheels)
        env.update(toolkit.environment())
        say(f"CUDA toolkit for the target: {toolkit.describe()}")
    if not shares:
        # pip's cache of wheels built from sdists does not know the flags they were built with: one per flags
        flags = hashlib.sha256(json.dumps(sorted(env.items())).encode()).hexdigest()[:8]
        env["PIP_CACHE_DIR"] = str(root / f"pip-{flags}")
    return BuildBase(root=root, python=python, layer=layer, bin_dirs=bin_dirs, env=env, toolkit=toolkit,
                     shares_online_cache=shares)


def _stand_in(target: Target, kind: Kind, stack: dict[str, str], python: Path, root: Path,
              env: dict[str, str], say: Log) -> Path:
    """The stand-in of the target's interpreter (its torch, torchvision and OpenCV, really installed)."""
    torch = release_of(target.torch) if kind == "on-top" else stack["torch"]
    torchvision = release_of(target.torchvision) if kind == "on-top" else stack["torchvision"]
    if not torch or not torchvision:
        raise BenchError("an on-top target must provide torch and torchvision (the target description has "
                         f"torch {target.torch}, torchvision {target.torchvision})")
    wanted = [f"torch=={torch}", f"torchvision=={torchvision}"]
    if kind == "on-top" and provides_opencv_under_another_name(target):
        wanted.append("opencv-python-headless")
    if kind == "on-top":
        wanted += [tool for tool in BUILD_TOOLS if tool in target.packages]
    spec = InstallSpec("stand-in", [f"{{python}} -m pip install {' '.join(wanted)}"])
    setting = EnvironmentSetting(root=root, base_python=python, env=dict(env))
    environment = ensure_environment(spec, None, log=say, setting=setting)
    if kind == "on-top":
        found = _torch_cuda(environment.python)
        if found != target.cuda:
            raise BenchError(f"the package index's torch {torch} is built with CUDA {found}, the target's "
                             f"{target.torch} with CUDA {target.cuda}: the wheels would be built against "
                             "another torch")
    return environment.python


def _torch_cuda(python: Path) -> str | None:
    done = subprocess.run([str(python), "-c", "import torch; print(torch.version.cuda)"], capture_output=True,
                          text=True)
    value = done.stdout.strip()
    return None if done.returncode != 0 or value == "None" else value


def _provided_folder(target: Target, stand_in: Path, folder: Path) -> Path:
    """Metadata-only distributions for the target's packages the stand-in does not really have, so that pip
    counts them as installed. A version the description does not know ('unknown', in a description written by
    hand) is taken as ASSUMED_RECENT, which meets every lower bound: carrying each such package instead would
    not fit a GPU machine's carry limit, and a probed description (real versions) has no such guess."""
    real = {normalise(name) for name in installed_packages(stand_in)}
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, version in sorted(target.packages.items()):
        if normalise(name) in real:
            continue
        version = ASSUMED_RECENT if version in ("", "unknown") else version
        dist = folder / f"{normalise(name).replace('-', '_')}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (dist / "INSTALLER").write_text("bench-bundle-stand-in\n")
        (dist / "RECORD").write_text("")
    return folder
