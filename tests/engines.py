"""Real container engines and a real Slurm cluster for the slow tier: installed from Debian's packages when
missing, started once per test session, stopped by PID at its end (shared/reference/engines.md).

Nothing here is a stand-in: `docker` talks to a real dockerd, `podman` runs real containers. The sandbox
quirks of these machines (no CAP_SYS_RESOURCE, so every container gets the current limits explicitly; crun
refusing the cgroup layout, so Podman uses runc) go through bench's own options (BENCH_ENGINE_OPTIONS,
BENCH_CONTAINER_OPTIONS), as a user on such a host would set them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

APT_PACKAGES = {"dockerd": "docker.io", "podman": "podman", "runc": "runc", "mmdebstrap": "mmdebstrap"}
_apt_updated = False
_podman_options: str | None = None


def apt_install(*binaries: str) -> None:
    """Install the Debian packages that provide the missing binaries (root, Debian's archive only)."""
    global _apt_updated
    missing = sorted({APT_PACKAGES[b] for b in binaries if shutil.which(b) is None})
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        _apt_updated = True
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def current_limits() -> list[str]:
    """`--ulimit` options holding this process's own limits: a container may not raise them where the process
    lacks CAP_SYS_RESOURCE, and asking for exactly the current ones works everywhere."""
    names = {"Max open files": "nofile", "Max processes": "nproc"}
    options = []
    for row in Path("/proc/self/limits").read_text().splitlines():
        for label, name in names.items():
            if row.startswith(label):
                soft, hard = row[len(label):].split()[:2]
                if soft != "unlimited" and hard != "unlimited":
                    options.append(f"--ulimit {name}={soft}:{hard}")
    return options


class DockerDaemon:
    """dockerd as engines.md runs it (no iptables, no bridge: containers get --network none or host)."""

    def __init__(self, log: Path) -> None:
        self.log, self.proc = log, None

    def __enter__(self) -> DockerDaemon:
        if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
            return self  # a daemon is already running: use it, leave it as it is
        self.proc = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none"],
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"dockerd did not start (see {self.log})")
            time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def podman_limits(image: str) -> list[str]:
    """The first `--ulimit` set Podman's runtime can apply here: this process's own limits where that works,
    else lower ones (in this sandbox the runtime's init may not set more than nproc 32768, nofile 20000:
    engines.md)."""
    current = {name: value for option in current_limits() for name, value in [option.split()[1].split("=")]}
    for nofile in dict.fromkeys([current.get("nofile"), "20000:20000", "16384:16384"]):
        for nproc in dict.fromkeys([current.get("nproc"), "32768:32768", "16384:16384"]):
            options = [f"--ulimit nofile={nofile}"] * bool(nofile) + [f"--ulimit nproc={nproc}"] * bool(nproc)
            argv = ["podman", "--runtime", "runc", "run", "--rm", "--network", "none",
                    *shlex.split(" ".join(options)), image, "true"]
            if subprocess.run(argv, capture_output=True).returncode == 0:
                return options
    raise RuntimeError("podman could not start a container with any --ulimit set tried")


def engine_env(engine: str, base_image: str = "localhost/bench/debian-py:bookworm") -> dict[str, str]:
    """The environment bench needs for `engine` on this host: Podman with runc (crun refuses this sandbox's
    cgroup layout) and limits its runtime can set; Docker as it is."""
    if engine != "podman":
        return {}
    global _podman_options
    if _podman_options is None:
        _podman_options = " ".join(podman_limits(base_image))
    return {"BENCH_ENGINE_OPTIONS": "--runtime runc", "BENCH_CONTAINER_OPTIONS": _podman_options}


def containers_of_bench(engine: str, env: dict[str, str]) -> list[str]:
    """Every container (running or not) that bench labelled, as `engine ps -a` lists them."""
    argv = [engine, *shlex.split(env.get("BENCH_ENGINE_OPTIONS", "")), "ps", "-a", "--filter",
            "label=bench.run_id", "--format", "{{.Names}}"]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env}, check=True)
    return [line for line in done.stdout.split() if line]
