"""The container launcher: the harness stays on the host, the trainer runs in the recipe's image under Docker
or Podman.

The engine's client (`docker run` / `podman run`, attached, without `-d`) is the local launcher's child, so
its stdout and stderr are the container's, captured byte for byte and stamped on the harness clock like any
local run. Host paths are mounted at the same paths inside the container (the checkout, the output directory,
the data read-only), so the recipe's rendered command, its log file and the record's paths mean the same on
both sides. Stopping goes through the engine (`stop --time GRACE`: SIGTERM to the container's PID 1, SIGKILL
after the grace) because signalling the client would leave the container running; the container is removed
when the run ends.

Engine quirks of a particular host are options (bench.images.engine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.images.engine import ENGINES, engine_argv, engine_call, engine_options, image_facts
from bench.launch.base import never
from bench.launch.local import LocalLauncher
from bench.vocabulary import EnvVar

# the images' `bench` user (docker/base/README.md), used when bench itself runs as root
NON_ROOT_USER = "1000:1000"


@dataclass(frozen=True)
class Mount:
    host: Path
    read_only: bool = False

    def flag(self) -> str:
        # --mount rather than -v: a path with a ':' or ',' cannot be split into a different mount
        target = str(self.host)
        for bad in (",", "\n"):
            if bad in target:
                raise BenchError(f"{target}: a path with {bad!r} cannot be mounted into a container")
        return f"type=bind,source={target},target={target}" + (",readonly" if self.read_only else "")


@dataclass(frozen=True)
class ContainerSpec:
    """Everything `engine run` needs, rendered without running anything (so it can be unit-tested)."""

    engine: str
    image: str
    name: str
    workdir: Path
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    gpus: int = 0
    user: str = NON_ROOT_USER
    shm_size: str = "8g"  # data-loader workers pass batches through /dev/shm; Docker's default is 64 MB
    network: str = "none"  # a single-node trainer needs only loopback; "host" for multi-node rendezvous
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise BenchError(f"--launcher {self.engine}: the container engines are {', '.join(ENGINES)}")


def gpu_flags(engine: str, gpus: int) -> list[str]:
    """Docker's `--gpus` (the NVIDIA container toolkit) or Podman's CDI devices, one per GPU."""
    if gpus <= 0:
        return []
    if engine == "docker":
        return ["--gpus", f'"device={",".join(str(i) for i in range(gpus))}"']
    return [arg for i in range(gpus) for arg in ("--device", f"nvidia.com/gpu={i}")]


def run_argv(spec: ContainerSpec, command: Sequence[str]) -> list[str]:
    """`engine run` for the spec. Environment values are passed by name only (`--env KEY`): the client reads
    them from its own environment, so no value (a token) appears in the argv, `ps` or the record's command."""
    argv = engine_argv(spec.engine, "run", "--name", spec.name, "--user", spec.user,
                       "--security-opt", "no-new-privileges", "--cap-drop", "ALL",
                       "--network", spec.network, "--shm-size", spec.shm_size, "--workdir", str(spec.workdir),
                       "--stop-timeout", "10")
    if spec.network == "none":
        # torchrun's rendezvous (even --standalone, one process) advertises the machine's FQDN to its
        # workers; a container without a network has its own name in no /etc/hosts, "localhost" in every
        # engine's
        argv += ["--hostname", "localhost"]
    for key, value in sorted(spec.labels.items()):
        argv += ["--label", f"{key}={value}"]
    for mount in spec.mounts:
        argv += ["--mount", mount.flag()]
    for key in sorted(spec.env):
        argv += ["--env", key]
    argv += gpu_flags(spec.engine, spec.gpus)
    argv += engine_options(EnvVar.CONTAINER_OPTIONS)
    return [*argv, spec.image, *command]


def run_user() -> str:
    """Never root inside the container: bench's own uid:gid, or the images' non-root user when bench is
    root."""
    uid, gid = os.getuid(), os.getgid()
    return NON_ROOT_USER if uid == 0 else f"{uid}:{gid}"


