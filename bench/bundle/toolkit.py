"""The CUDA toolkit that compiles a bundle's native parts (mmcv's ops, detectron2's `_C`) for a CUDA target.

torch's extension builder needs nvcc of the CUDA major version torch was built with (torch.utils.cpp_extension
refuses another major) and the headers of the CUDA libraries torch's own headers include (cuBLAS, cuSPARSE,
cuSOLVER). A system toolkit is used when a complete one of that version is there ($CUDA_HOME,
/usr/local/cuda-X.Y, /usr/local/cuda, nvcc on PATH); otherwise NVIDIA's toolkit wheels from the package index
are installed into the build environment, beside the CUDA library wheels torch already brought (one folder,
`nvidia/cu13/` for CUDA 13), and that folder becomes CUDA_HOME. (This machine's /usr/local/cuda is nvcc and
the runtime without the libraries' headers: the wheels are used.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

Log = Callable[[str], None]

# Headers torch's ATen/cuda headers include from the CUDA libraries: a toolkit without them cannot build an
# extension (ATen/cuda/CUDAContextLight.h).
LIBRARY_HEADERS = ("cublas_v2.h", "cusparse.h", "cusolverDn.h")
# NVIDIA's wheels that make a toolkit able to compile torch extensions, per CUDA major version.
TOOLKIT_WHEELS = {
    "13": ("nvidia-cuda-nvcc", "nvidia-cuda-cccl", "nvidia-cuda-crt", "nvidia-nvvm", "nvidia-cuda-runtime"),
    "12": ("nvidia-cuda-nvcc-cu12", "nvidia-cuda-cccl-cu12", "nvidia-cuda-runtime-cu12"),
}


@dataclass(frozen=True)
class Toolkit:
    home: Path  # CUDA_HOME
    version: str  # nvcc's release, e.g. 13.0
    origin: str  # "system" or "wheels"

    def environment(self) -> dict[str, str]:
        """What a build step needs to find this toolkit."""
        return {"CUDA_HOME": str(self.home), "CUDACXX": str(self.home / "bin" / "nvcc")}

    def describe(self) -> str:
        return f"nvcc {self.version} ({self.origin}: {self.home})"


def nvcc_release(nvcc: Path) -> str | None:
    """'13.0' from `nvcc --version`, or None when it does not run."""
    try:
        done = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    found = re.search(r"release (\d+\.\d+)", done.stdout)
    return found.group(1) if done.returncode == 0 and found else None


def system_toolkit(cuda: str) -> Toolkit | None:
    """A complete toolkit installed on this machine whose major version is `cuda`'s (the exact minor
    first)."""
    candidates = [os.environ.get("CUDA_HOME"), f"/usr/local/cuda-{cuda}", "/usr/local/cuda"]
    on_path = shutil.which("nvcc")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent.parent))
    found = []
    for home in filter(None, candidates):
        release = nvcc_release(Path(home) / "bin" / "nvcc")
        complete = all((Path(home) / "include" / header).is_file() for header in LIBRARY_HEADERS)
        if release and release.split(".")[0] == cuda.split(".")[0] and complete:
            found.append(Toolkit(Path(home).resolve(), release, "system"))
    found.sort(key=lambda t: t.version != cuda)
    return found[0] if found else None


def wheel_toolkit(python: Path, cuda: str, env: dict[str, str], say: Log) -> Toolkit:
    """Install NVIDIA's toolkit wheels of CUDA `cuda` into the environment of `python` and return the folder
    that holds nvcc as CUDA_HOME."""
    major = cuda.split(".")[0]
    names = TOOLKIT_WHEELS.get(major)
    if names is None:
        raise BenchError(f"no CUDA {cuda} toolkit here and no NVIDIA toolkit wheels known for CUDA {major} "
                         f"(known: {', '.join(TOOLKIT_WHEELS)}); install a CUDA {major} toolkit and set "
                         "CUDA_HOME")
    say(f"no system CUDA {cuda} toolkit: installing NVIDIA's toolkit wheels ({', '.join(names)})")
    pins = [f"{name}=={cuda}.*" for name in names]
    done = subprocess.run([str(python), "-m", "pip", "install", *pins], capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise BenchError(f"installing NVIDIA's CUDA {cuda} toolkit wheels failed: {last}")
    script = "import nvidia, os; print(os.pathsep.join(nvidia.__path__))"
    located = subprocess.run([str(python), "-c", script], capture_output=True, text=True, env=env)
    for root in filter(None, located.stdout.strip().split(os.pathsep)):
        for nvcc in sorted(Path(root).glob("*/bin/nvcc")):
            home = nvcc.parent.parent
            _complete_home(home)
            release = nvcc_release(nvcc)
            if release and release.split(".")[0] == major:
                return Toolkit(home, release, "wheels")
    raise BenchError(f"NVIDIA's CUDA {cuda} toolkit wheels were installed but no nvcc of CUDA {major} was "
                     f"found under the nvidia package of {python}")


def _complete_home(home: Path) -> None:
    """The wheels' layout is lib/ with versioned libraries only; torch's extension builder links -lcudart from
    CUDA_HOME/lib64."""
    lib, lib64 = home / "lib", home / "lib64"
    if lib.is_dir() and not lib64.exists():
        lib64.symlink_to("lib")
    for versioned in sorted(lib.glob("libcudart.so.*")):
        plain = lib / "libcudart.so"
        if not plain.exists():
            plain.symlink_to(versioned.name)
        break


def find_toolkit(python: Path, cuda: str, env: dict[str, str], say: Log, prefer_wheels: bool = False
                 ) -> Toolkit:
    """The system toolkit of `cuda`'s major version, else NVIDIA's wheels installed for `python`."""
    found = None if prefer_wheels else system_toolkit(cuda)
    if found is not None:
        say(f"CUDA toolkit: {found.describe()}")
        return found
    toolkit = wheel_toolkit(python, cuda, env, say)
    say(f"CUDA toolkit: {toolkit.describe()}")
    return toolkit
