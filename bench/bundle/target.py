"""The machine a bundle is for: its Python, platform, C library, the torch its interpreter provides (if any),
its CUDA and the architectures of its GPUs, and the packages it already has.

`describe_target(python)` reads them on the machine itself (`bench bundle --describe-target`): a probe script
run by that interpreter (the standard library, plus torch when it is installed) and NVML for the GPUs.
`target_problems(bundle, here)` says, one phrase each and naming both sides, why a bundle cannot run here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bench.errors import BenchError
from bench.files import read_bounded_text
from bench.records.environment import compute_capabilities, gpu_info

Kind = Literal["full", "on-top"]

# Run by the described interpreter: nothing of bench, so that it works in any Python >= 3.8.
PROBE_SCRIPT = r"""
import json, os, platform, site, sys, sysconfig
import importlib.metadata as md
packages = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name:
        packages.setdefault(name.lower().replace("_", "-"), dist.version)
own = sys.prefix if sys.prefix != sys.base_prefix else None
dirs = []
for entry in sys.path:
    if entry and os.path.isdir(entry) and os.path.basename(entry) in ("site-packages", "dist-packages") \
            and entry not in dirs and not (own and entry.startswith(own + os.sep)):
        dirs.append(entry)
if own:  # a virtual environment: its own site-packages too, first
    dirs.insert(0, sysconfig.get_paths()["purelib"])
facts = {"python": platform.python_version(), "abi": "cp%d%d" % sys.version_info[:2],
         "platform": sysconfig.get_platform(), "glibc": platform.libc_ver()[1] or None,
         "interpreter": sys.executable, "base_interpreter": getattr(sys, "_base_executable", sys.executable),
         "site_dirs": dirs, "packages": dict(sorted(packages.items())),
         "torch": None, "torchvision": None, "cuda": None}
if "torch" in packages:
    import torch
    facts["torch"] = torch.__version__
    facts["cuda"] = torch.version.cuda
    try:
        import torchvision
        facts["torchvision"] = torchvision.__version__
    except Exception:
        pass
print(json.dumps(facts))
"""


class Target(BaseModel):
    """What a bundle is built for (the manifest's `target`, `bench bundle --describe-target`'s output)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    python: str  # 3.12.3
    abi: str  # cp312: what compiled wheels are built for
    platform: str  # linux-x86_64 (sysconfig.get_platform())
    glibc: str | None = None  # the C library the compiled wheels may need at most
    interpreter: str  # the described interpreter
    base_interpreter: str  # what virtual environments are made from on the target
    site_dirs: list[str] = []  # where the interpreter's packages live (an on-top environment sees them)
    packages: dict[str, str] = {}  # distributions the interpreter provides: normalised name -> version
    torch: str | None = None  # the torch the interpreter provides (2.11.0+cu130), if any
    torchvision: str | None = None
    cuda: str | None = None  # the CUDA that torch was built with (13.0); None for a CPU build or no torch
    gpu_archs: list[str] = []  # compute capability of each GPU present ("9.0")
    driver: str | None = None  # the NVIDIA driver, when there is one
    described_by: str = "bench bundle --describe-target"  # or where a hand-written description comes from

    @property
    def minor_python(self) -> str:
        return ".".join(self.python.split(".")[:2])


def describe_target(python: Path) -> Target:
    """Describe this machine with `python` as the target's interpreter."""
    try:
        done = subprocess.run([str(python), "-c", PROBE_SCRIPT], capture_output=True, text=True, timeout=300,
                              env={k: v for k, v in os.environ.items()
                                   if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")})
    except OSError as exc:
        raise BenchError(f"--python {python}: cannot run it: {exc.strerror or exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise BenchError(f"--python {python}: the target probe failed: {last}")
    facts = json.loads(done.stdout)
    gpus = gpu_info()
    facts["gpu_archs"] = [f"{capability:.1f}" for capability in compute_capabilities()]
    facts["driver"] = gpus.get("driver")
    return Target.model_validate(facts)


def read_json(path: Path, limit: int, what: str, root: Path | None = None) -> object:
    """A bounded JSON file (inside `root` once links are followed, when given), or one line naming it."""
    text = read_bounded_text(path, limit, what, BenchError, root)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BenchError(f"{path}: not JSON: {exc}") from None


def validated(model: type[BaseModel], data: object, path: Path):
    """`model` validated from `data`, or one line naming the file and the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise BenchError(f"{path}: field '{field}': {err['msg']}") from None


def load_target(path: Path) -> Target:
    """A target description written by `--describe-target` (or by hand), or one line naming the file."""
    return validated(Target, read_json(path, 4 << 20, "target description"), path)


def _glibc_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def target_problems(bundle: Target, kind: Kind, cuda_archs: list[str], here: Target,
                    needs_gpu: bool, built_glibc: str | None = None) -> list[str]:
    """Why a bundle built for `bundle` cannot run on `here` (empty: it can). Each names both sides."""
    problems = []
    if bundle.abi != here.abi:
        problems.append(f"Python: the bundle is for {bundle.minor_python} ({bundle.abi}), this machine's "
                        f"{here.interpreter} is {here.python} ({here.abi})")
    if bundle.platform != here.platform:
        problems.append(f"platform: the bundle is for {bundle.platform}, this machine is {here.platform}")
    need = built_glibc or bundle.glibc
    if need and here.glibc and _glibc_tuple(here.glibc) < _glibc_tuple(need):
        problems.append(f"C library: the bundle's compiled wheels need glibc {need}, this machine has "
                        f"{here.glibc}")
    if kind == "on-top":
        for name in ("torch", "torchvision"):
            wanted, found = getattr(bundle, name), getattr(here, name)
            if wanted != found:
                problems.append(f"{name}: the bundle is built on top of {name} {wanted}, this machine's "
                                f"{here.interpreter} has {found or 'none'}")
        if bundle.cuda != here.cuda:
            problems.append(f"CUDA: the bundle is built for torch with CUDA {bundle.cuda or 'none'}, this "
                            f"machine's torch has CUDA {here.cuda or 'none'}")
    if needs_gpu:
        if not here.gpu_archs:
            problems.append("GPU: the preset runs on a GPU, this machine has none that NVML sees")
        missing = sorted({arch for arch in here.gpu_archs if not arch_covered(arch, cuda_archs)})
        if missing:
            built = ", ".join(cuda_archs) or "none (a CPU build)"
            problems.append(f"GPU architecture: the bundle's compiled parts are built for {built}, this "
                            f"machine's GPU is {', '.join(missing)}")
    return problems


def arch_covered(arch: str, built: list[str]) -> bool:
    """Can code built for `built` (TORCH_CUDA_ARCH_LIST entries: "9.0", "8.0+PTX") run on a GPU of `arch`?
    Exact machine code, or PTX of an older architecture that the driver compiles."""
    value = float(arch)
    for entry in built:
        base = float(entry.removesuffix("+PTX"))
        if base == value or (entry.endswith("+PTX") and base <= value):
            return True
    return False


def release_of(version: str | None) -> str | None:
    """2.11.0+cu130 -> 2.11.0 (what a `torch==` pin matches)."""
    return version.split("+")[0] if version else None