class ContainerLauncher(LocalLauncher):
    """A local launcher whose child is the engine's attached client; stop and cleanup go through the
    engine."""

    def __init__(self, spec: ContainerSpec, command: Sequence[str], *, run_dir: Path, env: Mapping[str, str],
                 log_file: Path | None = None, **supervision) -> None:
        super().__init__(run_argv(spec, command), cwd=run_dir, env=env, run_dir=run_dir, log_file=log_file,
                         **supervision)
        self.spec = spec
        self.removed = False

    def stop(self, grace: float = 10.0, cut_short: Callable[[], bool] = never) -> int | None:
        self.stopped_by_harness = True
        self._engine_stop(grace)
        return self.terminate(5.0, cut_short)  # the client ends with its container; anything left is killed

    def terminate(self, grace: float = 10.0, cut_short: Callable[[], bool] = never) -> int | None:
        if self.poll() is None:
            self._engine_stop(grace)
        return super().terminate(grace, cut_short)

    def _engine_stop(self, grace: float) -> None:
        try:
            engine_call(self.spec.engine, "stop", "--time", str(max(1, round(grace))), self.spec.name,
                        check=False)
        except BenchError:
            pass  # the kill below and the removal in close() still run

    def remove(self) -> None:
        """Remove the container (idempotent; a container that never started is not an error)."""
        if not self.removed:
            engine_call(self.spec.engine, "rm", "--force", self.spec.name, check=False)
            self.removed = True

    def telemetry_root(self) -> tuple[int, bool] | None:
        """The container's first process, as the host sees it (`inspect`: State.Pid; 0 until it runs): the
        trainer's tree is inside the container, not under the engine's client that bench started."""
        if self.poll() is not None:
            return None
        try:
            pid = engine_call(self.spec.engine, "inspect", "--format", "{{.State.Pid}}", self.spec.name,
                              check=False).strip()
        except BenchError:
            return None
        return (int(pid), True) if pid.isdigit() and int(pid) > 0 else None

    def cleanup_argv(self) -> list[str]:
        """What removes this run's container when bench itself cannot (it was killed)."""
        return engine_argv(self.spec.engine, "rm", "--force", self.spec.name)

    def close(self) -> None:
        try:
            self.remove()
        finally:
            super().close()


def mounts_for(workdir: Path, writable: list[Path], read_only: list[Path]) -> tuple[Mount, ...]:
    """Bind mounts at the same paths inside: the working directory and outputs writable, the data read-only.
    A path inside another mounted one is not mounted twice."""
    chosen: list[Mount] = []
    for path, ro in [(workdir, False), *((p, False) for p in writable), *((p, True) for p in read_only)]:
        path = Path(path).resolve()
        if any(path == m.host or m.host in path.parents for m in chosen):
            continue
        chosen.append(Mount(path, ro))
    return tuple(chosen)


def give_to_container_user(paths: list[Path], user: str) -> None:
    """bench running as root makes the run's directories; the container's non-root user must write there."""
    if os.getuid() != 0:
        return
    uid, gid = (int(part) for part in user.split(":"))
    for top in paths:
        for root, _dirs, files in os.walk(top):
            os.chown(root, uid, gid)
            for name in files:
                os.chown(os.path.join(root, name), uid, gid)


@dataclass(frozen=True)
class ContainerRun:
    """A run's choice of engine and image, resolved before anything starts."""

    engine: str
    image: str

    def python_argv(self) -> list[str]:
        """The image's interpreter, for the environment fingerprint (which packages the run really had)."""
        return [*engine_argv(self.engine, "run", "--rm", "--network", "none", "--user", run_user(),
                             *engine_options(EnvVar.CONTAINER_OPTIONS), self.image), "python"]

    def facts(self, gpus: int) -> dict[str, object]:
        """The image's ID and digests; with GPUs, the devices and driver `nvidia-smi` sees inside the
        container."""
        facts = image_facts(self.engine, self.image)
        if gpus > 0:
            argv = ["run", "--rm", "--network", "none", *gpu_flags(self.engine, gpus), self.image,
                    "nvidia-smi", "--query-gpu=index,name,driver_version", "--format=csv,noheader"]
            try:
                facts["gpus_inside"] = engine_call(self.engine, *argv).strip().splitlines()
            except BenchError as exc:
                facts["gpus_inside_error"] = str(exc)
        return facts

    def spec(self, run_id: str, workdir: Path, writable: list[Path], read_only: list[Path],
             env: Mapping[str, str], gpus: int) -> ContainerSpec:
        return ContainerSpec(engine=self.engine, image=self.image, name=f"bench-{run_id}", workdir=workdir,
                             mounts=mounts_for(workdir, writable, read_only), env=dict(env), gpus=gpus,
                             user=run_user(), labels={"bench.run_id": run_id})
