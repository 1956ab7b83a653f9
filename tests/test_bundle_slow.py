"""The slow tier's offline proof (issue 24): the current suite's smoke bundle for this machine (a full
bundle: torch and torchvision included), built from the package index, then `bench run --suite current
--preset smoke --repeat 1 --bundle DIR` inside a network namespace of its own (`unshare -n`, as root) with
only its loopback up, and an empty BENCH_CACHE: an ok record for every member the bundle carries, each holding
the bundle's manifest hash. Loopback is up because the smoke presets start their trainers with torchrun, whose
rendezvous (even for one process) is a TCP store on 127.0.0.1, as on any compute node without a route out;
nothing leaves the machine (the namespace has no other interface).

detectron2-current is bundled when BENCH_DETECTRON2_SOURCE names a clone or mirror with its pinned commit (as
in test_frameworks_slow.py); without it the bundle leaves it out and the suite reports and skips it, as it
does torchvision (pytorch/vision is not reachable here). The bundle is built with the run's BENCH_CACHE, so
the environments and pip's cache (the compiled mmcv) are shared with test_frameworks_slow.py's runs.

Also here: NVIDIA's CUDA toolkit wheels from the package index, used when a machine has no CUDA toolkit."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 90 * 60  # a first build compiles mmcv (20-35 minutes on 2 cores) and detectron2
RUN_TIMEOUT = 40 * 60


# Run inside the new namespace: bring its loopback up (SIOCGIFFLAGS/SIOCSIFFLAGS with IFF_UP, as
# `ip link set lo up` does, without needing iproute2), then become the command given after it.
LOOPBACK_UP_THEN_EXEC = """
import fcntl, os, socket, struct, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))
os.execv(sys.argv[1], sys.argv[1:])
"""


def offline(args: list[str]) -> list[str]:
    """`args` in a network namespace of its own with only its loopback up."""
    return ["unshare", "-n", sys.executable, "-c", LOOPBACK_UP_THEN_EXEC, *args]


def _no_network_namespace() -> str | None:
    """Why `unshare -n` cannot run here (None: it can)."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    done = subprocess.run(offline(["/bin/true"]), capture_output=True, text=True)
    return None if done.returncode == 0 else f"unshare -n fails: {done.stderr.strip()}"


def test_the_namespace_reaches_its_loopback_and_nothing_else():
    reason = _no_network_namespace()
    if reason:
        pytest.skip(reason)
    probe = ("import socket\n"
             "server = socket.create_server(('127.0.0.1', 0))\n"
             "socket.create_connection(server.getsockname())\n"
             "try:\n    socket.create_connection(('1.1.1.1', 443), timeout=3)\nexcept OSError:\n"
             "    print('loopback only')\n")
    done = subprocess.run(offline([sys.executable, "-c", probe]), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loopback only"


@pytest.fixture(scope="module")
def smoke_bundle(tmp_path_factory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("bundle") / "current-smoke"
    args = [sys.executable, "-m", "bench.cli", "bundle", "--suite", "current", "--preset", "smoke", "--out",
            str(out)]
    if os.environ.get("BENCH_DETECTRON2_SOURCE"):
        args += ["--source", f"detectron2-current={os.environ['BENCH_DETECTRON2_SOURCE']}"]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    print(done.stdout)
    print(done.stderr[-8000:], file=sys.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, time.monotonic() - started


def test_the_suite_runs_from_its_bundle_with_no_network(smoke_bundle, tmp_path):
    reason = _no_network_namespace()
    if reason:
        pytest.skip(reason)
    bundle, build_s = smoke_bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    carried = set(manifest["members"])
    assert {"mmdetection-current", "builtin"} <= carried
    assert "torchvision" in manifest["skipped"]
    if os.environ.get("BENCH_DETECTRON2_SOURCE"):
        assert "detectron2-current" in carried
    cache, results = tmp_path / "cache", tmp_path / "results"
    env = {**os.environ, "BENCH_CACHE": str(cache), "BENCH_RESULTS": str(results)}
    started = time.monotonic()
    done = subprocess.run(offline([sys.executable, "-m", "bench.cli", "run", "--suite", "current", "--preset",
                                   "smoke", "--repeat", "1", "--bundle", str(bundle), "--no-progress",
                                   "--timeout", "1800"]), capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT)
    print(done.stdout)
    print(done.stderr[-8000:], file=sys.stderr)
    run_s = time.monotonic() - started
    print(f"bundle built in {build_s:.0f} s; offline suite run (setup included) {run_s:.0f} s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "torchvision: not in the bundle" in done.stdout + done.stderr
    records = [json.loads(p.read_text()) for p in sorted(results.glob("runs/*/record.json"))]
    digest = hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    assert {r["implementation"] for r in records} == carried
    for record in records:
        assert record["status"] == "ok", (record["implementation"], record.get("reason"))
        assert record["provenance"]["bundle"] == digest
        assert record["extra"]["bundle"]["kind"] == "full"
        assert record["extra"]["suite"]["preset"] == "smoke"
    # every environment came from the bundle alone
    for log in cache.glob("envs/*/install.log"):
        assert "Downloading" not in log.read_text(), log


def test_nvidia_toolkit_wheels_compile_for_the_gpu(tmp_path):
    """Where no CUDA toolkit is installed, NVIDIA's wheels from the package index are one: nvcc from them
    compiles a kernel for sm_90 (no GPU is needed to compile)."""
    from bench.bundle.toolkit import find_toolkit

    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    toolkit = find_toolkit(python, "13.0", dict(os.environ), print, prefer_wheels=True)
    assert toolkit.origin == "wheels" and toolkit.version.startswith("13.")
    assert str(tmp_path) in str(toolkit.home)
    kernel = tmp_path / "k.cu"
    kernel.write_text("__global__ void add(float *x) { x[threadIdx.x] += 1.0f; }\n")
    done = subprocess.run([str(toolkit.home / "bin" / "nvcc"), "-arch=sm_90", "-c", str(kernel), "-o",
                           str(tmp_path / "k.o")], capture_output=True, text=True,
                          env={**os.environ, **toolkit.environment()})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "k.o").stat().st_size > 0
