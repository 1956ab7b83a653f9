"""The environment fingerprint of a run: GPUs (NVML, else nvidia-smi), CPU, memory, OS, Python, host, the
framework versions importable in the run's own interpreter, and bench's version. Nothing here fails a run:
what cannot be found is left out (or null)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

import bench
from bench.paths import source_checkout

# Distributions worth naming in a record (matched on the normalised name's prefix).
FRAMEWORK_PREFIXES = ("torch", "torchvision", "detectron2", "mmdet", "mmcv", "mmengine", "maskrcnn",
                      "tensorpack", "tensorflow", "keras", "mxnet", "horovod", "apex", "fvcore",
                      "pycocotools", "numpy", "pillow", "opencv", "nvidia-cudnn", "nvidia-cuda-runtime",
                      "nvidia-nccl", "caffe2", "cython")

_VERSIONS_SCRIPT = """
import json, sys, importlib.metadata as md
prefixes = tuple(sys.argv[1].split(","))
found = {}
for dist in md.distributions():
    name = (dist.metadata["Name"] or "").lower().replace("_", "-")
    if name.startswith(prefixes):
        found[name] = dist.version
print(json.dumps({"python": sys.version.split()[0], "executable": sys.executable, "packages": found}))
"""


def _nvml() -> Any | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no library, no driver, no device: all mean "no NVML"
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_indices(count: int) -> list[int]:
    """The device indices CUDA_VISIBLE_DEVICES leaves visible (all when unset or not numeric)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    try:
        indices = [int(part) for part in visible.split(",") if part.strip()]
    except ValueError:
        return list(range(count))
    return [i for i in indices if 0 <= i < count]


def gpu_info() -> dict[str, Any]:
    """{"source", "driver", "cuda", "devices": [{"index", "name", "memory_mb", "uuid"}]}; empty devices when
    none."""
    nvml = _nvml()
    if nvml is not None:
        try:
            devices = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                devices.append({"index": index, "name": _text(nvml.nvmlDeviceGetName(handle)),
                                "memory_mb": nvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20,
                                "uuid": _text(nvml.nvmlDeviceGetUUID(handle))})
            cuda = nvml.nvmlSystemGetCudaDriverVersion_v2()
            return {"source": "nvml", "driver": _text(nvml.nvmlSystemGetDriverVersion()),
                    "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}", "devices": devices}
        except Exception:
            pass
        finally:
            try:
                nvml.nvmlShutdown()
            except Exception:
                pass
    return _gpu_info_smi()


def _gpu_info_smi() -> dict[str, Any]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"source": None, "driver": None, "cuda": None, "devices": []}
    try:
        out = subprocess.run([smi, "--query-gpu=index,name,memory.total,uuid,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20,
                             check=True).stdout
        header = subprocess.run([smi], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return {"source": None, "driver": None, "cuda": None, "devices": []}
    devices, driver = [], None
    for row in out.strip().splitlines():
        index, name, memory, uuid, driver = (part.strip() for part in row.split(","))
        devices.append({"index": int(index), "name": name, "memory_mb": int(float(memory)), "uuid": uuid})
    cuda = None
    if "CUDA Version:" in header:
        cuda = header.split("CUDA Version:")[1].split()[0]
    return {"source": "nvidia-smi", "driver": driver, "cuda": cuda, "devices": devices}


def compute_capabilities() -> list[float]:
    """The CUDA compute capability of each visible GPU (e.g. 9.0 for Hopper); empty without NVML or
    devices."""
    nvml = _nvml()
    if nvml is None:
        return []
    try:
        found = []
        for index in visible_indices(nvml.nvmlDeviceGetCount()):
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(nvml.nvmlDeviceGetHandleByIndex(index))
            found.append(major + minor / 10)
        return found
    except Exception:
        return []
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def gpu_count() -> int:
    """GPUs this machine offers a run (after CUDA_VISIBLE_DEVICES); 0 without NVML/nvidia-smi or devices."""
    return len(visible_indices(len(gpu_info()["devices"])))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for row in handle:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def interpreter_versions(python: Path | str | list[str] | None) -> dict[str, Any]:
    """Ask the run's interpreter (not bench's) which frameworks it can import, via importlib.metadata.
    `python` may be an argv prefix (a container image's interpreter: `docker run --rm IMAGE python`)."""
    argv = list(python) if isinstance(python, list) else [str(python or sys.executable)]
    python = argv[-1] if isinstance(python, list) else argv[0]
    try:
        out = subprocess.run([*argv, "-c", _VERSIONS_SCRIPT, ",".join(FRAMEWORK_PREFIXES)],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return json.loads(out)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        return {"python": None, "executable": python, "packages": {}, "error": str(exc)[:200]}


def bench_commit() -> str | None:
    """The full SHA of bench's own checkout (None for an installed copy), '+dirty' when it has local
    changes."""
    checkout = source_checkout()
    if checkout is None or not (checkout / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def capture(python: Path | str | list[str] | None = None, gpus_used: int | None = None) -> dict[str, Any]:
    gpus = gpu_info()
    memory = psutil.virtual_memory()
    run_python = interpreter_versions(python)
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "cpu": {"model": cpu_model(), "logical": psutil.cpu_count(logical=True),
                "physical": psutil.cpu_count(logical=False)},
        "memory_gb": round(memory.total / 2**30, 1),
        "gpus": {**gpus, "visible": visible_indices(len(gpus["devices"])), "used": gpus_used},
        "python": run_python.get("python"),
        "python_executable": run_python.get("executable"),
        "frameworks": run_python.get("packages", {}),
        "bench_python": sys.version.split()[0],
        "bench_version": bench.__version__,
        "bench_commit": bench_commit(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def gpu_model(environment: dict[str, Any], gpus_used: int) -> str | None:
    """The model of the GPUs a run used (None on CPU); mixed models are joined with ' + '."""
    if gpus_used <= 0:
        return None
    devices = environment.get("gpus", {}).get("devices", [])
    visible = environment.get("gpus", {}).get("visible") or [d["index"] for d in devices]
    names = [d["name"] for d in devices if d["index"] in visible[:gpus_used]]
    return " + ".join(sorted(set(names))) or None
