"""`bench run --launcher docker|podman` against the real engines (slow tier): the local Debian base built from
Debian's archive, the stand-in trainer's image and the built-in trainer's image (bench and torch from a host
wheelhouse), each run to its window stop; the record, the throughput and what is left behind are checked.

The truth for the stand-in is its schedule (iteration i lasts 0.02 or 0.03 s, 2 images per iteration: 80
img/s); for the built-in trainer, the harness clock (arrival times of its lines) checks the framework's own
times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from engines import DockerDaemon, apt_install, containers_of_bench, engine_env  # noqa: E402
from bench_runs import LIVE_FIELDS, filled  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STANDIN_RECIPE = ROOT / "tests" / "recipes" / "standin-container.toml"
ENGINES = ("docker", "podman")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """Both engines installed, dockerd running (stopped by PID at the end when this module started it)."""
    apt_install("dockerd", "podman", "runc", "mmdebstrap")
    with DockerDaemon(tmp_path_factory.mktemp("dockerd") / "dockerd.log"):
        yield


def bench(*args: str, env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout, cwd=ROOT)


def checked(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def base_images(engines):
    """The local base in both engines' stores (`bench image base`, mmdebstrap once, imported twice)."""
    checked(bench("image", "base", "--engine", "docker", env=engine_env("docker")))
    podman = {"BENCH_ENGINE_OPTIONS": "--runtime runc"}  # its limits are probed on the base, once it exists
    checked(bench("image", "base", "--engine", "podman", env=podman))


def latest_record(results: Path) -> dict:
    (path,) = sorted(results.glob("runs/*/record.json"))[-1:]
    return json.loads(path.read_text())


def assert_nothing_left(engine: str, before: set[int]) -> None:
    assert containers_of_bench(engine, engine_env(engine)) == []
    leftover = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert [p.cmdline() for p in leftover if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


@pytest.mark.parametrize("engine", ENGINES)
def test_standin_runs_in_a_container_to_its_window_stop(engine, base_images, tmp_path):
    env = {**engine_env(engine), "BENCH_RESULTS": str(tmp_path / "results")}
    checked(bench("image", "build", "--recipe", str(STANDIN_RECIPE), "--engine", engine, env=env))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    checked(bench("run", "--recipe", str(STANDIN_RECIPE), "--launcher", engine, "--no-progress",
                  "--grace", "3", env=env, timeout=300))
    record = latest_record(tmp_path / "results")
    assert record["status"] == "ok", record["reason"]
    truth = 2 / 0.025  # 2 images per iteration, iterations alternate 0.02 s and 0.03 s
    assert record["framework_timing"]["throughput_img_s"] == pytest.approx(truth, rel=0.01)
    assert record["harness_clock"]["throughput_img_s"] == pytest.approx(truth, rel=0.01)
    assert record["extra"]["harness"]["stop_reason"] == "window"
    container = record["environment"]["container"]
    assert container["engine"] == engine and container["id"].removeprefix("sha256:")
    assert record["environment"]["python_executable"] == "/opt/venv/bin/python"  # the image's, not bench's
    assert record["provenance"]["container_image"] == "localhost/bench/standin:test"
    # the same builder as local and k8s runs
    assert LIVE_FIELDS <= filled(record), LIVE_FIELDS - filled(record)
    assert_nothing_left(engine, before)


def test_builtin_smoke_runs_in_its_image(base_images, tmp_path):
    """Docker only: the image holds torch's CUDA wheels (about 9 GB; PyPI's torchvision needs them, even on
    CPU), and building it a second time for Podman would cost CI another five minutes for the same code path,
    which the stand-in tests already run under Podman."""
    engine = "docker"
    env = {**engine_env(engine), "BENCH_RESULTS": str(tmp_path / "results")}
    checked(bench("image", "build", "builtin", "--engine", engine, env=env))
    image = checked(bench("image", "build", "builtin", "--engine", engine, "--dry-run", env=env)).split()[-2]
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    checked(bench("run", "builtin", "--preset", "smoke", "--launcher", engine, "--no-progress", env=env,
                  timeout=1200))
    record = latest_record(tmp_path / "results")
    assert record["status"] == "ok", record["reason"]
    framework = record["framework_timing"]["throughput_img_s"]
    assert record["harness_clock"]["throughput_img_s"] == pytest.approx(framework, rel=0.03)
    from bench.recipes import find_recipe

    pinned = dict(pin.split("==") for pin in find_recipe("builtin").stack.wheels)
    # what the image holds, not the host
    assert record["environment"]["frameworks"]["torch"] == pinned["torch"]
    assert record["provenance"]["container_image"] == image
    assert_nothing_left(engine, before)
    subprocess.run(["docker", "image", "rm", image], capture_output=True)  # 9 GB of disk back


@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_of_bench_also_removes_the_container(engine, base_images, tmp_path):
    """bench cannot react to SIGKILL: its supervisor stops the run's processes and runs the container
    launcher's cleanup (`engine rm --force NAME`), then installs the fallback record."""
    import signal
    import time

    env = {**engine_env(engine), "BENCH_RESULTS": str(tmp_path / "results")}
    checked(bench("image", "build", "--recipe", str(STANDIN_RECIPE), "--engine", engine, env=env))
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "--recipe", str(STANDIN_RECIPE),
                             "--launcher", engine, "--window", "20:1000000", "--no-progress", "--grace", "3"],
                            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not containers_of_bench(engine, env) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert containers_of_bench(engine, env), "the container never started"
    time.sleep(2)  # training, lines flowing
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 90
    while (containers_of_bench(engine, env) or not list((tmp_path / "results").glob("runs/*/record.json"))) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    assert containers_of_bench(engine, env) == []
    record = latest_record(tmp_path / "results")
    assert record["status"] == "interrupted"
    assert record["extra"]["harness"]["stop_reason"] == "bench-killed"
